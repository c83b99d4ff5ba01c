package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/ledger"
	"github.com/gridsync/gridsync/syncproto"
)

// The columns of a site register. Only the starred ones are required; the
// header row names them, in any order.
var importColumns = []struct {
	Key, Header string
	Required    bool
	Aliases     []string
}{
	{"id", "场所编号", false, []string{"编号", "id"}},
	{"name", "场所名称", true, []string{"名称", "name"}},
	{"kind", "场所类别", true, []string{"类别", "kind"}},
	{"grid", "网格", true, []string{"网格编号", "所属网格", "grid"}},
	{"address", "地址", false, []string{"address"}},
	{"risk_level", "风险等级", false, []string{"风险", "risk_level"}},
	{"responsible", "负责人", false, []string{"responsible"}},
	{"phone", "联系电话", false, []string{"电话", "phone"}},
	{"lat", "纬度", false, []string{"lat"}},
	{"lng", "经度", false, []string{"lng"}},
}

// importRow is one validated line of an upload.
type importRow struct {
	Line   int // the row number in the file (header = 1)
	ID     string
	Name   string
	Kind   string
	Grid   *server.Area
	Set    map[string]any
	Errors []string
	// Verdict after import.
	Status, Reason string
}

// pendingImport is a validated file waiting for the user's confirmation.
type pendingImport struct {
	session string
	rows    []*importRow
	expires time.Time
}

// pendingImports keeps validated uploads in memory for a few minutes, so
// confirming imports exactly what the report showed without a re-upload.
type pendingImports struct {
	mu sync.Mutex
	m  map[string]*pendingImport
}

func newPendingImports() *pendingImports { return &pendingImports{m: map[string]*pendingImport{}} }

const pendingImportTTL = 30 * time.Minute

func (p *pendingImports) put(now time.Time, pi *pendingImport) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.m {
		if now.After(v.expires) {
			delete(p.m, k)
		}
	}
	token := randomHex(16)
	pi.expires = now.Add(pendingImportTTL)
	p.m[token] = pi
	return token
}

func (p *pendingImports) take(now time.Time, token, session string) *pendingImport {
	p.mu.Lock()
	defer p.mu.Unlock()
	pi, ok := p.m[token]
	if !ok || pi.session != session || now.After(pi.expires) {
		return nil
	}
	delete(p.m, token)
	return pi
}

func (h *Handler) requireManage(r *request) error {
	if !canManage(r.p().Role) {
		return server.Errorf(server.EFORBIDDEN, "批量导入场所由应急消防管理站和县应急管理局使用")
	}
	return nil
}

// importPage: GET /import/sites, the upload form and a template.
func (h *Handler) importPage(w http.ResponseWriter, r *request) error {
	if err := h.requireManage(r); err != nil {
		return err
	}
	if f := r.URL.Query().Get("template"); f == "xlsx" || f == "csv" {
		return h.importTemplate(w, r, ledger.Format(f))
	}
	h.render(w, r.Request, r.sess, http.StatusOK, "import", "导入场所", map[string]any{"Columns": importColumns, "Kinds": kindOptions(), "Risks": riskOptions()})
	return nil
}

