package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridsync/gridsync/syncproto"
)

// Day is the unit of the policy's intervals and deadlines.
const Day = syncproto.Day

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
	// EscalateAfterOverdueDays is how many days past its deadline an
	// unescalated hazard is flagged for escalation (挂牌督办). The server
	// flags it in the overdue views; the station or county escalates.
	EscalateAfterOverdueDays int `json:"escalate_after_overdue_days"`
	// NightPatrolWindow is the night patrols' hours, county local time
	// (每日22时至次日6时); check-ins outside it are flagged.
	NightPatrolWindow TimeWindow `json:"night_patrol_window"`
	// KeyPeriods are the key periods and special times (重点时段或特殊时期)
	// in which every village patrols every night.
	KeyPeriods []KeyPeriod `json:"key_periods,omitempty"`
}

// TimeWindow is a daily window of local time, "HH:MM" to "HH:MM"; an end
// at or before the start is on the next day (22:00–06:00).
type TimeWindow struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// KeyPeriod is a key period: local dates From to To, both included.
type KeyPeriod struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// CountyTime is the counties' local time (Asia/Shanghai). China has kept
// UTC+8 without daylight saving since 1991, so a fixed zone is exact and
// needs no time zone database on the server.
var CountyTime = time.FixedZone("Asia/Shanghai", 8*60*60)

// Policy limits besides MaxPolicyDays. The seeds fix two upper bounds that
// a county may tighten but not loosen.
const (
	// MaxCovertVisitDeadlineDays: 暗访督办15日办结.
	MaxCovertVisitDeadlineDays = 15
	// MaxIncidentReportMinutes: 30分钟以内上报.
	MaxIncidentReportMinutes = 30
	// MaxKeyPeriods bounds a policy's key periods, MaxKeyPeriodDays each
	// one's length and MaxKeyPeriodName its name (runes).
	MaxKeyPeriods     = 50
	MaxKeyPeriodDays  = 366
	MaxKeyPeriodName  = 50
	MaxPolicyBodySize = 64 << 10
)

// DefaultPolicy is the policy of an area without one: the demo county's
// values (fixtures/README.md explains where each comes from).
func DefaultPolicy() Policy {
	return Policy{
		CheckIntervalDays: map[string]int{syncproto.RiskMajor: 7, syncproto.RiskSignificant: 15,
			syncproto.RiskGeneral: 30, syncproto.RiskLow: 90},
		HazardDeadlineDays:       map[string]int{"major": 3, "general": 7},
		CovertVisitDeadlineDays:  15,
		IncidentReportMinutes:    30,
		EscalateAfterOverdueDays: 7,
		NightPatrolWindow:        TimeWindow{Start: "22:00", End: "06:00"},
	}
}

// MaxPolicyDays bounds every interval and deadline of a policy.
const MaxPolicyDays = 3660

