package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
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

// LivePage is how many newly synced hazards one poll of /live/hazards
// reads; a page that has missed more asks again at once ("more").
const LivePage = 100

// hazardFilter is the queue's filter, read from the query string so a
// filtered queue is a link one can bookmark or send.
type hazardFilter struct {
	Village, Grid, Kind, Status, Severity string
	Overdue, Escalated, Incomplete        bool
	// Since keeps hazards reported within a period (sinceOptions).
	Since string
	Sort  string
	Page  int
}

// sinceOptions are the periods of the queue's "reported within" filter.
var sinceOptions = []struct {
	Value, Label string
	D            time.Duration
}{
	{"", "全部上报时间", 0}, {"24h", "24 小时内上报", 24 * time.Hour}, {"7d", "7 天内上报", 7 * 24 * time.Hour},
	{"30d", "30 天内上报", 30 * 24 * time.Hour},
}

func readHazardFilter(q url.Values) hazardFilter {
	f := hazardFilter{Village: q.Get("village"), Grid: q.Get("grid"), Kind: q.Get("kind"), Status: q.Get("status"),
		Severity: q.Get("severity"), Overdue: q.Get("overdue") == "1", Escalated: q.Get("escalated") == "1",
		Incomplete: q.Get("incomplete") == "1", Since: q.Get("since"), Sort: q.Get("sort")}
	f.Page, _ = strconv.Atoi(q.Get("page"))
	f.Page = max(f.Page, 1)
	return f
}

// values renders the filter back into a query, without the page.
func (f hazardFilter) values() url.Values {
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
	set("since", f.Since)
	set("sort", f.Sort)
	return q
}

// query renders the filter back into a query string, with page replaced.
func (f hazardFilter) query(page int) string {
	q := f.values()
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	return q.Encode()
}

