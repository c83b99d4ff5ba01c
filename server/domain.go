package server

import (
	"context"
	"time"

	"github.com/gridsync/gridsync/syncproto"
)

// DomainService is the inspection domain's side of the server beside the
// sync engine (docs/DOMAIN.md): views the server derives from the synced
// documents, its policy and its own records, and the policy itself. Every
// method takes the caller from ctx (PrincipalFrom) and sees only the
// caller's area; naming an area outside it is ENOTFOUND, exactly like a
// missing one.
type DomainService interface {
	ChecklistService
	InspectionService
	HazardService
	WarningService
	IncidentService
	PatrolService
	PolicyService
}

// PolicyService reads and sets the county policy (docs/DOMAIN.md,
// "Policy").
type PolicyService interface {
	// Policy returns the policy that applies to an area (default the
	// caller's) and where it comes from. Every role reads it: devices
	// and the dashboard show deadlines and the night window from it.
	Policy(ctx context.Context, areaID string) (*PolicyInfo, error)
	// SetPolicy stores body, validated by ParsePolicy and with missing
	// members filled, as the policy of an area (default the caller's): the
	// county's, or an override for an area below it. Only a county admin,
	// for an area inside their own (EFORBIDDEN otherwise): the township
	// station is held to the deadlines it would set. The change is
	// recorded with its author.
	SetPolicy(ctx context.Context, areaID string, body []byte) (*PolicyInfo, error)
	// DeletePolicy removes an area's own policy, so it follows the one
	// above it (or the defaults). Same permission as SetPolicy; ENOTFOUND
	// if the area has none of its own.
	DeletePolicy(ctx context.Context, areaID string) error
}

// PolicyInfo is the policy in force at an area.
type PolicyInfo struct {
	// AreaID is the area asked about.
	AreaID string `json:"area_id"`
	// SourceAreaID is the nearest area at or above it with a stored
	// policy; "" when none has one and the defaults apply.
	SourceAreaID string `json:"source_area_id,omitempty"`
	// Policy is the policy in force, every member filled.
	Policy Policy `json:"policy"`
	// UpdatedAt and UpdatedBy say when and by whom (username) the source
	// policy was last set; UpdatedBy is empty for an imported one.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	UpdatedBy string     `json:"updated_by,omitempty"`
	// Invalid says why the stored policy cannot be used (it was edited
	// outside the API or predates a stricter rule). The server then
	// applies DefaultPolicy, so pushes never fail for it, and logs the
	// fallback at error level once per stored version of the policy; the
	// county should set a valid one.
	Invalid string `json:"invalid,omitempty"`
}

// ChecklistService reads the checklist templates (检查清单).
type ChecklistService interface {
	// Checklists returns templates: the latest version of each kind, or
	// every version (q.AllVersions), optionally of one kind. Unknown kind:
	// an empty list.
	Checklists(ctx context.Context, q ChecklistQuery) ([]*syncproto.Checklist, error)
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
	Tasks(ctx context.Context, q TaskQuery) ([]*syncproto.Task, error)
	// Coverage returns the coverage of an area (default the caller's) and
	// of every area below it, parents first.
	Coverage(ctx context.Context, areaID string) ([]*Coverage, error)
}

// TaskQuery selects tasks.
type TaskQuery struct {
	AreaID string
	// Statuses keeps only these statuses (none: all).
	Statuses []syncproto.CheckStatus
	// At is the moment the statuses are computed for (zero: now).
	At time.Time
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
	// overdue first, with whether they are escalated (挂牌督办) and
	// whether they should be. A covert hazard's deadline is at the latest
	// its report plus the covert limit, even with no deadline set.
	OverdueHazards(ctx context.Context, q HazardQuery) ([]*OverdueHazard, error)
	// Escalations is the supervision list for escalation (挂牌督办): per
	// township at or below the area (default the caller's), the overdue
	// hazards, how many should be escalated and how many are; and the
	// hazards that should be, most overdue first. The server never
	// escalates by itself: the station or the county does, by an op.
	Escalations(ctx context.Context, q HazardQuery) (*EscalationReport, error)
}

// EscalationReport is the county-level escalation list.
type EscalationReport struct {
	Areas   []*EscalationCount `json:"areas"`
	Hazards []*OverdueHazard   `json:"hazards"`
}

// EscalationCount counts an area's overdue hazards.
type EscalationCount struct {
	AreaID string `json:"area_id"`
	Name   string `json:"name"`
	Level  string `json:"level"`
	// Overdue hazards; of them, ShouldEscalate are past the policy's
	// escalate_after_overdue_days and not escalated, Escalated are.
	Overdue        int `json:"overdue"`
	ShouldEscalate int `json:"should_escalate"`
	Escalated      int `json:"escalated"`
}

// HazardQuery selects hazards.
type HazardQuery struct {
	AreaID string
	At     time.Time // zero: now
}