// ParsePolicy decodes a policy body strictly (an unknown member is a
// typo, EINVALID; so is anything after the object), fills missing members
// from DefaultPolicy and checks every limit: days 1..MaxPolicyDays, the
// covert limit at most 15 days and the incident limit at most 30 minutes
// (the seeds' maxima), a night window of two distinct "HH:MM", key periods
// with a name and from <= to within MaxKeyPeriodDays.
func ParsePolicy(body []byte) (Policy, error) {
	var p Policy
	if len(body) > MaxPolicyBodySize {
		return Policy{}, Errorf(ETOOLARGE, "policy: %d bytes, at most %d", len(body), MaxPolicyBodySize)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, Errorf(EINVALID, "policy: %v", err)
	}
	if dec.More() {
		return Policy{}, Errorf(EINVALID, "policy: more than one JSON value")
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
	if p.EscalateAfterOverdueDays == 0 {
		p.EscalateAfterOverdueDays = def.EscalateAfterOverdueDays
	}
	if p.NightPatrolWindow == (TimeWindow{}) {
		p.NightPatrolWindow = def.NightPatrolWindow
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
	if n := p.CovertVisitDeadlineDays; n < 1 || n > MaxCovertVisitDeadlineDays {
		return Errorf(EINVALID, "policy: covert_visit_deadline_days is %d, want 1..%d (暗访督办15日办结)", n, MaxCovertVisitDeadlineDays)
	}
	if n := p.IncidentReportMinutes; n < 1 || n > MaxIncidentReportMinutes {
		return Errorf(EINVALID, "policy: incident_report_minutes is %d, want 1..%d (30分钟以内上报)", n, MaxIncidentReportMinutes)
	}
	if err := days("escalate_after_overdue_days", p.EscalateAfterOverdueDays); err != nil {
		return err
	}
	start, err1 := clockMinutes(p.NightPatrolWindow.Start)
	end, err2 := clockMinutes(p.NightPatrolWindow.End)
	if err := errors.Join(err1, err2); err != nil || start == end {
		return Errorf(EINVALID, "policy: night_patrol_window wants two different times of day \"HH:MM\", got %q to %q", p.NightPatrolWindow.Start, p.NightPatrolWindow.End)
	}
	if len(p.KeyPeriods) > MaxKeyPeriods {
		return Errorf(EINVALID, "policy: %d key_periods, at most %d", len(p.KeyPeriods), MaxKeyPeriods)
	}
	for i, k := range p.KeyPeriods {
		from, err1 := time.ParseInLocation(time.DateOnly, k.From, CountyTime)
		to, err2 := time.ParseInLocation(time.DateOnly, k.To, CountyTime)
		switch n := utf8.RuneCountInString(strings.TrimSpace(k.Name)); {
		case n == 0 || n > MaxKeyPeriodName:
			return Errorf(EINVALID, "policy: key_periods[%d] needs a name of 1..%d characters", i, MaxKeyPeriodName)
		case errors.Join(err1, err2) != nil:
			return Errorf(EINVALID, "policy: key_periods[%d] (%s): from and to are dates YYYY-MM-DD", i, k.Name)
		case to.Before(from) || to.Sub(from) >= MaxKeyPeriodDays*Day:
			return Errorf(EINVALID, "policy: key_periods[%d] (%s): %s to %s, want from <= to within %d days", i, k.Name, k.From, k.To, MaxKeyPeriodDays)
		}
	}
	return nil
}

// clockMinutes parses "HH:MM" (00:00..23:59) into minutes after midnight.
func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("time of day %q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// InNightWindow reports whether t falls in the night patrol window, in
// county local time.
func (p Policy) InNightWindow(t time.Time) bool {
	start, _ := clockMinutes(p.NightPatrolWindow.Start)
	end, _ := clockMinutes(p.NightPatrolWindow.End)
	local := t.In(CountyTime)
	m := local.Hour()*60 + local.Minute()
	if start < end {
		return m >= start && m < end
	}
	return m >= start || m < end
}

// NightWindow returns the night patrol window that starts on the local
// date of day: [start, end).
func (p Policy) NightWindow(day time.Time) (time.Time, time.Time) {
	start, _ := clockMinutes(p.NightPatrolWindow.Start)
	end, _ := clockMinutes(p.NightPatrolWindow.End)
	y, mo, d := day.In(CountyTime).Date()
	midnight := time.Date(y, mo, d, 0, 0, 0, 0, CountyTime)
	from, to := midnight.Add(time.Duration(start)*time.Minute), midnight.Add(time.Duration(end)*time.Minute)
	if end <= start {
		to = to.AddDate(0, 0, 1)
	}
	return from, to
}

// KeyPeriodOn returns the first key period that includes the local date
// of day.
func (p Policy) KeyPeriodOn(day time.Time) (KeyPeriod, bool) {
	date := day.In(CountyTime).Format(time.DateOnly)
	for _, k := range p.KeyPeriods {
		if k.From <= date && date <= k.To {
			return k, true
		}
	}
	return KeyPeriod{}, false
}

// EscalateAfter is how long past its deadline a hazard is flagged for
// escalation (挂牌督办).
func (p Policy) EscalateAfter() time.Duration {
	return time.Duration(p.EscalateAfterOverdueDays) * Day
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
