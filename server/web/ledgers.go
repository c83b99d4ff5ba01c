package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/ledger"
	"github.com/gridsync/gridsync/syncproto"
)

// The six lists (六张清单) the township keeps as its paper trail: each
// is a table over the hazards and inspections of an area, for a period.
var ledgerKinds = []struct{ Key, Name, About string }{
	{"inspections", "检查清单", "入户检查记录，按检查时间"},
	{"hazards", "隐患清单", "发现的隐患，按上报时间"},
	{"assignments", "交办清单", "派单督办的隐患，按派单时间"},
	{"rectifications", "整改清单", "提交整改的隐患，按提交时间"},
	{"supervision", "督办清单", "逾期、挂牌督办或抄告的隐患，按上报时间"},
	{"feedback", "反馈清单", "复核与销号结果，按复核时间"},
}

func ledgerName(key string) (string, bool) {
	for _, k := range ledgerKinds {
		if k.Key == key {
			return k.Name, true
		}
	}
	return "", false
}

// ledgerQuery is a ledger's period and area, from the query string.
type ledgerQuery struct {
	Kind, Village, Grid string
	From, To            time.Time // [From, To) in China time
	FromText, ToText    string
}

func (h *Handler) readLedgerQuery(q url.Values) (ledgerQuery, error) {
	lq := ledgerQuery{Kind: q.Get("kind"), Village: q.Get("village"), Grid: q.Get("grid"), FromText: q.Get("from"), ToText: q.Get("to")}
	now := h.now().In(cst)
	if lq.FromText == "" {
		lq.FromText = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, cst).Format("2006-01-02")
	}
	if lq.ToText == "" {
		lq.ToText = now.Format("2006-01-02")
	}
	var err error
	if lq.From, err = time.ParseInLocation("2006-01-02", lq.FromText, cst); err != nil {
		return lq, server.Errorf(server.EINVALID, "开始日期格式应为 年-月-日")
	}
	to, err := time.ParseInLocation("2006-01-02", lq.ToText, cst)
	if err != nil {
		return lq, server.Errorf(server.EINVALID, "结束日期格式应为 年-月-日")
	}
	lq.To = to.AddDate(0, 0, 1)
	if !lq.To.After(lq.From) {
		return lq, server.Errorf(server.EINVALID, "结束日期不能早于开始日期")
	}
	return lq, nil
}

func (lq ledgerQuery) in(t time.Time) bool {
	return !t.IsZero() && !t.Before(lq.From) && t.Before(lq.To)
}

func (lq ledgerQuery) values() url.Values {
	v := url.Values{"from": {lq.FromText}, "to": {lq.ToText}}
	if lq.Village != "" {
		v.Set("village", lq.Village)
	}
	if lq.Grid != "" {
		v.Set("grid", lq.Grid)
	}
	return v
}

// hazardHistory is what a hazard's operations say about its loop: the
// last time (and by whom) each step was taken.
type hazardHistory struct {
	at          map[string]time.Time
	by          map[string]string
	rejections  int
	escalatedAt time.Time
	referredAt  time.Time
}

func (h *Handler) histories(r *request) (map[string]*hazardHistory, error) {
	ops, err := h.svc.Dashboard.Timeline(r.Context(), server.TimelineQuery{Collection: "hazards"})
	if err != nil {
		return nil, err
	}
	out := map[string]*hazardHistory{}
	for _, e := range ops {
		hh := out[e.Op.Doc]
		if hh == nil {
			hh = &hazardHistory{at: map[string]time.Time{}, by: map[string]string{}}
			out[e.Op.Doc] = hh
		}
		if st, ok := e.Op.Flow["status"]; ok {
			hh.at[st.To], hh.by[st.To] = e.ReceivedAt, e.Name
			if st.To == syncproto.StageRectifying && st.Round > 1 {
				hh.rejections++
			}
		}
		if e.Op.Set["escalated"] != nil {
			hh.escalatedAt = e.ReceivedAt
		}
		if e.Op.Set["referred_to"] != nil {
			hh.referredAt = e.ReceivedAt
		}
	}
	return out, nil
}

