package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gridsync/gridsync/syncproto"
)

// Day is the unit of the policy's intervals and deadlines.
const Day = 24 * time.Hour

// DueSoonDays is how close to the end of its window a site counts as due
// (the demo county has 10 sites due within 3 days at load).
const DueSoonDays = 3

// Policy is a county's inspection policy (policies.body, JSON). An area
// uses the policy of the nearest area at or above it that has one; an
// area with none uses DefaultPolicy. Missing members take the defaults.
type Policy struct {
	// CheckIntervalDays is how often a site must be checked, by risk level
	// (明确检查频次).
	CheckIntervalDays map[string]int `json:"check_interval_days"`
	// CheckIntervalDaysByKind overrides CheckIntervalDays for a site kind:
	// kind → risk level → days (e.g. elderly living alone checked more
	// often than other sites of their level).
	CheckIntervalDaysByKind map[string]map[string]int `json:"check_interval_days_by_kind,omitempty"`
	// HazardDeadlineDays is the rectification deadline the server gives a
	// hazard dispatched without one, by severity.
	HazardDeadlineDays map[string]int `json:"hazard_deadline_days"`
	// CovertVisitDeadlineDays bounds the deadline of a hazard found on a
	// covert visit, from its report (暗访督办15日办结).
	CovertVisitDeadlineDays int `json:"covert_visit_deadline_days"`
	// IncidentReportMinutes is the limit from an incident to its report
	// reaching the server (30分钟以内上报).
	IncidentReportMinutes int `json:"incident_report_minutes"`
}

// DefaultPolicy is the policy of an area without one: the demo county's
// values (fixtures/README.md explains where each comes from).
func DefaultPolicy() Policy {
	return Policy{
		CheckIntervalDays: map[string]int{syncproto.RiskMajor: 7, syncproto.RiskSignificant: 15,
			syncproto.RiskGeneral: 30, syncproto.RiskLow: 90},
		HazardDeadlineDays:      map[string]int{"major": 3, "general": 7},
		CovertVisitDeadlineDays: 15,
		IncidentReportMinutes:   30,
	}
}

// MaxPolicyDays bounds every interval and deadline of a policy.
const MaxPolicyDays = 3660

// ParsePolicy decodes a policy body strictly (an unknown member is a
// typo, EINVALID), fills missing members from DefaultPolicy and checks
// every number is 1..MaxPolicyDays (minutes: 1..1440).
func ParsePolicy(body []byte) (Policy, error) {
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, Errorf(EINVALID, "policy: %v", err)
	}
	def := DefaultPolicy()
	if p.CheckIntervalDays == nil {
		p.CheckIntervalDays = map[string]int{}
	}
	for level, days := range def.CheckIntervalDays {
		if _, ok := p.CheckIntervalDays[level]; !ok {
			p.CheckIntervalDays[level] = days
		}
	}
	if p.HazardDeadlineDays == nil {
		p.HazardDeadlineDays = map[string]int{}
	}
	for sev, days := range def.HazardDeadlineDays {
		if _, ok := p.HazardDeadlineDays[sev]; !ok {
			p.HazardDeadlineDays[sev] = days
		}
	}
	if p.CovertVisitDeadlineDays == 0 {
		p.CovertVisitDeadlineDays = def.CovertVisitDeadlineDays
	}
	if p.IncidentReportMinutes == 0 {
		p.IncidentReportMinutes = def.IncidentReportMinutes
	}
	return p, p.validate()
}

