package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// siteRow is one line of the site registry: the site and its check
// status from the domain's task list.
type siteRow struct {
	*siteView
	Task        *syncproto.Task
	OpenHazards int
	// Days is how many days the site is overdue (status overdue) or has
	// left in its window (due, ok).
	Days int
}

func riskOptions() []option {
	var out []option
	for _, k := range syncproto.RiskLevels() {
		out = append(out, option{k, riskLabel(k)})
	}
	return out
}

// checkStatusOptions are the sites page's status filter, most urgent first.
var checkStatusOptions = []option{
	{"", "全部检查状态"}, {string(syncproto.CheckOverdue), "逾期未检查"}, {string(syncproto.CheckDue), "到期（3 天内须检查）"},
	{string(syncproto.CheckNever), "从未检查"}, {string(syncproto.CheckOK), "正常"},
}

// sites: GET /sites, 单位场所 registry with risk levels and each site's
// check interval, last check and due date (DomainService.Tasks: the
// inspections' finished_at and the imported check history, by the
// county's policy).
func (h *Handler) sites(w http.ResponseWriter, r *request) error {
	ctx, p := r.Context(), r.p()
	q := r.URL.Query()
	hs, err := h.loadHazards(ctx, p, server.DocQuery{})
	if err != nil {
		return err
	}
	tq := server.TaskQuery{At: h.now()}
	if a, ok := hs.areas.byID[q.Get("grid")]; ok && a.Level == server.LevelGrid {
		tq.AreaID = a.ID
	} else if a, ok := hs.areas.byID[q.Get("village")]; ok && a.Level == server.LevelVillage {
		tq.AreaID = a.ID
	}
	status := syncproto.CheckStatus(q.Get("status"))
	if status != "" {
		if !slices.ContainsFunc(checkStatusOptions, func(o option) bool { return o.Value == string(status) }) {
			return server.Errorf(server.EINVALID, "未知的检查状态")
		}
		tq.Statuses = []syncproto.CheckStatus{status}
	}
	tasks, err := h.svc.Domain.Tasks(ctx, tq)
	if err != nil {
		return err
	}
	open := map[string]int{}
	for _, v := range hs.hazards {
		if v.Open() {
			open[v.Site.ID]++
		}
	}
	text := strings.TrimSpace(q.Get("q"))
	var rows []siteRow
	for _, t := range tasks {
		s, ok := hs.sites[t.SiteID]
		switch {
		case !ok,
			q.Get("kind") != "" && s.Kind != q.Get("kind"),
			q.Get("risk") != "" && s.Risk != q.Get("risk"),
			text != "" && !strings.Contains(s.Name+s.Address+s.Responsible+s.ID, text):
			continue
		}
		row := siteRow{siteView: s, Task: t, OpenHazards: open[s.ID]}
		if t.AgeDays >= 0 {
			row.Days = t.IntervalDays - t.AgeDays
			if t.Status == syncproto.CheckOverdue {
				row.Days = -row.Days
			}
		}
		rows = append(rows, row)
	}
	counts := map[string]int{}
	for _, row := range rows {
		counts[string(row.Task.Status)]++
	}
	data := map[string]any{"Sites": rows, "Q": q, "Villages": hs.areas.villages, "Grids": hs.areas.gridsOf(hs.areas.scope(q.Get("village"))),
		"Kinds": kindOptions(), "Risks": riskOptions(), "Statuses": checkStatusOptions, "Counts": counts,
		"CanSetRisk": h.canWrite(p.Role, "sites", "risk_level")}
	h.render(w, r.Request, r.sess, http.StatusOK, "sites", "单位场所", data)
	return nil
}

// canWrite reports whether role may write field of existing documents of a
// collection, by the schema's declaration.
func (h *Handler) canWrite(role server.Role, collection, field string) bool {
	c, ok := h.svc.Schema.Collection(collection)
	if !ok {
		return false
	}
	f, ok := c.Field(field)
	if !ok {
		return false
	}
	writers := f.Writers
	if len(writers) == 0 {
		writers = c.Writers
		if len(writers) == 0 {
			writers = c.Creators
		}
	}
	return slices.Contains(writers, syncproto.Role(role))
}

// setRisk: POST /sites/{id}/risk, the station grades a site's risk (an op
// on sites.risk_level, which only station staff and the county may write).
func (h *Handler) setRisk(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	row, err := h.svc.Dashboard.Doc(ctx, "sites", r.PathValue("id"))
	if err != nil {
		return err
	}
	risk := r.PostFormValue("risk")
	back := "/sites"
	if ref := r.PostFormValue("back"); strings.HasPrefix(ref, "/sites") {
		back = ref
	}
	if _, ok := riskLabels[risk]; !ok {
		h.redirect(w, r, back, &flash{Kind: "error", Text: "请选择风险等级"})
		return nil
	}
	d := draft{Collection: "sites", Doc: row.State.ID, Set: map[string]any{"risk_level": risk},
		Base: bases(row.State, "risk_level"), Seen: stampsOf(row.State)}
	v, err := h.writer.pushOne(ctx, d)
	if err != nil {
		return err
	}
	h.redirect(w, r, back, verdictFlash("设定“"+strField(row.State, "name")+"”风险等级为"+riskLabel(risk), v))
	return nil
}
