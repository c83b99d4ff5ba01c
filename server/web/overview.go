package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// Thresholds of the overview's attention lists.
const (
	// StaleDeviceAfter: a device that has not synced for this long is
	// listed (a phone in a village without signal, or a worker who stopped).
	StaleDeviceAfter = 3 * 24 * time.Hour
	// OldPendingAfter: a device holding an unsynced operation this old.
	OldPendingAfter = 24 * time.Hour
	// RecentIncidents: the overview lists every incident report received
	// this recently...
	RecentIncidents = 24 * time.Hour
	// LateIncidentWindow: ...and the reports that missed the 30-minute rule
	// (30分钟以内上报) received this recently, so a late one stays in view
	// after its first day until the station has followed it up.
	LateIncidentWindow = 30 * 24 * time.Hour
	// NewHazardWindow is the "24 小时内新上报" card's period.
	NewHazardWindow = 24 * time.Hour
)

// statusCount is one row of the hazards-by-status table.
type statusCount struct {
	Area     *server.Area
	Grid     bool
	ByStage  map[string]int
	Open     int
	Overdue  int
	Total    int
	Children []*statusCount
}

func (c *statusCount) add(v *hazardView) {
	c.ByStage[v.Stage]++
	c.Total++
	if v.Open() {
		c.Open++
	}
	if v.Overdue {
		c.Overdue++
	}
}

type deviceAlert struct {
	D      *server.DeviceStatus
	Reason string
}

// incidentView is an incident quick report (事故险情快报) with its place.
type incidentView struct {
	*server.Incident
	Village, Grid *server.Area
	Reporter      string
	Delay         time.Duration
	// Occurred is occurred_at on the server's clock (the phone's value
	// corrected by its clock offset); PhoneOff is set when the phone's
	// clock was off by a minute or more, to show its own reading too.
	Occurred time.Time
	PhoneOff bool
}

// coverageRow is one area's coverage (覆盖率), indented by its depth
// below the caller's area.
type coverageRow struct {
	*server.Coverage
	Depth int
	// Links to the sites page narrowed to the area (all, overdue, never
	// checked); empty for an area the page cannot narrow to (a township
	// in the county's view).
	Link, OverdueLink, NeverLink string
}

// overview: GET /, 总览.
func (h *Handler) overview(w http.ResponseWriter, r *request) error {
	ctx, p := r.Context(), r.p()
	hs, err := h.loadHazards(ctx, p, server.DocQuery{})
	if err != nil {
		return err
	}
	now := h.now()
	cards := map[string]int{}
	rows := map[string]*statusCount{}
	var table []*statusCount
	for _, vl := range hs.areas.villages {
		vc := &statusCount{Area: vl, ByStage: map[string]int{}}
		rows[vl.ID] = vc
		table = append(table, vc)
		for _, g := range hs.areas.gridsOf(vl.Path) {
			gc := &statusCount{Area: g, Grid: true, ByStage: map[string]int{}}
			rows[g.ID] = gc
			vc.Children = append(vc.Children, gc)
		}
	}
	total := &statusCount{Area: &server.Area{Name: "合计"}, ByStage: map[string]int{}}
	for _, v := range hs.hazards {
		total.add(v)
		if c := rows[v.Village.ID]; c != nil {
			c.add(v)
		}
		if c := rows[v.Grid.ID]; c != nil {
			c.add(v)
		}
		if v.Open() {
			cards["open"]++
			if v.Severity == "major" {
				cards["major"]++
			}
		}
		if v.Overdue {
			cards["overdue"]++
		}
		if v.Escalated && v.Open() {
			cards["escalated"]++
		}
		if v.EvidenceIncomplete && v.Open() {
			cards["incomplete"]++
		}
		if now.Sub(v.ReportedAt) < NewHazardWindow {
			cards["new24h"]++
		}
	}
	latest := slices.Clone(hs.hazards)
	sortHazards(latest, "")
	latest = latest[:min(len(latest), 8)]

	devices, err := h.svc.Sync.Devices(ctx)
	if err != nil {
		return err
	}
	var alerts []deviceAlert
	for _, d := range devices {
		if d.Revoked || strings.HasPrefix(d.ID, "web-") || strings.HasPrefix(d.ID, "import-") {
			continue
		}
		switch {
		case d.LastSyncAt == nil:
			alerts = append(alerts, deviceAlert{d, "登录后从未同步"})
		case now.Sub(*d.LastSyncAt) > StaleDeviceAfter:
			alerts = append(alerts, deviceAlert{d, fmtAge(now.Sub(*d.LastSyncAt)) + "未同步"})
		case d.OutboxPending > 0 && time.Duration(d.OutboxOldestMS)*time.Millisecond > OldPendingAfter:
			alerts = append(alerts, deviceAlert{d, "有 " + strconv.Itoa(d.OutboxPending) + " 条操作积压 " + fmtAge(time.Duration(d.OutboxOldestMS)*time.Millisecond)})
		}
	}
	conflicts, err := h.svc.Sync.Conflicts(ctx, server.ConflictFilter{OpenOnly: true})
	if err != nil {
		return err
	}
	incidents, err := h.incidents(ctx, hs.areas, now)
	if err != nil {
		return err
	}
	coverage, err := h.coverage(ctx)
	if err != nil {
		return err
	}
	warnings, err := h.svc.Domain.WarningAcks(ctx, "")
	if err != nil {
		return err
	}
	var unacked []*server.WarningStatus
	for _, ws := range warnings {
		if len(ws.Missing) > 0 {
			unacked = append(unacked, ws)
			cards["unacked"]++
			cards["unackedPeople"] += len(ws.Missing)
		}
	}
	data := map[string]any{
		"Cards": cards, "Table": table, "Total": total, "Stages": hazardStages, "Latest": latest,
		"Alerts": alerts, "Conflicts": len(conflicts), "Incidents": incidents, "Coverage": coverage,
		"Unacked": unacked[:min(len(unacked), 5)], "AreaNames": hs.areas.names(),
		"After": hs.maxSeq, "Live": true, "LiveQuery": "status=all", "Now": now,
	}
	h.render(w, r.Request, r.sess, http.StatusOK, "overview", "总览", data)
	return nil
}

