package server

import (
	"context"
	"time"
)

// DomainService is the read side of the inspection domain
// (docs/DOMAIN.md): views the server derives from the synced documents,
// its policy and its own records. Every method takes the caller from ctx
// (PrincipalFrom) and sees only the caller's area; naming an area outside
// it is ENOTFOUND, exactly like a missing one.
type DomainService interface {
	ChecklistService
	InspectionService
	HazardService
	WarningService
	IncidentService
}

// ChecklistService reads the checklist templates (检查清单).
type ChecklistService interface {
	// Checklists returns templates: the latest version of each kind, or
	// every version (q.AllVersions), optionally of one kind. Unknown kind:
	// an empty list.
	Checklists(ctx context.Context, q ChecklistQuery) ([]*Checklist, error)
}

// ChecklistQuery selects checklist templates.
type ChecklistQuery struct {
	Kind        string
	AllVersions bool
}

// InspectionService derives what is due from the sites, their risk
// levels, the policy and the latest check of each site.
type InspectionService interface {
	// Tasks lists the sites of an area (q.AreaID, default the caller's)
	// with their check status, most urgent first: overdue (most days
	// over first), never checked, due, then ok. It is a grid worker's
	// task list.
	Tasks(ctx context.Context, q TaskQuery) ([]*Task, error)
	// Coverage returns the coverage of an area (default the caller's) and
	// of every area below it, parents first.
	Coverage(ctx context.Context, areaID string) ([]*Coverage, error)
}

// TaskQuery selects tasks.
type TaskQuery struct {
	AreaID string
	// Statuses keeps only these statuses (none: all).
	Statuses []CheckStatus
	// At is the moment the statuses are computed for (zero: now).
	At time.Time
}

// Task is one site to check: where it stands in its check window.
type Task struct {
	SiteID       string      `json:"site_id"`
	SiteName     string      `json:"site_name"`
	Kind         string      `json:"kind"`
	RiskLevel    string      `json:"risk_level,omitempty"`
	AreaID       string      `json:"area_id"`
	Address      string      `json:"address,omitempty"`
	IntervalDays int         `json:"interval_days"`
	Status       CheckStatus `json:"status"`
	// LastCheckedAt is the latest check: an inspection's finished_at (the
	// device's time, never later than the server received it), or the
	// imported history. Nil if never checked.
	LastCheckedAt *time.Time `json:"last_checked_at,omitempty"`
	// LastInspection is the id of that inspection ("" for history).
	LastInspection string `json:"last_inspection,omitempty"`
	// AgeDays is whole days since the last check, -1 if never.
	AgeDays int `json:"age_days"`
	// DueAt is when the site becomes overdue; nil if never checked.
	DueAt *time.Time `json:"due_at,omitempty"`
}

// Coverage is the share of an area's sites checked within their window
// (覆盖率, target 100%).
type Coverage struct {
	AreaID  string `json:"area_id"`
	Name    string `json:"name"`
	Level   string `json:"level"`
	Parent  string `json:"parent,omitempty"`
	Sites   int    `json:"sites"`
	OK      int    `json:"ok"`
	Due     int    `json:"due"`
	Overdue int    `json:"overdue"`
	Never   int    `json:"never"`
	// Covered is OK + Due.
	Covered int `json:"covered"`
	// Rate is Covered / Sites; nil for an area without sites.
	Rate *float64 `json:"rate"`
}

// HazardService reads the hazard loop's supervision lists.
type HazardService interface {
	// OverdueHazards lists hazards of an area (default the caller's) whose
	// deadline has passed before rectification was submitted, most
	// overdue first, with whether they are escalated (挂牌督办).
	OverdueHazards(ctx context.Context, q HazardQuery) ([]*OverdueHazard, error)
}

// HazardQuery selects hazards.
type HazardQuery struct {
	AreaID string
	At     time.Time // zero: now
}

// OverdueHazard is a hazard past its deadline.
type OverdueHazard struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Severity    string    `json:"severity,omitempty"`
	Stage       string    `json:"stage"`
	Round       int       `json:"round"`
	SiteID      string    `json:"site_id"`
	SiteName    string    `json:"site_name,omitempty"`
	AreaID      string    `json:"area_id"`
	Assignee    string    `json:"assignee,omitempty"`
	Deadline    time.Time `json:"deadline"`
	OverdueDays int       `json:"overdue_days"`
	Covert      bool      `json:"covert,omitempty"`
	Escalated   bool      `json:"escalated"`
	ReferredTo  string    `json:"referred_to,omitempty"`
}

// WarningService reads who has acknowledged warnings (应急叫应).
type WarningService interface {
	// WarningAcks returns, per warning in the caller's area (or the one
	// warning id, ENOTFOUND if not visible), who has acknowledged it and
	// which grid workers and village officers at or below its target have
	// not. Newest warnings first, at most MaxWarningStatus.
	WarningAcks(ctx context.Context, warningID string) ([]*WarningStatus, error)
}

// MaxWarningStatus bounds WarningAcks.
const MaxWarningStatus = 100

// WarningStatus is one warning with its acknowledgements.
type WarningStatus struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Level    string    `json:"level"`
	TargetID string    `json:"target_id"`
	IssuedAt time.Time `json:"issued_at"` // server time
	IssuedBy string    `json:"issued_by"`
	Acked    []*Ack    `json:"acked"`
	Missing  []*User   `json:"missing"`
}

// Ack is one user's first acknowledgement of a warning.
type Ack struct {
	Username string    `json:"username"`
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	AreaID   string    `json:"area_id"`
	At       time.Time `json:"at"` // server time of the first acknowledgement
}

// IncidentService reads incident quick reports with their delays.
type IncidentService interface {
	// Incidents lists incident reports of the caller's area, newest first,
	// at most limit (0: MaxIncidents).
	Incidents(ctx context.Context, limit int) ([]*Incident, error)
}

// MaxIncidents bounds Incidents.
const MaxIncidents = 500

// Incident is an incident report and how long it took to arrive.
type Incident struct {
	ID         string     `json:"id"`
	Title      string     `json:"title"`
	AreaID     string     `json:"area_id"`
	ReportedBy string     `json:"reported_by"`
	OccurredAt time.Time  `json:"occurred_at"` // device time
	ReportedAt *time.Time `json:"reported_at,omitempty"`
	ReceivedAt time.Time  `json:"received_at"` // server time
	// ClockOffsetMS is the reporting device's clock minus the server's.
	ClockOffsetMS int64 `json:"clock_offset_ms"`
	// DelayMS is ReceivedAt minus OccurredAt corrected to server time.
	DelayMS int64 `json:"delay_ms"`
	LimitMS int64 `json:"limit_ms"`
	// Late is DelayMS > LimitMS (30分钟以内上报 missed).
	Late bool `json:"late"`
}
