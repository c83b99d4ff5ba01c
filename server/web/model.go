package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// areaIndex is the caller's part of the area tree, for names and for
// finding a document's village and grid from its area path.
type areaIndex struct {
	root     *server.Area
	byID     map[string]*server.Area
	villages []*server.Area
	grids    []*server.Area
}

func (h *Handler) areaIndex(ctx context.Context, p *server.Principal) (*areaIndex, error) {
	all, err := h.svc.Areas.Subtree(ctx, p.AreaID)
	if err != nil {
		return nil, err
	}
	ai := &areaIndex{byID: map[string]*server.Area{}}
	for _, a := range all {
		ai.byID[a.ID] = a
		switch a.Level {
		case server.LevelVillage:
			ai.villages = append(ai.villages, a)
		case server.LevelGrid:
			ai.grids = append(ai.grids, a)
		}
	}
	if len(all) > 0 {
		ai.root = all[0]
	}
	return ai, nil
}

// at returns the area of the given level on path ("/c/t/v/g/"), or a
// placeholder when the path does not reach that level (a document of the
// township itself has no village).
func (ai *areaIndex) at(path, level string) *server.Area {
	for _, id := range strings.Split(strings.Trim(path, "/"), "/") {
		if a, ok := ai.byID[id]; ok && a.Level == level {
			return a
		}
	}
	return &server.Area{Name: "—"}
}

// scope returns the path of the area a filter names if it is in the
// caller's tree, else "" (no narrowing).
func (ai *areaIndex) scope(ids ...string) string {
	path := ""
	for _, id := range ids {
		if a, ok := ai.byID[id]; ok && id != "" {
			path = a.Path
		}
	}
	return path
}

// names maps the ids of the caller's areas to their names.
func (ai *areaIndex) names() map[string]string {
	out := make(map[string]string, len(ai.byID))
	for id, a := range ai.byID {
		out[id] = a.Name
	}
	return out
}

// gridsOf lists the grids under the village with path vpath (all if "").
func (ai *areaIndex) gridsOf(vpath string) []*server.Area {
	var out []*server.Area
	for _, g := range ai.grids {
		if vpath == "" || strings.HasPrefix(g.Path, vpath) {
			out = append(out, g)
		}
	}
	return out
}

// siteView is a site as the pages show it.
type siteView struct {
	ID, Name, Kind, Address, Risk, Responsible, Phone string
	Village, Grid                                     *server.Area
	Row                                               *server.DocRow
}

func newSiteView(d *server.DocRow, ai *areaIndex) *siteView {
	s := d.State
	return &siteView{ID: s.ID, Name: strField(s, "name"), Kind: strField(s, "kind"), Address: strField(s, "address"),
		Risk: strField(s, "risk_level"), Responsible: strField(s, "responsible"), Phone: strField(s, "phone"),
		Village: ai.at(d.AreaPath, server.LevelVillage), Grid: ai.at(d.AreaPath, server.LevelGrid), Row: d}
}

// hazardView is a hazard with everything the queue and the detail page
// derive from it.
type hazardView struct {
	ID, Title, Description, Severity string
	Stage                            string
	Rank                             int
	Round                            uint32
	Deadline                         time.Time
	Assignee                         string
	Site                             *siteView
	Village, Grid                    *server.Area
	ReportedAt, UpdatedAt            time.Time
	ReportedBy                       string
	// Overdue and OverdueDays come from DomainService.OverdueHazards, so
	// the dashboard and /v1/hazards/overdue never disagree.
	Overdue     bool
	OverdueDays int
	Escalated   bool
	ReferredTo  string
	// Photos document the finding (发现时), Evidence the rectification
	// (整改后); Missing counts live photos of either not uploaded yet.
	Photos, Evidence, Missing int
	EvidenceIncomplete        bool
	Row                       *server.DocRow
}

// Open reports whether the hazard is not yet closed (销号).
func (v *hazardView) Open() bool { return v.Stage != syncproto.StageClosed }

// Referred reports whether the hazard was referred to a department (抄告).
func (v *hazardView) Referred() bool { return v.ReferredTo != "" }

// The fields of the schema the dashboard writes or reads by name. New
// refuses a schema without them, so a renamed field fails at start-up
// rather than as a page that silently shows nothing.
var requiredFields = map[string][]string{
	"sites":        {"name", "kind", "grid", "risk_level", "address", "responsible", "phone", "location"},
	"inspections":  {"site", "started_at", "finished_at", "checked_at", "result", "note", "inspectors", "photos"},
	"hazards":      {"site", "title", "description", "severity", "deadline", "assignee", "photos", "evidence", "rectification_note", "verification_note", "escalated", "escalation_note", "referred_to", "referral_note", "status"},
	"warnings":     {"target", "level", "title", "body", "issued_at"},
	"warning_acks": {"warning"},
}

func checkSchema(s *syncproto.Schema) error {
	for name, fields := range requiredFields {
		c, ok := s.Collection(name)
		if !ok {
			return fmt.Errorf("web: schema has no collection %q", name)
		}
		for _, f := range fields {
			if _, ok := c.Field(f); !ok {
				return fmt.Errorf("web: schema has no field %s.%s", name, f)
			}
		}
	}
	return nil
}