// incidents lists the incident quick reports (事故险情快报) received in
// the last RecentIncidents, and the late ones of the last
// LateIncidentWindow, with the domain's delays: received − (occurred −
// the device's clock offset), so a phone with a wrong clock neither hides
// nor invents a late report.
func (h *Handler) incidents(ctx context.Context, ai *areaIndex, now time.Time) ([]incidentView, error) {
	list, err := h.svc.Domain.Incidents(ctx, 0)
	if err != nil {
		return nil, err
	}
	users, err := h.userNames(ctx)
	if err != nil {
		return nil, err
	}
	var out []incidentView
	for _, in := range list {
		if !showIncident(in, now) {
			continue
		}
		off := time.Duration(in.ClockOffsetMS) * time.Millisecond
		v := incidentView{Incident: in, Delay: time.Duration(in.DelayMS) * time.Millisecond, Reporter: in.ReportedBy,
			Occurred: in.OccurredAt.Add(-off), PhoneOff: off >= time.Minute || off <= -time.Minute}
		if n, ok := users[in.ReportedBy]; ok {
			v.Reporter = n
		}
		if a, ok := ai.byID[in.AreaID]; ok {
			v.Village, v.Grid = ai.at(a.Path, server.LevelVillage), ai.at(a.Path, server.LevelGrid)
		} else {
			v.Village, v.Grid = &server.Area{Name: "—"}, &server.Area{Name: "—"}
		}
		out = append(out, v)
	}
	return out, nil
}

// showIncident: every report of the last RecentIncidents, and the late
// ones of the last LateIncidentWindow.
func showIncident(in *server.Incident, now time.Time) bool {
	age := now.Sub(in.ReceivedAt)
	return age <= RecentIncidents || in.Late && age <= LateIncidentWindow
}

// coverage returns the caller's coverage rows: the area itself first, then
// every area below it in tree order.
func (h *Handler) coverage(ctx context.Context) ([]coverageRow, error) {
	list, err := h.svc.Domain.Coverage(ctx, "")
	if err != nil {
		return nil, err
	}
	byParent := map[string][]*server.Coverage{}
	var roots []*server.Coverage
	ids := map[string]bool{}
	for _, c := range list {
		ids[c.AreaID] = true
	}
	for _, c := range list {
		if ids[c.Parent] {
			byParent[c.Parent] = append(byParent[c.Parent], c)
		} else {
			roots = append(roots, c)
		}
	}
	var out []coverageRow
	var walk func(c *server.Coverage, depth int)
	walk = func(c *server.Coverage, depth int) {
		row := coverageRow{Coverage: c, Depth: depth}
		q := url.Values{}
		switch {
		case c.Level == server.LevelVillage:
			q.Set("village", c.AreaID)
		case c.Level == server.LevelGrid:
			q.Set("village", c.Parent) // a grid's parent is its village
			q.Set("grid", c.AreaID)
		case depth > 0:
			q = nil
		}
		if q != nil {
			row.Link = "/sites?" + q.Encode()
			q.Set("status", string(syncproto.CheckOverdue))
			row.OverdueLink = "/sites?" + q.Encode()
			q.Set("status", string(syncproto.CheckNever))
			row.NeverLink = "/sites?" + q.Encode()
		}
		out = append(out, row)
		for _, child := range byParent[c.AreaID] {
			walk(child, depth+1)
		}
	}
	for _, c := range roots {
		walk(c, 0)
	}
	return out, nil
}

// coveragePage: GET /coverage, 检查覆盖率 by township, village and grid.
func (h *Handler) coveragePage(w http.ResponseWriter, r *request) error {
	rows, err := h.coverage(r.Context())
	if err != nil {
		return err
	}
	h.render(w, r.Request, r.sess, http.StatusOK, "coverage", "检查覆盖率", map[string]any{"Rows": rows, "DueSoon": syncproto.DueSoonDays})
	return nil
}

// userNames maps the usernames of the caller's area to display names.
func (h *Handler) userNames(ctx context.Context) (map[string]string, error) {
	users, err := h.svc.Dashboard.Users(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(users))
	for _, u := range users {
		names[u.Username] = u.Name
	}
	return names, nil
}
