package syncproto

import (
	"cmp"
	"strings"
	"time"
)

// The lists the server computes for devices to keep offline: checklist
// templates and the task list of an area. They are wire types like those
// of wire.go, shared by the server and the device SDK.

// Checklist is a versioned checklist template (检查清单) for one site kind
// (GET /v1/checklists, and the import format). An inspection names the kind
// and version it used; the server accepts every version it ever published.
type Checklist struct {
	Kind    string          `json:"kind"`
	Version int             `json:"version"`
	Title   string          `json:"title"`
	Items   []ChecklistItem `json:"items"`
}

// ChecklistItem is one line of a checklist.
type ChecklistItem struct {
	Code     string `json:"code"`
	Text     string `json:"text"`
	Severity string `json:"severity"` // major or general: the severity of the hazard a failure is
	Basis    string `json:"basis,omitempty"`
}

// Task is one site to check and where it stands in its check window
// (GET /v1/tasks). A device keeps the list and recomputes Status, AgeDays
// and DueAt offline with CheckSite.
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
	// SubKind is which of the nine small places a nine_small site is
	// ("" when not given yet).
	SubKind string `json:"sub_kind,omitempty"`
}

// urgency orders check statuses for a task list.
var urgency = map[CheckStatus]int{CheckOverdue: 0, CheckNever: 1, CheckDue: 2, CheckOK: 3}

// CompareTasks orders a task list most urgent first: by status (overdue,
// never checked, due, ok), then the longest overdue (the oldest check)
// first, then by name and id.
func CompareTasks(a, b *Task) int {
	return cmp.Or(
		cmp.Compare(urgency[a.Status], urgency[b.Status]),
		cmp.Compare(b.AgeDays-b.IntervalDays, a.AgeDays-a.IntervalDays),
		strings.Compare(a.SiteName, b.SiteName),
		strings.Compare(a.SiteID, b.SiteID),
	)
}