// inspectionTime is when a check happened, by the device's clock:
// finished_at, else checked_at (apps before started_at/finished_at), else
// started_at; never later than the server last received an op on it (a
// phone whose clock runs ahead cannot date a check in the future), and
// the server's arrival time when the inspection has none of them.
func inspectionTime(d *server.DocRow) time.Time {
	for _, f := range []string{"finished_at", "checked_at", "started_at"} {
		if t := timeField(d.State, f); !t.IsZero() {
			if t.After(d.UpdatedAt) {
				return d.UpdatedAt
			}
			return t
		}
	}
	return d.CreatedAt
}

// buildLedger computes one of the six lists.
func (h *Handler) buildLedger(r *request, lq ledgerQuery) (*ledger.Table, error) {
	name, ok := ledgerName(lq.Kind)
	if !ok {
		return nil, server.Errorf(server.ENOTFOUND, "没有这种清单")
	}
	ctx, p := r.Context(), r.p()
	hs, err := h.loadHazards(ctx, p, server.DocQuery{})
	if err != nil {
		return nil, err
	}
	scope := hs.areas.scope(lq.Village, lq.Grid)
	inScope := func(path string) bool { return scope == "" || strings.HasPrefix(path, scope) }
	t := &ledger.Table{Title: name}
	names, err := h.userNames(ctx)
	if err != nil {
		return nil, err
	}
	person := func(username string) string {
		if n, ok := names[username]; ok {
			return n + "（" + username + "）"
		}
		return username
	}
	yesNo := func(b bool) string {
		if b {
			return "是"
		}
		return "否"
	}
	if lq.Kind == "inspections" {
		t.Header = []string{"序号", "检查时间", "村(社区)", "网格", "场所名称", "场所类别", "检查结果", "检查人", "备注", "照片数", "上报人", "记录编号"}
		t.Widths = []float64{6, 17, 12, 16, 28, 12, 10, 16, 30, 7, 16, 38}
		docs, err := h.svc.Dashboard.Docs(ctx, server.DocQuery{Collection: "inspections"})
		if err != nil {
			return nil, err
		}
		type timed struct {
			d  *server.DocRow
			at time.Time
		}
		var kept []timed
		for _, d := range docs {
			if at := inspectionTime(d); inScope(d.AreaPath) && lq.in(at) {
				kept = append(kept, timed{d, at})
			}
		}
		slices.SortStableFunc(kept, func(a, b timed) int { return a.at.Compare(b.at) })
		for _, k := range kept {
			d, at := k.d, k.at
			site := hs.sites[strField(d.State, "site")]
			if site == nil {
				site = &siteView{Name: strField(d.State, "site")}
			}
			var inspectors []string
			for _, u := range d.State.Elements("inspectors") {
				inspectors = append(inspectors, person(u))
			}
			t.Rows = append(t.Rows, []string{strconv.Itoa(len(t.Rows) + 1), fmtTime(at), hs.areas.at(d.AreaPath, server.LevelVillage).Name,
				hs.areas.at(d.AreaPath, server.LevelGrid).Name, site.Name, kindLabel(site.Kind), label(resultLabels, strField(d.State, "result")),
				strings.Join(inspectors, "、"), strField(d.State, "note"), strconv.Itoa(len(d.State.Elements("photos"))), person(d.CreatedBy), d.State.ID})
		}
		return t, nil
	}
	hist, err := h.histories(r)
	if err != nil {
		return nil, err
	}
	list := slices.Clone(hs.hazards)
	sortHazards(list, "reported")
	add := func(cells ...string) {
		t.Rows = append(t.Rows, append([]string{strconv.Itoa(len(t.Rows) + 1)}, cells...))
	}
	for _, v := range list {
		if !inScope(v.Row.AreaPath) {
			continue
		}
		hh := hist[v.ID]
		if hh == nil {
			hh = &hazardHistory{at: map[string]time.Time{}, by: map[string]string{}}
		}
		place := []string{v.Village.Name, v.Grid.Name, v.Site.Name}
		switch lq.Kind {
		case "hazards":
			if lq.in(v.ReportedAt) {
				add(append([]string{fmtTime(v.ReportedAt)}, append(place, kindLabel(v.Site.Kind), v.Title, label(severityLabels, v.Severity),
					stageLabel(v.Stage), person(v.ReportedBy), strconv.Itoa(v.Photos), strconv.Itoa(v.Evidence), v.ID)...)...)
			}
		case "assignments":
			if at := hh.at[syncproto.StageDispatched]; lq.in(at) {
				add(append([]string{fmtTime(at)}, append(place, v.Title, label(severityLabels, v.Severity), person(v.Assignee),
					fmtDate(v.Deadline), hh.by[syncproto.StageDispatched], stageLabel(v.Stage), v.ID)...)...)
			}
		case "rectifications":
			if at := hh.at[syncproto.StageSubmitted]; lq.in(at) {
				onTime := v.Deadline.IsZero() || !at.After(v.Deadline)
				result := "待复核"
				if v.Rank >= slices.Index(hazardStages, syncproto.StageVerified) {
					result = "复核通过"
				} else if hh.rejections > 0 {
					result = fmt.Sprintf("复核不通过 %d 次", hh.rejections)
				}
				add(append([]string{fmtTime(at)}, append(place, v.Title, person(v.Assignee), fmtDate(v.Deadline), yesNo(onTime),
					hh.by[syncproto.StageSubmitted], strconv.Itoa(v.Evidence), result, v.ID)...)...)
			}
		case "supervision":
			if (v.Overdue || v.Escalated || v.Referred()) && lq.in(v.ReportedAt) {
				days := ""
				if v.Overdue {
					days = strconv.Itoa(v.OverdueDays)
				}
				referred := "否"
				if v.Referred() {
					referred = v.ReferredTo
				}
				add(append(place, v.Title, label(severityLabels, v.Severity), fmtDate(v.Deadline), days, yesNo(v.Escalated),
					fmtTime(hh.escalatedAt), referred, stageLabel(v.Stage), person(v.Assignee), v.ID)...)
			}
		case "feedback":
			at := hh.at[syncproto.StageVerified]
			if hh.rejections > 0 && at.IsZero() {
				at = hh.at[syncproto.StageRectifying]
			}
			if lq.in(at) || lq.in(hh.at[syncproto.StageClosed]) {
				result := "复核通过"
				if v.Rank < slices.Index(hazardStages, syncproto.StageVerified) {
					result = "复核不通过，整改中"
				}
				add(append([]string{fmtTime(hh.at[syncproto.StageVerified]), fmtTime(hh.at[syncproto.StageClosed])},
					append(place, v.Title, hh.by[syncproto.StageVerified], result, strconv.Itoa(hh.rejections), strconv.Itoa(int(v.Round)),
						stageLabel(v.Stage), v.ID)...)...)
			}
		}
	}
	switch lq.Kind {
	case "hazards":
		t.Header = []string{"序号", "上报时间", "村(社区)", "网格", "场所名称", "场所类别", "隐患描述", "隐患等级", "当前状态", "上报人", "现场照片", "整改照片", "隐患编号"}
		t.Widths = []float64{6, 17, 12, 16, 28, 12, 36, 10, 11, 18, 9, 9, 38}
	case "assignments":
		t.Header = []string{"序号", "派单时间", "村(社区)", "网格", "场所名称", "隐患描述", "隐患等级", "整改责任人", "整改期限", "派单人", "当前状态", "隐患编号"}
		t.Widths = []float64{6, 17, 12, 16, 28, 36, 10, 18, 12, 10, 11, 38}
	case "rectifications":
		t.Header = []string{"序号", "提交整改时间", "村(社区)", "网格", "场所名称", "隐患描述", "整改责任人", "整改期限", "是否按期", "提交人", "整改照片", "复核结果", "隐患编号"}
		t.Widths = []float64{6, 17, 12, 16, 28, 36, 18, 12, 9, 10, 9, 16, 38}
	case "supervision":
		t.Header = []string{"序号", "村(社区)", "网格", "场所名称", "隐患描述", "隐患等级", "整改期限", "逾期天数", "挂牌督办", "督办时间", "抄告部门", "当前状态", "整改责任人", "隐患编号"}
		t.Widths = []float64{6, 12, 16, 28, 36, 10, 12, 9, 9, 17, 16, 11, 18, 38}
	case "feedback":
		t.Header = []string{"序号", "复核时间", "销号时间", "村(社区)", "网格", "场所名称", "隐患描述", "复核人", "复核结果", "退回次数", "轮次", "当前状态", "隐患编号"}
		t.Widths = []float64{6, 17, 17, 12, 16, 28, 36, 10, 18, 9, 6, 11, 38}
	}
	return t, nil
}