// keep reports whether the filter keeps v: the queue and the live rows
// apply the same test.
func (f hazardFilter) keep(v *hazardView, ai *areaIndex, now time.Time) bool {
	if scope := ai.scope(f.Village, f.Grid); scope != "" && !strings.HasPrefix(v.Row.AreaPath, scope) {
		return false
	}
	for _, s := range sinceOptions {
		if s.Value == f.Since && s.D > 0 && now.Sub(v.ReportedAt) > s.D {
			return false
		}
	}
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
	for _, k := range syncproto.SiteKinds() {
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
	ctx := r.Context()
	hs, err := h.loadHazards(ctx, r.p(), server.DocQuery{})
	if err != nil {
		return err
	}
	now := h.now()
	var list []*hazardView
	for _, v := range hs.hazards {
		if f.keep(v, hs.areas, now) {
			list = append(list, v)
		}
	}
	sortHazards(list, f.Sort)
	total := len(list)
	pages := max(1, (total+PageSize-1)/PageSize)
	f.Page = min(f.Page, pages)
	list = list[(f.Page-1)*PageSize : min(total, f.Page*PageSize)]
	names, err := h.userNames(ctx)
	if err != nil {
		return err
	}
	// New rows go on top, which is where they belong only on the first
	// page of the newest-first order.
	live := f.Page == 1 && f.Sort == ""
	data := map[string]any{"Names": names,
		"F": f, "Hazards": list, "Total": total, "Page": f.Page, "Pages": pages,
		"Prev": f.query(f.Page - 1), "Next": f.query(f.Page + 1),
		"Villages": hs.areas.villages, "Grids": hs.areas.gridsOf(hs.areas.scope(f.Village)), "Kinds": kindOptions(),
		"Stages": stageOptions(), "Sorts": hazardSorts, "Since": sinceOptions,
		"After": hs.maxSeq, "Live": live, "LiveQuery": f.query(1),
	}
	h.render(w, r.Request, r.sess, http.StatusOK, "hazards", "隐患台账", data)
	return nil
}

// photoView is one photo on the detail page.
type photoView struct {
	SHA string
	// Missing: referenced but not uploaded yet; Received: the bytes are on
	// the server, waiting for the photo store.
	Missing, Received bool
	Removed           bool
	// Flags are the capture checks in words (远离场所, 拍摄时间异常...);
	// Alert marks the ones that put the photo in doubt.
	Flags   []photoFlag
	TakenAt *time.Time
}

type photoFlag struct {
	Text  string
	Alert bool
}

// photoGroups are a hazard's photos: those of the finding (发现时, field
// photos) and of the rectification (整改后, field evidence).
type photoGroups struct {
	Before, After []photoView
	// AfterMissing counts the live rectification photos not uploaded yet,
	// for the verify form's warning (hazardView.Evidence counts them all).
	AfterMissing int
}

func newPhotoGroups(dp *server.DocPhotos) photoGroups {
	var g photoGroups
	for _, p := range dp.Photos {
		v := photoView{SHA: p.SHA256, Missing: !p.Present, Received: !p.Present && p.Received, Removed: !p.Live, Flags: photoFlags(p)}
		if p.Photo != nil {
			v.TakenAt = p.Photo.TakenAt
		}
		switch p.Field {
		case "photos":
			g.Before = append(g.Before, v)
		case "evidence":
			g.After = append(g.After, v)
			if p.Live && !p.Present {
				g.AfterMissing++
			}
		}
	}
	return g
}

// photoFlags puts the photo service's capture flags in words.
func photoFlags(p *server.DocPhoto) []photoFlag {
	var out []photoFlag
	for _, f := range p.Flags {
		switch f {
		case server.FlagGPSFar:
			text := "远离场所"
			if p.DistanceM != nil {
				text = fmt.Sprintf("距场所 %d 米", int(math.Round(*p.DistanceM)))
			}
			out = append(out, photoFlag{text, true})
		case server.FlagTimeOff:
			out = append(out, photoFlag{"拍摄时间异常", true})
		case server.FlagNoGPS:
			out = append(out, photoFlag{"无定位", false})
		case server.FlagNoTime:
			out = append(out, photoFlag{"无拍摄时间", false})
		}
	}
	return out
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
	docPhotos, err := h.svc.Photos.DocPhotos(ctx, "hazards", row.State.ID)
	if err != nil {
		return err
	}
	// The hazard's counts come from the same list the page shows: a
	// DocPhoto is Present exactly when the PhotoRef would be Arrived.
	refs := make([]*server.PhotoRef, 0, len(docPhotos.Photos))
	for _, dp := range docPhotos.Photos {
		refs = append(refs, &server.PhotoRef{SHA256: dp.SHA256, Collection: "hazards", DocID: row.State.ID,
			Field: dp.Field, Live: dp.Live, Arrived: dp.Present})
	}
	overdue, err := h.overdue(ctx)
	if err != nil {
		return err
	}
	v := newHazardView(row, sites, ai, refs, overdue)
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
	// The forms suggest the deadline the server gives a hazard dispatched
	// without one: the policy in force at the hazard's grid (a hazard
	// above grid level has a placeholder grid with ID "": the caller's).
	policy, err := h.svc.Domain.Policy(ctx, v.Grid.ID)
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
	s := row.State
	data := map[string]any{
		"H": v, "Photos": newPhotoGroups(docPhotos), "Timeline": timelineViews(ops, names), "Conflicts": conflicts,
		"Actions": h.hazardActions(p.Role, s, v), "Assignees": assignees, "AssigneeName": names[v.Assignee],
		"ReporterName":    names[v.ReportedBy],
		"DefaultDeadline": fmtDate(h.now().Add(policy.Policy.HazardDeadline(v.Severity))),
		"Today":           fmtDate(h.now()),
		"Notes": []struct{ Label, Text string }{
			{"整改说明", strField(s, "rectification_note")}, {"复核意见", strField(s, "verification_note")},
			{"督办说明", strField(s, "escalation_note")}, {"抄告说明", strField(s, "referral_note")},
		},
		"Max": map[string]int{"assignee": h.fieldMax("hazards", "assignee"), "referred_to": h.fieldMax("hazards", "referred_to"),
			"note": h.fieldMax("hazards", "verification_note")},
	}
	h.render(w, r.Request, r.sess, http.StatusOK, "hazard", v.Title, data)
	return nil
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

// setLabel names a set field in the timeline: a hazard's two photo sets
// by what they prove.
func setLabel(field string) string {
	switch field {
	case "photos":
		return "现场照片"
	case "evidence":
		return "整改照片"
	}
	return fieldLabel(field)
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
	for _, f := range slices.Sorted(maps.Keys(op.Add)) {
		if n := len(op.Add[f]); n > 0 {
			out = append(out, fmt.Sprintf("添加%s %d 张", setLabel(f), n))
		}
	}
	for _, f := range slices.Sorted(maps.Keys(op.Remove)) {
		if n := len(op.Remove[f]); n > 0 {
			out = append(out, fmt.Sprintf("移除%s %d 张", setLabel(f), n))
		}
	}
	return out
}

// formText reads an optional text input, bounded by the schema's limit
// for the hazards field it is written to.
func (h *Handler) formText(form url.Values, name, field, what string) (string, error) {
	v := strings.TrimSpace(form.Get(name))
	if n := h.fieldMax("hazards", field); utf8.RuneCountInString(v) > n {
		return "", server.Errorf(server.EINVALID, "%s不能超过 %d 字", what, n)
	}
	return v, nil
}

// formDeadline reads a deadline date; empty is allowed when optional. A
// deadline is today or later.
func (h *Handler) formDeadline(form url.Values, optional bool) (time.Time, bool, error) {
	s := strings.TrimSpace(form.Get("deadline"))
	if s == "" && optional {
		return time.Time{}, false, nil
	}
	d, err := parseDate(s)
	if err != nil {
		return d, false, server.Errorf(server.EINVALID, "请选择整改期限（年-月-日）")
	}
	if d.Before(h.now()) {
		return d, false, server.Errorf(server.EINVALID, "整改期限不能早于今天")
	}
	return d, true, nil
}

// hazardDraft builds the op of an action on a hazard from the form. Every
// value the form adds (deadline, note) goes into the same op as the step,
// so the phones see the decision and its reason together.
func (h *Handler) hazardDraft(name string, s syncproto.DocState, form url.Values) (draft, string, error) {
	d := draft{Collection: "hazards", Doc: s.ID, Seen: stampsOf(s), Set: map[string]any{}}
	st, _ := s.Status("status")
	step := func(to string, round uint32) {
		d.Flow = map[string]syncproto.FlowStep{"status": {To: to, Round: round}}
	}
	note := func(field string) error {
		v, err := h.formText(form, "note", field, "说明")
		if v != "" {
			d.Set[field] = v
		}
		return err
	}
	deadline := func(optional bool) error {
		t, ok, err := h.formDeadline(form, optional)
		if ok {
			d.Set["deadline"] = t.UnixMilli()
		}
		return err
	}
	assignee := func(optional bool) error {
		a := strings.TrimSpace(form.Get("assignee"))
		switch n := h.fieldMax("hazards", "assignee"); {
		case a == "" && optional:
		case a == "" || utf8.RuneCountInString(a) > n:
			return server.Errorf(server.EINVALID, "请填写整改责任人（不超过 %d 字）", n)
		default:
			d.Set["assignee"] = a
		}
		return nil
	}
	var what string
	var err error
	switch name {
	case "dispatch":
		what = "派单"
		if err = assignee(false); err == nil {
			err = deadline(false)
		}
		if st.Stage == syncproto.StageReported {
			step(syncproto.StageDispatched, st.Round)
		}
	case "verify":
		what = "复核通过"
		step(syncproto.StageVerified, st.Round)
		err = note("verification_note")
	case "reject":
		what = "复核不通过，退回整改"
		step(syncproto.StageRectifying, st.Round+1)
		if err = note("verification_note"); err == nil {
			err = deadline(true)
		}
	case "close":
		what = "销号"
		step(syncproto.StageClosed, st.Round)
	case "reopen":
		what = "重新打开"
		step(syncproto.StageDispatched, st.Round+1)
		if err = assignee(true); err == nil {
			err = deadline(true)
		}
	case "escalate":
		what = "挂牌督办"
		d.Set["escalated"] = true
		err = note("escalation_note")
	case "refer":
		what = "抄告主管部门"
		dept, derr := h.formText(form, "department", "referred_to", "主管部门")
		switch {
		case derr != nil:
			err = derr
		case dept == "":
			err = server.Errorf(server.EINVALID, "请填写抄告的主管部门")
		default:
			d.Set["referred_to"] = dept
			err = note("referral_note")
		}
	default:
		return d, "", server.Errorf(server.ENOTFOUND, "没有这个操作")
	}
	if err != nil {
		return d, "", err
	}
	if len(d.Set) == 0 {
		d.Set = nil
	} else {
		d.Base = bases(s, slices.Collect(maps.Keys(d.Set))...)
	}
	return d, what, nil
}

// hazardActions lists the actions the caller's role may take now: each is
// dry-run through the schema's authorization, the same check the server
// applies to the pushed op, with every optional field of its form filled.
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
		{action{Name: "escalate", Label: "挂牌督办", Help: "逾期或重大隐患挂牌督办"}, v.Open() && !v.Escalated},
		{action{Name: "refer", Label: "抄告主管部门", Help: "拒不整改的，抄告行业主管部门"}, v.Open() && !v.Referred()},
	}
	var out []action
	for _, c := range cands {
		if !c.when {
			continue
		}
		form := url.Values{"assignee": {"x"}, "deadline": {fmtDate(h.now())}, "department": {"x"}, "note": {"x"}}
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
	Photos     int    `json:"photos"`
	Incomplete bool   `json:"incomplete"`
}

// liveHazards: GET /live/hazards?after=SEQ&<queue filter>, the hazards
// created after a server seq that the page's filter keeps, oldest first,
// for pages that show new ones without a reload. It reads LivePage
// hazards at a time; "after" is the last one read (kept or not) and
// "more" says another page is waiting.
func (h *Handler) liveHazards(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	ctx, p := r.Context(), r.p()
	hs, err := h.loadHazards(ctx, p, server.DocQuery{AfterSeq: max(after, 0), Limit: LivePage, OldestFirst: true})
	if err != nil {
		return err
	}
	out := struct {
		After   int64      `json:"after"`
		More    bool       `json:"more"`
		Hazards []liveItem `json:"hazards"`
	}{After: max(after, hs.maxSeq), More: len(hs.hazards) == LivePage, Hazards: []liveItem{}}
	f, now := readHazardFilter(q), h.now()
	var names map[string]string // read only when there is a hazard to name a reporter of
	if len(hs.hazards) > 0 {
		if names, err = h.userNames(ctx); err != nil {
			return err
		}
	}
	for _, v := range hs.hazards {
		if !f.keep(v, hs.areas, now) {
			continue
		}
		by := v.ReportedBy
		if n, ok := names[by]; ok {
			by = n
		}
		out.Hazards = append(out.Hazards, liveItem{ID: v.ID, Title: v.Title, Site: v.Site.Name, Village: v.Village.Name,
			Grid: v.Grid.Name, Status: stageLabel(v.Stage), Severity: label(severityLabels, v.Severity), Major: v.Severity == "major",
			ReportedAt: fmtTime(v.ReportedAt), ReportedBy: by, Deadline: fmtDate(v.Deadline), Photos: v.Photos + v.Evidence,
			Incomplete: v.EvidenceIncomplete})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(out)
}