// OverdueHazard is a hazard past its deadline.
type OverdueHazard struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Severity   string    `json:"severity,omitempty"`
	Stage      string    `json:"stage"`
	Round      int       `json:"round"`
	SiteID     string    `json:"site_id"`
	SiteName   string    `json:"site_name,omitempty"`
	AreaID     string    `json:"area_id"`
	Assignee   string    `json:"assignee,omitempty"`
	ReportedAt time.Time `json:"reported_at"` // server time of the report
	Deadline   time.Time `json:"deadline"`
	// CovertLimit: the deadline is the covert limit (report + covert
	// days), earlier than the deadline set, or none was set.
	CovertLimit bool `json:"covert_limit,omitempty"`
	OverdueDays int  `json:"overdue_days"`
	Covert      bool `json:"covert,omitempty"`
	Escalated   bool `json:"escalated"`
	// ShouldEscalate: not escalated, and overdue for at least the
	// policy's escalate_after_overdue_days.
	ShouldEscalate bool   `json:"should_escalate"`
	ReferredTo     string `json:"referred_to,omitempty"`
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
	Body     string    `json:"body,omitempty"`
	Level    string    `json:"level"`
	TargetID string    `json:"target_id"`
	IssuedAt time.Time `json:"issued_at"` // server time
	IssuedBy string    `json:"issued_by"`
	// ValidUntil is the warning's end (the issuer's valid_until), nil if
	// open-ended; Expired says it has passed.
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Expired    bool       `json:"expired"`
	Acked      []*Ack     `json:"acked"`
	// Missing are the expected users (grid workers and village officers
	// at or below the target) who have not acknowledged a warning still in
	// force: the station calls them (应急叫应). Once the warning expired
	// there is nothing left to answer: Missing is empty and Unanswered
	// keeps who never acknowledged, for the record.
	Missing    []*User `json:"missing"`
	Unanswered []*User `json:"unanswered"`
}

// Ack is one user's first acknowledgement of a warning.
type Ack struct {
	Username string    `json:"username"`
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	AreaID   string    `json:"area_id"`
	At       time.Time `json:"at"` // server time of the first acknowledgement
	// Late: acknowledged after the warning expired.
	Late bool `json:"late,omitempty"`
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

// PatrolService reads night patrols (夜查/巡防).
type PatrolService interface {
	// Patrols returns the patrols of an area (default the caller's) whose
	// night falls in q's range, with their check-ins and flags, and for
	// every key-period night in the range the villages without a patrol.
	Patrols(ctx context.Context, q PatrolQuery) (*PatrolReport, error)
}

// PatrolQuery selects patrols by night: a patrol's night is the local date
// (Asia/Shanghai) of its start minus 12 hours, so 22:00 on the 1st and
// 03:00 on the 2nd are both the night of the 1st.
type PatrolQuery struct {
	AreaID string
	// From and To are local dates, YYYY-MM-DD, both included (default:
	// the 7 nights up to the latest night that has begun, tonight once
	// its window has opened); at most MaxPatrolNights.
	From, To string
	// At is the moment the default range is for (zero: now).
	At time.Time
}

// Patrol view limits.
const (
	// MaxPatrolNights bounds a PatrolQuery's range.
	MaxPatrolNights = 92
	// MaxPatrols bounds the patrols of one report (Truncated beyond).
	MaxPatrols = 500
)

// Check-in flags (patrol check-ins are flagged, never refused).
const (
	// FlagOutsideNight: the check-in is outside the night patrol window
	// (22:00–06:00, policy night_patrol_window), on the server's clock.
	FlagOutsideNight = "outside_night_window"
	// FlagOutsideSession: before the patrol started or after it ended.
	FlagOutsideSession = "outside_session"
	// FlagNotMember: checked in by someone not on the patrol (not its
	// author, leader or a member).
	FlagNotMember = "not_member"
)

// PatrolReport is the patrols of an area over a range of nights.
type PatrolReport struct {
	AreaID  string    `json:"area_id"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Patrols []*Patrol `json:"patrols"`
	// Truncated: more than MaxPatrols patrols; narrow the range.
	Truncated bool `json:"truncated,omitempty"`
	// KeyNights are the key-period nights of the range (重点时段), each
	// with the villages that had no patrol that night.
	KeyNights []*KeyNight `json:"key_nights"`
}

// Patrol is one patrol session with its check-ins. Times are on the
// server's clock (the device's, corrected by its clock offset).
type Patrol struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Level     string     `json:"level"`
	AreaID    string     `json:"area_id"`
	Night     string     `json:"night"`
	StartedBy string     `json:"started_by"`
	Leader    string     `json:"leader,omitempty"`
	Members   []string   `json:"members"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// DurationMS is EndedAt − StartedAt; nil while the patrol is open.
	DurationMS *int64     `json:"duration_ms"`
	Checkins   []*Checkin `json:"checkins"`
	// Flagged counts check-ins with at least one flag.
	Flagged int `json:"flagged"`
}

// Checkin is one check-in of a patrol.
type Checkin struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"` // server clock
	By     string    `json:"by"`
	SiteID string    `json:"site_id,omitempty"`
	Note   string    `json:"note,omitempty"`
	Flags  []string  `json:"flags"`
}

// KeyNight is one night of a key period and the villages without a patrol
// that night: a patrol of the village or below it whose session overlaps
// the night window.
type KeyNight struct {
	Night       string     `json:"night"`
	Period      string     `json:"period"`
	Unpatrolled []*AreaRef `json:"unpatrolled"`
}

// AreaRef names an area.
type AreaRef struct {
	AreaID string `json:"area_id"`
	Name   string `json:"name"`
}