func (p Policy) validate() error {
	days := func(what string, n int) error {
		if n < 1 || n > MaxPolicyDays {
			return Errorf(EINVALID, "policy: %s is %d days, want 1..%d", what, n, MaxPolicyDays)
		}
		return nil
	}
	for level, n := range p.CheckIntervalDays {
		if err := days("check_interval_days."+level, n); err != nil {
			return err
		}
	}
	for kind, levels := range p.CheckIntervalDaysByKind {
		for level, n := range levels {
			if err := days(fmt.Sprintf("check_interval_days_by_kind.%s.%s", kind, level), n); err != nil {
				return err
			}
		}
	}
	for sev, n := range p.HazardDeadlineDays {
		if err := days("hazard_deadline_days."+sev, n); err != nil {
			return err
		}
	}
	if err := days("covert_visit_deadline_days", p.CovertVisitDeadlineDays); err != nil {
		return err
	}
	if p.IncidentReportMinutes < 1 || p.IncidentReportMinutes > 1440 {
		return Errorf(EINVALID, "policy: incident_report_minutes is %d, want 1..1440", p.IncidentReportMinutes)
	}
	return nil
}

// CheckIntervalDaysFor returns how often a site of kind and risk level
// must be checked. A site not yet graded is checked as general.
func (p Policy) CheckIntervalDaysFor(kind, risk string) int {
	if risk == "" {
		risk = syncproto.RiskGeneral
	}
	if n, ok := p.CheckIntervalDaysByKind[kind][risk]; ok {
		return n
	}
	if n, ok := p.CheckIntervalDays[risk]; ok {
		return n
	}
	return DefaultPolicy().CheckIntervalDays[syncproto.RiskGeneral]
}

// HazardDeadline returns the default rectification time of a hazard of
// severity ("" = general).
func (p Policy) HazardDeadline(severity string) time.Duration {
	n, ok := p.HazardDeadlineDays[severity]
	if !ok {
		n = p.HazardDeadlineDays["general"]
	}
	return time.Duration(n) * Day
}

// CovertDeadline is the longest a hazard from a covert visit may take,
// from its report to its deadline.
func (p Policy) CovertDeadline() time.Duration {
	return time.Duration(p.CovertVisitDeadlineDays) * Day
}

// IncidentLimit is the longest an incident report may take from the
// incident to the server.
func (p Policy) IncidentLimit() time.Duration {
	return time.Duration(p.IncidentReportMinutes) * time.Minute
}

// CheckStatus says where a site stands in its check window.
type CheckStatus string

// Check statuses. Age is counted in whole days since the last check
// (floor), so a site checked exactly its interval ago is still in its
// window that day.
const (
	// CheckOK: checked within the window, more than DueSoonDays left.
	CheckOK CheckStatus = "ok"
	// CheckDue: checked within the window, at most DueSoonDays left.
	CheckDue CheckStatus = "due"
	// CheckOverdue: the last check is older than the interval.
	CheckOverdue CheckStatus = "overdue"
	// CheckNever: no check on record.
	CheckNever CheckStatus = "never"
)

// Covered reports whether a site with this status counts toward the
// coverage rate (checked within its window).
func (s CheckStatus) Covered() bool { return s == CheckOK || s == CheckDue }

// SiteCheck is the check status of one site at a moment.
type SiteCheck struct {
	Status CheckStatus
	// AgeDays is whole days since the last check; -1 if never checked.
	AgeDays int
	// DueAt is the end of the last day of the window (last check +
	// interval + 1 day): the site is overdue from then on. Zero if never
	// checked (due now).
	DueAt time.Time
}

// CheckSite computes the status of a site last checked at last (zero:
// never) with a window of intervalDays, at now.
func CheckSite(last time.Time, intervalDays int, now time.Time) SiteCheck {
	if last.IsZero() {
		return SiteCheck{Status: CheckNever, AgeDays: -1}
	}
	age := int(now.Sub(last) / Day)
	if now.Before(last) {
		age = 0
	}
	c := SiteCheck{AgeDays: age, DueAt: last.Add(time.Duration(intervalDays+1) * Day)}
	switch {
	case age > intervalDays:
		c.Status = CheckOverdue
	case intervalDays-age <= DueSoonDays:
		c.Status = CheckDue
	default:
		c.Status = CheckOK
	}
	return c
}
