package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
)

// Thresholds of the overview's attention lists.
const (
	// StaleDeviceAfter: a device that has not synced for this long is
	// listed (a phone in a village without signal, or a worker who stopped).
	StaleDeviceAfter = 3 * 24 * time.Hour
	// OldPendingAfter: a device holding an unsynced operation this old.
	OldPendingAfter = 24 * time.Hour
	// IncidentReportLimit is the seeds' 30-minute quick-report rule.
	IncidentReportLimit = 30 * time.Minute
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

type incidentView struct {
	ID, Title, Place string
	OccurredAt       time.Time
	ReceivedAt       time.Time
	Late             bool
	Delay            time.Duration
}

// overview: GET /, 总览.
func (h *Handler) overview(w http.ResponseWriter, r *request) error {
	ctx, p := r.Context(), r.p()
	hs, err := h.loadHazards(ctx, p, "")
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
		if now.Sub(v.ReportedAt) < 24*time.Hour {
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
	incidents, err := h.incidents(r, now)
	if err != nil {
		return err
	}
	data := map[string]any{
		"Cards": cards, "Table": table, "Total": total, "Stages": hazardStages, "Latest": latest,
		"Alerts": alerts, "Conflicts": len(conflicts), "HasEscalate": h.feat.escalate != "",
		"HasIncidents": h.feat.incident != nil, "Incidents": incidents, "HasWarnings": h.feat.warnings != nil,
		"After": hs.maxSeq, "Live": true, "Now": now,
	}
	h.render(w, r.Request, r.sess, http.StatusOK, "overview", "总览", data)
	return nil
}

// incidents lists the incident quick reports (事故险情快报) of the last 24
// hours and flags those that reached the server more than 30 minutes after
// they occurred, when the schema declares an incidents collection.
func (h *Handler) incidents(r *request, now time.Time) ([]incidentView, error) {
	c := h.feat.incident
	if c == nil {
		return nil, nil
	}
	rows, err := h.svc.Dashboard.Docs(r.Context(), server.DocQuery{Collection: c.Name, Limit: 500})
	if err != nil {
		return nil, err
	}
	occurred := firstField(c, "occurred_at", "happened_at")
	title := firstField(c, "title", "description", "summary")
	place := firstField(c, "address", "place", "location")
	var out []incidentView
	for _, d := range rows {
		if now.Sub(d.CreatedAt) > 24*time.Hour {
			continue
		}
		v := incidentView{ID: d.State.ID, ReceivedAt: d.CreatedAt, Title: strField(d.State, title)}
		if place != "" {
			if raw, ok := d.State.Value(place); ok {
				v.Place = valueText(place, raw)
			}
		}
		if occurred != "" {
			v.OccurredAt = timeField(d.State, occurred)
		}
		if !v.OccurredAt.IsZero() {
			v.Delay = d.CreatedAt.Sub(v.OccurredAt)
			v.Late = v.Delay > IncidentReportLimit
		}
		out = append(out, v)
	}
	return out, nil
}
