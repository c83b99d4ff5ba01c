package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// hazardFilter is the queue's filter, read from the query string so a
// filtered queue is a link one can bookmark or send.
type hazardFilter struct {
	Village, Grid, Kind, Status, Severity string
	Overdue, Escalated, Incomplete        bool
	Sort                                  string
	Page                                  int
}

func readHazardFilter(q url.Values) hazardFilter {
	f := hazardFilter{Village: q.Get("village"), Grid: q.Get("grid"), Kind: q.Get("kind"), Status: q.Get("status"),
		Severity: q.Get("severity"), Overdue: q.Get("overdue") == "1", Escalated: q.Get("escalated") == "1",
		Incomplete: q.Get("incomplete") == "1", Sort: q.Get("sort")}
	f.Page, _ = strconv.Atoi(q.Get("page"))
	f.Page = max(f.Page, 1)
	return f
}

// query renders the filter back into a query string, with page replaced.
func (f hazardFilter) query(page int) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	flag := func(k string, b bool) {
		if b {
			q.Set(k, "1")
		}
	}
	set("village", f.Village)
	set("grid", f.Grid)
	set("kind", f.Kind)
	set("status", f.Status)
	set("severity", f.Severity)
	flag("overdue", f.Overdue)
	flag("escalated", f.Escalated)
	flag("incomplete", f.Incomplete)
	set("sort", f.Sort)
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	return q.Encode()
}

func (f hazardFilter) match(v *hazardView) bool {
	switch {
	case f.Status == "" && !v.Open(), f.Status != "" && f.Status != "all" && f.Status != v.Stage:
		return false
	case f.Kind != "" && v.Site.Kind != f.Kind:
		return false
	case f.Severity != "" && v.Severity != f.Severity:
		return false
	case f.Overdue && !v.Overdue, f.Escalated && !v.Escalated, f.Incomplete && !v.EvidenceIncomplete:
		return false
	}
	return true
}

var hazardSorts = []struct{ Key, Label string }{
	{"", "上报时间（新→旧）"}, {"reported", "上报时间（旧→新）"}, {"deadline", "整改期限（近→远）"},
	{"updated", "最近更新"}, {"severity", "隐患等级"}, {"status", "流程阶段"},
}

func sortHazards(hs []*hazardView, key string) {
	slices.SortStableFunc(hs, func(a, b *hazardView) int {
		switch key {
		case "reported":
			return a.ReportedAt.Compare(b.ReportedAt)
		case "deadline":
			// No deadline sorts last.
			if a.Deadline.IsZero() != b.Deadline.IsZero() {
				if a.Deadline.IsZero() {
					return 1
				}
				return -1
			}
			return a.Deadline.Compare(b.Deadline)
		case "updated":
			return b.UpdatedAt.Compare(a.UpdatedAt)
		case "severity":
			return cmp.Or(cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)), b.ReportedAt.Compare(a.ReportedAt))
		case "status":
			return cmp.Or(cmp.Compare(a.Rank, b.Rank), b.ReportedAt.Compare(a.ReportedAt))
		}
		return b.ReportedAt.Compare(a.ReportedAt)
	})
}

func severityRank(s string) int {
	if s == "major" {
		return 0
	}
	return 1
}

type option struct{ Value, Label string }

func kindOptions() []option {
	var out []option
	for _, k := range []string{syncproto.SiteHousehold, syncproto.SiteRentedHousing, syncproto.SiteSharedUse, syncproto.SiteSelfBuilt,
		syncproto.SiteNineSmall, syncproto.SiteCrowdedPlace, syncproto.SiteFactoryWarehouse, syncproto.SiteHighRise, syncproto.SiteElderlyAlone} {
		out = append(out, option{k, kindLabel(k)})
	}
	return out
}

func stageOptions() []option {
	out := []option{{"", "未销号"}, {"all", "全部"}}
	for _, s := range hazardStages {
		out = append(out, option{s, stageLabel(s)})
	}
	return out
}

