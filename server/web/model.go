package web

import (
	"context"
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
	Overdue                          bool
	OverdueDays                      int
	Escalated, Referred              bool
	Photos, PhotosMissing            int
	EvidenceIncomplete               bool
	Row                              *server.DocRow
}

// Open reports whether the hazard is not yet closed (销号).
func (v *hazardView) Open() bool { return v.Stage != syncproto.StageClosed }

// features are the optional parts of the schema the dashboard uses when
// the server declares them (the domain's escalation and referral fields,
// warnings, incidents).
type features struct {
	escalate string // hazards flag field for 挂牌督办
	refer    string // hazards field for 抄告
	warnings *syncproto.Collection
	incident *syncproto.Collection
}

func detectFeatures(s *syncproto.Schema) features {
	var f features
	if hz, ok := s.Collection("hazards"); ok {
		f.escalate = firstField(hz, "escalated", "escalated_at")
		f.refer = firstField(hz, "referred_to", "referred", "referred_at")
	}
	f.warnings, _ = s.Collection("warnings")
	if c, ok := s.Collection("incidents"); ok {
		f.incident = c
	}
	return f
}

func firstField(c *syncproto.Collection, names ...string) string {
	for _, n := range names {
		if f, ok := c.Field(n); ok && f.Kind == syncproto.KindLWW {
			return n
		}
	}
	return ""
}

// hazardSet is the hazards of an area with their sites and photos.
type hazardSet struct {
	areas   *areaIndex
	sites   map[string]*siteView
	hazards []*hazardView
	maxSeq  int64
}

// loadHazards reads the hazards, sites and photo references of the caller's
// area (narrowed to areaPath if set).
func (h *Handler) loadHazards(ctx context.Context, p *server.Principal, areaPath string) (*hazardSet, error) {
	ai, err := h.areaIndex(ctx, p)
	if err != nil {
		return nil, err
	}
	hs := &hazardSet{areas: ai, sites: map[string]*siteView{}}
	sites, err := h.svc.Dashboard.Docs(ctx, server.DocQuery{Collection: "sites", AreaPath: areaPath})
	if err != nil {
		return nil, err
	}
	for _, d := range sites {
		hs.sites[d.State.ID] = newSiteView(d, ai)
	}
	rows, err := h.svc.Dashboard.Docs(ctx, server.DocQuery{Collection: "hazards", AreaPath: areaPath})
	if err != nil {
		return nil, err
	}
	photos, err := h.svc.Dashboard.Photos(ctx, "hazards", nil)
	if err != nil {
		return nil, err
	}
	byDoc := map[string][]*server.PhotoRef{}
	for _, ph := range photos {
		byDoc[ph.DocID] = append(byDoc[ph.DocID], ph)
	}
	now := h.now()
	for _, d := range rows {
		hs.hazards = append(hs.hazards, h.newHazardView(d, hs.sites, ai, byDoc[d.State.ID], now))
		hs.maxSeq = max(hs.maxSeq, d.CreatedSeq)
	}
	return hs, nil
}

func (h *Handler) newHazardView(d *server.DocRow, sites map[string]*siteView, ai *areaIndex, photos []*server.PhotoRef, now time.Time) *hazardView {
	s := d.State
	v := &hazardView{ID: s.ID, Title: strField(s, "title"), Description: strField(s, "description"),
		Severity: strField(s, "severity"), Deadline: timeField(s, "deadline"), Assignee: strField(s, "assignee"),
		Village: ai.at(d.AreaPath, server.LevelVillage), Grid: ai.at(d.AreaPath, server.LevelGrid),
		ReportedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, ReportedBy: d.CreatedBy, Row: d}
	if st, ok := s.Status("status"); ok {
		v.Stage, v.Rank, v.Round = st.Stage, st.Rank, st.Round
	}
	if site, ok := sites[strField(s, "site")]; ok {
		v.Site = site
	} else {
		v.Site = &siteView{ID: strField(s, "site"), Name: strField(s, "site"), Village: v.Village, Grid: v.Grid}
	}
	verified := slices.Index(hazardStages, syncproto.StageVerified)
	if !v.Deadline.IsZero() && v.Deadline.Before(now) && v.Rank < verified {
		v.Overdue = true
		v.OverdueDays = int(now.Sub(v.Deadline).Hours()/24) + 1
	}
	if f := h.feat.escalate; f != "" {
		v.Escalated = truthy(s, f)
	}
	if f := h.feat.refer; f != "" {
		v.Referred = truthy(s, f)
	}
	live := map[string]bool{}
	for _, e := range s.Elements("photos") {
		live[e] = true
	}
	v.Photos = len(live)
	for _, ph := range photos {
		if live[ph.SHA256] && ph.Known && !ph.Arrived {
			v.PhotosMissing++
		}
	}
	v.EvidenceIncomplete = v.Photos == 0 || v.PhotosMissing > 0
	return v
}

// hazardStages are the workflow stages in order, from the schema.
var hazardStages = []string{syncproto.StageReported, syncproto.StageDispatched, syncproto.StageRectifying,
	syncproto.StageSubmitted, syncproto.StageVerified, syncproto.StageClosed}