// fieldMax is the rune limit the server enforces on a string or text
// field, so a form's maxlength and its handler's check are the schema's.
func (h *Handler) fieldMax(collection, field string) int {
	c, _ := h.svc.Schema.Collection(collection)
	f, _ := c.Field(field)
	return f.MaxRunes()
}

// hazardSet is the hazards of an area with their sites and photos.
type hazardSet struct {
	areas   *areaIndex // nil when a live poll found nothing new
	sites   map[string]*siteView
	hazards []*hazardView
	maxSeq  int64
}

// loadHazards reads the hazards of the caller's area (q.AfterSeq and
// q.Limit narrow them, for the live rows), their sites, photo references
// and which are overdue.
func (h *Handler) loadHazards(ctx context.Context, p *server.Principal, q server.DocQuery) (*hazardSet, error) {
	q.Collection = "hazards"
	rows, err := h.svc.Dashboard.Docs(ctx, q)
	if err != nil {
		return nil, err
	}
	paged := q.AfterSeq > 0 || q.Limit > 0
	if paged && len(rows) == 0 {
		return &hazardSet{}, nil // a live poll with nothing new reads nothing more
	}
	ai, err := h.areaIndex(ctx, p)
	if err != nil {
		return nil, err
	}
	hs := &hazardSet{areas: ai, sites: map[string]*siteView{}}
	sites, err := h.svc.Dashboard.Docs(ctx, server.DocQuery{Collection: "sites"})
	if err != nil {
		return nil, err
	}
	for _, d := range sites {
		hs.sites[d.State.ID] = newSiteView(d, ai)
	}
	var ids []string // nil: every hazard of the area
	if paged {
		ids = []string{}
		for _, d := range rows {
			ids = append(ids, d.State.ID)
		}
	}
	photos, err := h.svc.Dashboard.Photos(ctx, "hazards", ids)
	if err != nil {
		return nil, err
	}
	byDoc := map[string][]*server.PhotoRef{}
	for _, ph := range photos {
		byDoc[ph.DocID] = append(byDoc[ph.DocID], ph)
	}
	overdue, err := h.overdue(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range rows {
		hs.hazards = append(hs.hazards, newHazardView(d, hs.sites, ai, byDoc[d.State.ID], overdue))
		hs.maxSeq = max(hs.maxSeq, d.CreatedSeq)
	}
	return hs, nil
}

// overdue returns the caller's overdue hazards by id, as the domain
// counts them (deadline passed before rectification was submitted).
func (h *Handler) overdue(ctx context.Context) (map[string]*server.OverdueHazard, error) {
	list, err := h.svc.Domain.OverdueHazards(ctx, server.HazardQuery{At: h.now()})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*server.OverdueHazard, len(list))
	for _, o := range list {
		out[o.ID] = o
	}
	return out, nil
}

func newHazardView(d *server.DocRow, sites map[string]*siteView, ai *areaIndex, photos []*server.PhotoRef, overdue map[string]*server.OverdueHazard) *hazardView {
	s := d.State
	v := &hazardView{ID: s.ID, Title: strField(s, "title"), Description: strField(s, "description"),
		Severity: strField(s, "severity"), Deadline: timeField(s, "deadline"), Assignee: strField(s, "assignee"),
		Village: ai.at(d.AreaPath, server.LevelVillage), Grid: ai.at(d.AreaPath, server.LevelGrid),
		ReportedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, ReportedBy: d.CreatedBy, Row: d,
		Escalated: truthy(s, "escalated"), ReferredTo: strField(s, "referred_to")}
	if st, ok := s.Status("status"); ok {
		v.Stage, v.Rank, v.Round = st.Stage, st.Rank, st.Round
	}
	if site, ok := sites[strField(s, "site")]; ok {
		v.Site = site
	} else {
		v.Site = &siteView{ID: strField(s, "site"), Name: strField(s, "site"), Village: v.Village, Grid: v.Grid}
	}
	if o, ok := overdue[v.ID]; ok {
		v.Overdue, v.OverdueDays = true, o.OverdueDays
	}
	for _, ph := range photos {
		if !ph.Live {
			continue
		}
		switch ph.Field {
		case "photos":
			v.Photos++
		case "evidence":
			v.Evidence++
		default:
			continue
		}
		if !ph.Arrived {
			v.Missing++
		}
	}
	v.EvidenceIncomplete = evidenceIncomplete(v)
	return v
}

// evidenceIncomplete: a hazard needs a photo of the finding, every photo
// uploaded, and from the rectification's submission on a photo of the
// rectification (整改后).
func evidenceIncomplete(v *hazardView) bool {
	submitted := slices.Index(hazardStages, syncproto.StageSubmitted)
	return v.Photos == 0 || v.Missing > 0 || (v.Rank >= submitted && v.Evidence == 0)
}

// hazardStages are the workflow stages in order, from the schema.
var hazardStages = syncproto.HazardStages()