// hazardQueue: GET /hazards, the hazard ledger (隐患台账).
func (h *Handler) hazardQueue(w http.ResponseWriter, r *request) error {
	f := readHazardFilter(r.URL.Query())
	hs, err := h.loadHazards(r.Context(), r.p(), "")
	if err != nil {
		return err
	}
	scope := hs.areas.scope(f.Village, f.Grid)
	var list []*hazardView
	for _, v := range hs.hazards {
		if (scope == "" || strings.HasPrefix(v.Row.AreaPath, scope)) && f.match(v) {
			list = append(list, v)
		}
	}
	sortHazards(list, f.Sort)
	total := len(list)
	pages := max(1, (total+PageSize-1)/PageSize)
	f.Page = min(f.Page, pages)
	list = list[(f.Page-1)*PageSize : min(total, f.Page*PageSize)]
	vpath := hs.areas.scope(f.Village)
	users, err := h.svc.Dashboard.Users(r.Context())
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, u := range users {
		names[u.Username] = u.Name
	}
	data := map[string]any{"Names": names,
		"F": f, "Hazards": list, "Total": total, "Page": f.Page, "Pages": pages,
		"Prev": f.query(f.Page - 1), "Next": f.query(f.Page + 1),
		"Villages": hs.areas.villages, "Grids": hs.areas.gridsOf(vpath), "Kinds": kindOptions(),
		"Stages": stageOptions(), "Sorts": hazardSorts, "HasEscalate": h.feat.escalate != "",
		"After": hs.maxSeq, "Live": true,
	}
	h.render(w, r.Request, r.sess, http.StatusOK, "hazards", "隐患台账", data)
	return nil
}

// photoView is one photo on the detail page.
type photoView struct {
	SHA     string
	After   bool // added with or after the rectification submission (整改后)
	Missing bool // referenced but not uploaded yet
	Removed bool
	Flags   []string
}

// timelineView is one line of the audit trail.
type timelineView struct {
	Seq                int64
	Who, Username      string
	Role               string
	Device             string
	DeviceAt, ServerAt time.Time
	Clamped            bool
	What               []string
	Web                bool
}

// action is a button the caller may press, decided by asking the schema
// whether the caller's role may apply the op (the server will check again).
type action struct {
	Name, Label, Help string
	Danger            bool
}