// ledgers: GET /ledgers, 六张清单 with a preview of the chosen list.
func (h *Handler) ledgers(w http.ResponseWriter, r *request) error {
	if !canManage(r.p().Role) {
		return server.Errorf(server.EFORBIDDEN, "台账导出由应急消防管理站和县应急管理局使用")
	}
	lq, err := h.readLedgerQuery(r.URL.Query())
	if err != nil {
		return err
	}
	if lq.Kind == "" {
		lq.Kind = "hazards"
	}
	t, err := h.buildLedger(r, lq)
	if err != nil {
		return err
	}
	ai, err := h.areaIndex(r.Context(), r.p())
	if err != nil {
		return err
	}
	preview := t.Rows[:min(len(t.Rows), 100)]
	data := map[string]any{"Kinds": ledgerKinds, "Q": lq, "Table": t, "Preview": preview, "Query": lq.values().Encode(),
		"Villages": ai.villages, "Grids": ai.gridsOf(ai.scope(lq.Village))}
	h.render(w, r.Request, r.sess, http.StatusOK, "ledgers", "六张清单", data)
	return nil
}

// exportLedger: GET /ledgers/{kind}/export?format=xlsx|csv&from&to&village&grid.
func (h *Handler) exportLedger(w http.ResponseWriter, r *request) error {
	if !canManage(r.p().Role) {
		return server.Errorf(server.EFORBIDDEN, "台账导出由应急消防管理站和县应急管理局使用")
	}
	q := r.URL.Query()
	q.Set("kind", r.PathValue("kind"))
	lq, err := h.readLedgerQuery(q)
	if err != nil {
		return err
	}
	format := ledger.Format(q.Get("format"))
	if format != ledger.XLSX && format != ledger.CSV {
		format = ledger.XLSX
	}
	t, err := h.buildLedger(r, lq)
	if err != nil {
		return err
	}
	ai, err := h.areaIndex(r.Context(), r.p())
	if err != nil {
		return err
	}
	areaName := ai.root.Name
	if a, ok := ai.byID[lq.Grid]; ok && lq.Grid != "" {
		areaName = a.Name
	} else if a, ok := ai.byID[lq.Village]; ok && lq.Village != "" {
		areaName = a.Name
	}
	period := strings.ReplaceAll(lq.FromText, "-", "") + "-" + strings.ReplaceAll(lq.ToText, "-", "")
	name := fmt.Sprintf("%s_%s_%s.%s", t.Title, areaName, period, format)
	ascii := fmt.Sprintf("%s_%s.%s", lq.Kind, period, format)
	w.Header().Set("Content-Type", format.ContentType())
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, url.PathEscape(name)))
	w.Header().Set("Cache-Control", "no-store")
	return ledger.Write(w, format, t)
}