func (h *Handler) importTemplate(w http.ResponseWriter, r *request, f ledger.Format) error {
	ai, err := h.areaIndex(r.Context(), r.p())
	if err != nil {
		return err
	}
	t := &ledger.Table{Title: "场所导入模板"}
	for _, c := range importColumns {
		hdr := c.Header
		if c.Required {
			hdr += "*"
		}
		t.Header = append(t.Header, hdr)
		t.Widths = append(t.Widths, 16)
	}
	grid := "网格编号"
	if len(ai.grids) > 0 {
		grid = ai.grids[0].ID
	}
	t.Rows = [][]string{{"", "示例：小餐饮·张记面馆", "九小场所", grid, "某村某路 1 号", "较大", "张三", "13800000000", "28.0012", "120.6543"}}
	w.Header().Set("Content-Type", f.ContentType())
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="sites-template.%s"`, f))
	return ledger.Write(w, f, t)
}

// importUpload: POST /import/sites (multipart "file"). It validates every
// row; a clean file is imported at once, a file with errors waits for the
// user to confirm importing only the valid rows.
func (h *Handler) importUpload(w http.ResponseWriter, r *request) error {
	if err := h.requireManage(r); err != nil {
		return err
	}
	file, fh, err := r.FormFile("file")
	if err != nil {
		return h.importReport(w, r, nil, "", "请选择要导入的 .xlsx 或 .csv 文件。")
	}
	defer file.Close()
	table, err := ledger.Read(file, fh.Filename)
	if errors.Is(err, ledger.ErrFormat) {
		return h.importReport(w, r, nil, "", strings.TrimPrefix(err.Error(), ledger.ErrFormat.Error()+": "))
	} else if err != nil {
		return err
	}
	rows, problem, err := h.validateSites(r, table)
	if err != nil {
		return err
	}
	if problem != "" {
		return h.importReport(w, r, nil, "", problem)
	}
	bad := 0
	for _, row := range rows {
		if len(row.Errors) > 0 {
			bad++
		}
	}
	if bad == 0 && len(rows) > 0 {
		if err := h.importRows(r, rows); err != nil {
			return err
		}
		return h.importReport(w, r, rows, "", "")
	}
	token := h.imports.put(h.now(), &pendingImport{session: r.sessionID, rows: rows})
	return h.importReport(w, r, rows, token, "")
}

// importConfirm: POST /import/sites/confirm, import the valid rows of a
// file that had errors.
func (h *Handler) importConfirm(w http.ResponseWriter, r *request) error {
	if err := h.requireManage(r); err != nil {
		return err
	}
	pi := h.imports.take(h.now(), r.PostFormValue("token"), r.sessionID)
	if pi == nil {
		return h.importReport(w, r, nil, "", "导入已过期，请重新上传文件。")
	}
	var valid []*importRow
	for _, row := range pi.rows {
		if len(row.Errors) == 0 {
			valid = append(valid, row)
		}
	}
	if err := h.importRows(r, valid); err != nil {
		return err
	}
	return h.importReport(w, r, pi.rows, "", "")
}

func (h *Handler) importReport(w http.ResponseWriter, r *request, rows []*importRow, token, problem string) error {
	var ok, bad, done, refused int
	for _, row := range rows {
		switch {
		case len(row.Errors) > 0:
			bad++
		default:
			ok++
		}
		switch row.Status {
		case syncproto.StatusAccepted:
			done++
		case syncproto.StatusRejected:
			refused++
		}
	}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusBadRequest
	}
	h.render(w, r.Request, r.sess, status, "import", "导入场所", map[string]any{"Columns": importColumns, "Kinds": kindOptions(), "Risks": riskOptions(),
		"Rows": rows, "Token": token, "Problem": problem, "Valid": ok, "Invalid": bad, "Imported": done, "Refused": refused, "Report": rows != nil})
	return nil
}

// validateSites checks every row of an uploaded register against the
// caller's grids and the sites that exist. A problem with the file as a
// whole (no header, a missing required column) is returned as text.
func (h *Handler) validateSites(r *request, table [][]string) ([]*importRow, string, error) {
	ai, err := h.areaIndex(r.Context(), r.p())
	if err != nil {
		return nil, "", err
	}
	exists := func(id string) (bool, error) {
		_, err := h.svc.Dashboard.Doc(r.Context(), "sites", id)
		if server.ErrorCode(err) == server.ENOTFOUND {
			return false, nil
		}
		return err == nil, err
	}
	return parseSites(table, ai.grids, exists)
}

// parseSites turns the rows of a site register (ledger.Read) into import
// rows, each valid or with its errors in words: grids are those the caller
// may import into, exists tells whether a site id is taken. It trusts
// nothing in the table; FuzzImportSites holds it to that.
func parseSites(table [][]string, grids []*server.Area, exists func(id string) (bool, error)) ([]*importRow, string, error) {
	if len(table) == 0 {
		return nil, "文件是空的。", nil
	}
	col := map[string]int{}
	for i, cell := range table[0] {
		name := strings.TrimSuffix(strings.TrimSpace(cell), "*")
		for _, c := range importColumns {
			if name == c.Header || containsFold(c.Aliases, name) {
				if _, dup := col[c.Key]; dup {
					return nil, fmt.Sprintf("表头中“%s”出现了两次。", c.Header), nil
				}
				col[c.Key] = i
			}
		}
	}
	for _, c := range importColumns {
		if _, ok := col[c.Key]; c.Required && !ok {
			return nil, fmt.Sprintf("第 1 行（表头）缺少必填列“%s”。请使用导入模板。", c.Header), nil
		}
	}
	gridByID := map[string]*server.Area{}
	gridByName := map[string][]*server.Area{}
	for _, g := range grids {
		gridByID[g.ID] = g
		gridByName[g.Name] = append(gridByName[g.Name], g)
	}
	kinds, risks := reverse(kindLabels), reverse(riskLabels)
	seen := map[string]int{}
	var rows []*importRow
	for i, rec := range table[1:] {
		if len(rec) == 0 {
			continue
		}
		get := func(key string) string {
			if j, ok := col[key]; ok && j < len(rec) {
				return strings.TrimPrefix(rec[j], "'") // undo the export's formula guard
			}
			return ""
		}
		row := &importRow{Line: i + 2, ID: get("id"), Name: get("name"), Set: map[string]any{}}
		fail := func(format string, args ...any) { row.Errors = append(row.Errors, fmt.Sprintf(format, args...)) }
		switch {
		case row.Name == "":
			fail("场所名称必填")
		case utf8.RuneCountInString(row.Name) > syncproto.MaxStringLen:
			fail("场所名称超过 %d 字", syncproto.MaxStringLen)
		default:
			row.Set["name"] = row.Name
		}
		if k := get("kind"); k == "" {
			fail("场所类别必填")
		} else if code, ok := lookup(kinds, k); !ok {
			fail("场所类别“%s”无效，应为：家庭户、居住出租房、合用场所、自建房、九小场所、人员密集场所、厂房库房、高层建筑、独居老人", k)
		} else {
			row.Kind, row.Set["kind"] = code, code
		}
		if g := get("grid"); g == "" {
			fail("网格必填")
		} else if a, ok := gridByID[g]; ok {
			row.Grid = a
		} else if gs := gridByName[g]; len(gs) == 1 {
			row.Grid = gs[0]
		} else if len(gs) > 1 {
			fail("网格名称“%s”不唯一，请填写网格编号", g)
		} else {
			fail("网格“%s”不在您的辖区内", g)
		}
		if row.Grid != nil {
			row.Set["grid"] = row.Grid.ID
		}
		if risk := get("risk_level"); risk != "" {
			if code, ok := lookup(risks, strings.TrimSuffix(risk, "风险")); ok {
				row.Set["risk_level"] = code
			} else {
				fail("风险等级“%s”无效，应为：重大、较大、一般、低", risk)
			}
		}
		for _, f := range []struct {
			key, label string
			max        int
		}{{"address", "地址", syncproto.MaxStringLen}, {"responsible", "负责人", 50}, {"phone", "联系电话", 32}} {
			if v := get(f.key); v != "" {
				if utf8.RuneCountInString(v) > f.max {
					fail("%s超过 %d 字", f.label, f.max)
				} else {
					row.Set[f.key] = v
				}
			}
		}
		lat, lng := get("lat"), get("lng")
		if lat != "" || lng != "" {
			la, err1 := strconv.ParseFloat(lat, 64)
			lo, err2 := strconv.ParseFloat(lng, 64)
			switch {
			case err1 != nil || err2 != nil:
				fail("经纬度应为数字，且纬度、经度同时填写")
			case !(la >= -90 && la <= 90 && lo >= -180 && lo <= 180): // NaN fails too
				fail("经纬度超出范围")
			default:
				row.Set["location"] = map[string]float64{"lat": la, "lng": lo}
			}
		}
		if row.ID != "" {
			if !syncproto.ValidDocID(row.ID) {
				fail("场所编号只能包含字母、数字和 . _ -，最长 %d 位", syncproto.MaxIDLen)
			} else if first, dup := seen[row.ID]; dup {
				fail("场所编号与第 %d 行重复", first)
			} else if taken, err := exists(row.ID); err != nil {
				return nil, "", err
			} else if taken {
				fail("场所编号 %s 已存在", row.ID)
			}
			seen[row.ID] = row.Line
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, "文件中只有表头，没有数据行。", nil
	}
	return rows, "", nil
}

// importRows creates the sites as operations through the sync pipeline
// and records each row's verdict.
func (h *Handler) importRows(r *request, rows []*importRow) error {
	drafts := make([]draft, 0, len(rows))
	for _, row := range rows {
		if row.ID == "" {
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			row.ID = id.String()
		}
		drafts = append(drafts, draft{Collection: "sites", Doc: row.ID, Set: row.Set})
	}
	if len(drafts) == 0 {
		return nil
	}
	verdicts, err := h.writer.push(r.Context(), drafts)
	if err != nil {
		return err
	}
	for i, v := range verdicts {
		rows[i].Status = v.Status
		if v.Status != syncproto.StatusAccepted {
			rows[i].Reason = codeLabel(v.Code) + "：" + v.Reason
		}
	}
	return nil
}

func reverse(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[v] = k
		out[k] = k
	}
	return out
}

func lookup(m map[string]string, v string) (string, bool) {
	code, ok := m[strings.TrimSpace(v)]
	return code, ok
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