// hazardDetail: GET /hazards/{id}.
func (h *Handler) hazardDetail(w http.ResponseWriter, r *request) error {
	ctx, p := r.Context(), r.p()
	row, err := h.svc.Dashboard.Doc(ctx, "hazards", r.PathValue("id"))
	if err != nil {
		return err
	}
	ai, err := h.areaIndex(ctx, p)
	if err != nil {
		return err
	}
	sites := map[string]*siteView{}
	if sid := strField(row.State, "site"); sid != "" {
		if sd, err := h.svc.Dashboard.Doc(ctx, "sites", sid); err == nil {
			sites[sid] = newSiteView(sd, ai)
		}
	}
	refs, err := h.svc.Dashboard.Photos(ctx, "hazards", []string{row.State.ID})
	if err != nil {
		return err
	}
	v := h.newHazardView(row, sites, ai, refs, h.now())
	ops, err := h.svc.Dashboard.Timeline(ctx, server.TimelineQuery{Collection: "hazards", DocID: row.State.ID})
	if err != nil {
		return err
	}
	conflicts, err := h.svc.Sync.Conflicts(ctx, server.ConflictFilter{Collection: "hazards", DocID: row.State.ID})
	if err != nil {
		return err
	}
	users, err := h.svc.Dashboard.Users(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{v.Site.ID: v.Site.Name}
	var assignees []*server.User
	for _, u := range users {
		names[u.Username] = u.Name
		if (u.Role == server.RoleGridWorker || u.Role == server.RoleVillageOfficer) && strings.HasPrefix(u.AreaPath, v.Village.Path) {
			assignees = append(assignees, u)
		}
	}
	data := map[string]any{
		"H": v, "Photos": photoViews(row.State, refs, ops), "Timeline": timelineViews(ops, names), "Conflicts": conflicts,
		"Actions": h.hazardActions(p.Role, row.State, v), "Assignees": assignees, "AssigneeName": names[v.Assignee],
		"ReporterName":    names[v.ReportedBy],
		"DefaultDeadline": fmtDate(h.now().AddDate(0, 0, defaultDeadlineDays(v.Severity))),
		"Today":           fmtDate(h.now()), "ReferIsText": h.referIsText(),
	}
	h.render(w, r.Request, r.sess, http.StatusOK, "hazard", v.Title, data)
	return nil
}

// defaultDeadlineDays is the deadline the dispatch form suggests; the demo
// county's policy (fixtures/README.md) uses 3 days for major hazards and 7
// for general ones. The station can pick any date.
func defaultDeadlineDays(severity string) int {
	if severity == "major" {
		return 3
	}
	return 7
}

func photoViews(s syncproto.DocState, refs []*server.PhotoRef, ops []*server.TimelineEntry) []photoView {
	after := map[string]bool{}
	submitted := false
	submittedRank := slices.Index(hazardStages, syncproto.StageSubmitted)
	for _, e := range ops {
		if st, ok := e.Op.Flow["status"]; ok && slices.Index(hazardStages, st.To) >= submittedRank {
			submitted = true
		}
		for _, sha := range e.Op.Add["photos"] {
			if _, seen := after[sha]; !seen {
				after[sha] = submitted
			}
		}
	}
	live := map[string]bool{}
	for _, e := range s.Elements("photos") {
		live[e] = true
	}
	var out []photoView
	for _, ref := range refs {
		if ref.Field != "photos" {
			continue
		}
		out = append(out, photoView{SHA: ref.SHA256, After: after[ref.SHA256], Missing: ref.Known && !ref.Arrived, Removed: !live[ref.SHA256]})
	}
	return out
}

// timelineViews describes the ops; names turns ids in values (a site, an
// assignee's username) into what a person recognises.
func timelineViews(ops []*server.TimelineEntry, names map[string]string) []timelineView {
	out := make([]timelineView, 0, len(ops))
	for i, e := range ops {
		t := timelineView{Seq: e.Seq, Who: e.Name, Username: e.Username, Role: roleLabel(e.Role), Device: e.Op.Device,
			DeviceAt: time.UnixMilli(e.Op.HLC.Wall), ServerAt: e.ReceivedAt, Clamped: e.DeviceHLC != "",
			Web: strings.HasPrefix(e.Op.Device, "web-"), What: describeOp(e.Op, i == 0, names)}
		if t.Clamped {
			if d, err := syncproto.ParseHLC(e.DeviceHLC); err == nil {
				t.DeviceAt = time.UnixMilli(d.Wall)
			}
		}
		out = append(out, t)
	}
	return out
}

// describeOp says in words what an operation did.
func describeOp(op syncproto.Op, first bool, names map[string]string) []string {
	var out []string
	if op.Delete {
		return []string{"删除记录"}
	}
	if first {
		out = append(out, "上报")
	}
	if st, ok := op.Flow["status"]; ok {
		s := "状态 → " + stageLabel(st.To)
		if st.Round > 1 {
			s += fmt.Sprintf("（第 %d 轮）", st.Round)
		}
		out = append(out, s)
	}
	for _, f := range slices.Sorted(maps.Keys(op.Set)) {
		v := valueText(f, op.Set[f])
		if n, ok := names[v]; ok {
			v = n + "（" + v + "）"
		}
		out = append(out, fieldLabel(f)+"："+v)
	}
	if n := len(op.Add["photos"]); n > 0 {
		out = append(out, fmt.Sprintf("添加照片 %d 张", n))
	}
	if n := len(op.Remove["photos"]); n > 0 {
		out = append(out, fmt.Sprintf("移除照片 %d 张", n))
	}
	return out
}

// hazardDraft builds the op of an action on a hazard from the form.
func (h *Handler) hazardDraft(name string, s syncproto.DocState, form url.Values) (draft, string, error) {
	d := draft{Collection: "hazards", Doc: s.ID, Seen: stampsOf(s)}
	st, _ := s.Status("status")
	step := func(to string, round uint32) {
		d.Flow = map[string]syncproto.FlowStep{"status": {To: to, Round: round}}
	}
	switch name {
	case "dispatch":
		assignee := strings.TrimSpace(form.Get("assignee"))
		if assignee == "" || utf8.RuneCountInString(assignee) > 64 {
			return d, "", server.Errorf(server.EINVALID, "请填写整改责任人（不超过 64 字）")
		}
		deadline, err := parseDate(form.Get("deadline"))
		if err != nil {
			return d, "", err
		}
		d.Set = map[string]any{"assignee": assignee, "deadline": deadline.UnixMilli()}
		d.Base = bases(s, "assignee", "deadline")
		if st.Stage == syncproto.StageReported {
			step(syncproto.StageDispatched, st.Round)
		}
		return d, "派单", nil
	case "verify":
		step(syncproto.StageVerified, st.Round)
		return d, "复核通过", nil
	case "reject":
		step(syncproto.StageRectifying, st.Round+1)
		return d, "复核不通过，退回整改", nil
	case "close":
		step(syncproto.StageClosed, st.Round)
		return d, "销号", nil
	case "reopen":
		step(syncproto.StageDispatched, st.Round+1)
		return d, "重新打开", nil
	case "escalate":
		if h.feat.escalate == "" {
			break
		}
		d.Set = map[string]any{h.feat.escalate: h.flagValue("hazards", h.feat.escalate, "")}
		d.Base = bases(s, h.feat.escalate)
		return d, "挂牌督办", nil
	case "refer":
		if h.feat.refer == "" {
			break
		}
		dept := strings.TrimSpace(form.Get("department"))
		if h.referIsText() && (dept == "" || utf8.RuneCountInString(dept) > syncproto.MaxStringLen) {
			return d, "", server.Errorf(server.EINVALID, "请填写抄告的主管部门")
		}
		d.Set = map[string]any{h.feat.refer: h.flagValue("hazards", h.feat.refer, dept)}
		d.Base = bases(s, h.feat.refer)
		return d, "抄告主管部门", nil
	}
	return d, "", server.Errorf(server.ENOTFOUND, "没有这个操作")
}

// flagValue is the value that sets a flag field by its declared type: true,
// the current time, or text.
func (h *Handler) flagValue(collection, field, text string) any {
	c, _ := h.svc.Schema.Collection(collection)
	f, _ := c.Field(field)
	switch f.Type {
	case syncproto.TypeBool:
		return true
	case syncproto.TypeTime, syncproto.TypeInt:
		return h.now().UnixMilli()
	}
	if text == "" {
		text = "是"
	}
	return text
}

func (h *Handler) referIsText() bool {
	if h.feat.refer == "" {
		return false
	}
	c, _ := h.svc.Schema.Collection("hazards")
	f, _ := c.Field(h.feat.refer)
	return f.Type == syncproto.TypeString || f.Type == syncproto.TypeText
}

// hazardActions lists the actions the caller's role may take now: each is
// dry-run through the schema's authorization, the same check the server
// applies to the pushed op.
func (h *Handler) hazardActions(role server.Role, s syncproto.DocState, v *hazardView) []action {
	col, ok := h.svc.Schema.Collection("hazards")
	if !ok {
		return nil
	}
	type cand struct {
		action
		when bool
	}
	cands := []cand{
		{action{Name: "dispatch", Label: "派单督办", Help: "指定整改责任人和整改期限"}, v.Stage == syncproto.StageReported || v.Stage == syncproto.StageDispatched},
		{action{Name: "verify", Label: "复核通过", Help: "整改到位"}, v.Stage == syncproto.StageDispatched || v.Stage == syncproto.StageRectifying || v.Stage == syncproto.StageSubmitted},
		{action{Name: "reject", Label: "复核不通过", Help: "退回整改，开始新一轮", Danger: true}, v.Stage == syncproto.StageSubmitted || v.Stage == syncproto.StageVerified},
		{action{Name: "close", Label: "销号", Help: "闭环销号"}, v.Stage == syncproto.StageVerified},
		{action{Name: "reopen", Label: "重新打开", Help: "已销号隐患复发，重新派单", Danger: true}, v.Stage == syncproto.StageClosed},
		{action{Name: "escalate", Label: "挂牌督办", Help: "逾期或重大隐患挂牌督办"}, h.feat.escalate != "" && v.Open() && !v.Escalated},
		{action{Name: "refer", Label: "抄告主管部门", Help: "拒不整改的，抄告行业主管部门"}, h.feat.refer != "" && v.Open() && !v.Referred},
	}
	var out []action
	for _, c := range cands {
		if !c.when {
			continue
		}
		form := url.Values{"assignee": {"x"}, "deadline": {fmtDate(h.now())}, "department": {"x"}}
		d, _, err := h.hazardDraft(c.Name, s, form)
		if err != nil {
			continue
		}
		op, err := d.build()
		if err != nil {
			continue
		}
		op.Device, op.Seq, op.HLC = "web-dryrun", 1, syncproto.HLC{Wall: h.now().UnixMilli()}
		if col.Authorize(syncproto.Role(role), &op, &s) == nil {
			out = append(out, c.action)
		}
	}
	return out
}

// hazardAction: POST /hazards/{id}/{action}.
func (h *Handler) hazardAction(w http.ResponseWriter, r *request) error {
	row, err := h.svc.Dashboard.Doc(r.Context(), "hazards", r.PathValue("id"))
	if err != nil {
		return err
	}
	d, what, err := h.hazardDraft(r.PathValue("action"), row.State, r.PostForm)
	if err != nil {
		if server.ErrorCode(err) == server.EINVALID {
			h.redirect(w, r, "/hazards/"+url.PathEscape(row.State.ID), &flash{Kind: "error", Text: server.ErrorMessage(err)})
			return nil
		}
		return err
	}
	v, err := h.writer.pushOne(r.Context(), d)
	if err != nil {
		return err
	}
	h.redirect(w, r, "/hazards/"+url.PathEscape(row.State.ID), verdictFlash(what, v))
	return nil
}

// liveItem is a newly synced hazard as the polling script shows it.
type liveItem struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Site       string `json:"site"`
	Village    string `json:"village"`
	Grid       string `json:"grid"`
	Status     string `json:"status"`
	Severity   string `json:"severity"`
	Major      bool   `json:"major"`
	ReportedAt string `json:"reported_at"`
	ReportedBy string `json:"reported_by"`
	Deadline   string `json:"deadline"`
}

