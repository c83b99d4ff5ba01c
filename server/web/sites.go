package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// siteRow is one line of the site registry.
type siteRow struct {
	*siteView
	OpenHazards int
	LastCheck   time.Time
	Checks      int
}

func riskOptions() []option {
	var out []option
	for _, k := range []string{syncproto.RiskMajor, syncproto.RiskSignificant, syncproto.RiskGeneral, syncproto.RiskLow} {
		out = append(out, option{k, riskLabel(k)})
	}
	return out
}

// sites: GET /sites, 单位场所 registry with risk levels.
func (h *Handler) sites(w http.ResponseWriter, r *request) error {
	ctx, p := r.Context(), r.p()
	q := r.URL.Query()
	hs, err := h.loadHazards(ctx, p, "")
	if err != nil {
		return err
	}
	inspections, err := h.svc.Dashboard.Docs(ctx, server.DocQuery{Collection: "inspections"})
	if err != nil {
		return err
	}
	lastCheck := map[string]time.Time{}
	checks := map[string]int{}
	for _, d := range inspections {
		sid := strField(d.State, "site")
		at := timeField(d.State, "checked_at")
		if at.IsZero() {
			at = d.CreatedAt
		}
		checks[sid]++
		if at.After(lastCheck[sid]) {
			lastCheck[sid] = at
		}
	}
	open := map[string]int{}
	for _, v := range hs.hazards {
		if v.Open() {
			open[v.Site.ID]++
		}
	}
	scope := hs.areas.scope(q.Get("village"), q.Get("grid"))
	text := strings.TrimSpace(q.Get("q"))
	var rows []siteRow
	for _, s := range hs.sites {
		switch {
		case scope != "" && !strings.HasPrefix(s.Row.AreaPath, scope),
			q.Get("kind") != "" && s.Kind != q.Get("kind"),
			q.Get("risk") != "" && s.Risk != q.Get("risk"),
			text != "" && !strings.Contains(s.Name+s.Address+s.Responsible+s.ID, text):
			continue
		}
		rows = append(rows, siteRow{siteView: s, OpenHazards: open[s.ID], LastCheck: lastCheck[s.ID], Checks: checks[s.ID]})
	}
	slices.SortFunc(rows, func(a, b siteRow) int {
		if c := strings.Compare(a.Row.AreaPath, b.Row.AreaPath); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	data := map[string]any{"Sites": rows, "Q": q, "Villages": hs.areas.villages, "Grids": hs.areas.gridsOf(hs.areas.scope(q.Get("village"))),
		"Kinds": kindOptions(), "Risks": riskOptions(), "CanSetRisk": h.canWrite(p.Role, "sites", "risk_level")}
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