// liveHazards: GET /live/hazards?after=SEQ, the hazards created after a
// server seq, for pages that show new ones without a reload.
func (h *Handler) liveHazards(w http.ResponseWriter, r *request) error {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	ctx, p := r.Context(), r.p()
	rows, err := h.svc.Dashboard.Docs(ctx, server.DocQuery{Collection: "hazards", AfterSeq: after, Limit: 100})
	if err != nil {
		return err
	}
	out := struct {
		After   int64      `json:"after"`
		Hazards []liveItem `json:"hazards"`
	}{After: after, Hazards: []liveItem{}}
	if len(rows) > 0 {
		ai, err := h.areaIndex(ctx, p)
		if err != nil {
			return err
		}
		sites := map[string]*siteView{}
		for _, d := range rows {
			if sid := strField(d.State, "site"); sid != "" && sites[sid] == nil {
				if sd, err := h.svc.Dashboard.Doc(ctx, "sites", sid); err == nil {
					sites[sid] = newSiteView(sd, ai)
				}
			}
		}
		for _, d := range rows {
			v := h.newHazardView(d, sites, ai, nil, h.now())
			out.After = max(out.After, d.CreatedSeq)
			out.Hazards = append(out.Hazards, liveItem{ID: v.ID, Title: v.Title, Site: v.Site.Name, Village: v.Village.Name,
				Grid: v.Grid.Name, Status: stageLabel(v.Stage), Severity: label(severityLabels, v.Severity), Major: v.Severity == "major",
				ReportedAt: fmtTime(v.ReportedAt), ReportedBy: v.ReportedBy, Deadline: fmtDate(v.Deadline)})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(out)
}
