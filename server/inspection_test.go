package server

import (
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	t.Run("DemoCounty", func(t *testing.T) {
		p, err := ParsePolicy([]byte(`{"check_interval_days": {"major": 7, "significant": 15, "general": 30, "low": 90},
			"hazard_deadline_days": {"major": 3, "general": 7}, "covert_visit_deadline_days": 15, "incident_report_minutes": 30}`))
		if err != nil {
			t.Fatal(err)
		}
		if p.CheckIntervalDaysFor("household", "low") != 90 || p.CheckIntervalDaysFor("household", "") != 30 ||
			p.HazardDeadline("major") != 3*Day || p.HazardDeadline("") != 7*Day ||
			p.CovertDeadline() != 15*Day || p.IncidentLimit() != 30*time.Minute {
			t.Fatalf("got %+v", p)
		}
	})
	t.Run("DefaultsFillMissing", func(t *testing.T) {
		p, err := ParsePolicy([]byte(`{"check_interval_days": {"major": 5}, "check_interval_days_by_kind": {"elderly_alone": {"general": 10}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if p.CheckIntervalDaysFor("shared_use", "major") != 5 || p.CheckIntervalDaysFor("shared_use", "significant") != 15 ||
			p.CheckIntervalDaysFor("elderly_alone", "general") != 10 || p.CheckIntervalDaysFor("household", "general") != 30 ||
			p.CovertVisitDeadlineDays != 15 || p.IncidentReportMinutes != 30 {
			t.Fatalf("got %+v", p)
		}
	})
	t.Run("NewMembers", func(t *testing.T) {
		p, err := ParsePolicy([]byte(`{"escalate_after_overdue_days": 3, "night_patrol_window": {"start": "21:30", "end": "05:00"},
			"key_periods": [{"name": "春节", "from": "2026-02-10", "to": "2026-02-24"}, {"name": "森林防火期", "from": "2026-03-01", "to": "2026-04-30"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if p.EscalateAfter() != 3*Day || p.NightPatrolWindow.Start != "21:30" || len(p.KeyPeriods) != 2 {
			t.Fatalf("got %+v", p)
		}
		def, _ := ParsePolicy([]byte(`{}`))
		if def.EscalateAfterOverdueDays != 7 || def.NightPatrolWindow != (TimeWindow{"22:00", "06:00"}) || def.KeyPeriods != nil {
			t.Fatalf("defaults %+v", def)
		}
	})
	tooMany := `{"key_periods": [` + strings.Repeat(`{"name": "x", "from": "2026-01-01", "to": "2026-01-01"},`, MaxKeyPeriods) +
		`{"name": "x", "from": "2026-01-01", "to": "2026-01-01"}]}`
	for name, body := range map[string]string{
		"ErrUnknownMember":   `{"check_intervals": {}}`,
		"ErrZeroDays":        `{"check_interval_days": {"major": 0}}`,
		"ErrTooManyDays":     `{"hazard_deadline_days": {"major": 99999}}`,
		"ErrMinutes":         `{"incident_report_minutes": -1}`,
		"ErrNotJSON":         `{`,
		"ErrTrailing":        `{} {}`,
		"ErrCovertOver15":    `{"covert_visit_deadline_days": 16}`,
		"ErrIncidentOver30":  `{"incident_report_minutes": 31}`,
		"ErrEscalateMinus1":  `{"escalate_after_overdue_days": -1}`,
		"ErrWindowFormat":    `{"night_patrol_window": {"start": "10pm", "end": "06:00"}}`,
		"ErrWindowHour":      `{"night_patrol_window": {"start": "24:00", "end": "06:00"}}`,
		"ErrWindowShort":     `{"night_patrol_window": {"start": "2:00", "end": "06:00"}}`,
		"ErrWindowHalf":      `{"night_patrol_window": {"start": "22:00"}}`,
		"ErrWindowEmpty":     `{"night_patrol_window": {"start": "22:00", "end": "22:00"}}`,
		"ErrPeriodNoName":    `{"key_periods": [{"name": " ", "from": "2026-01-01", "to": "2026-01-02"}]}`,
		"ErrPeriodLongName":  `{"key_periods": [{"name": "` + strings.Repeat("期", MaxKeyPeriodName+1) + `", "from": "2026-01-01", "to": "2026-01-02"}]}`,
		"ErrPeriodDate":      `{"key_periods": [{"name": "春节", "from": "2026-02-30", "to": "2026-03-02"}]}`,
		"ErrPeriodBackwards": `{"key_periods": [{"name": "春节", "from": "2026-02-24", "to": "2026-02-10"}]}`,
		"ErrPeriodTooLong":   `{"key_periods": [{"name": "全年", "from": "2026-01-01", "to": "2027-01-02"}]}`,
		"ErrPeriodsTooMany":  tooMany,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePolicy([]byte(body)); ErrorCode(err) != EINVALID {
				t.Fatalf("got %v, want %s", err, EINVALID)
			}
		})
	}
	t.Run("ErrTooLarge", func(t *testing.T) {
		body := `{"key_periods": [], "x": "` + strings.Repeat("a", MaxPolicyBodySize) + `"}`
		if _, err := ParsePolicy([]byte(body)); ErrorCode(err) != ETOOLARGE {
			t.Fatalf("got %v, want %s", err, ETOOLARGE)
		}
	})
	t.Run("LongestPeriod", func(t *testing.T) {
		if _, err := ParsePolicy([]byte(`{"key_periods": [{"name": "全年", "from": "2028-01-01", "to": "2028-12-31"}]}`)); err != nil {
			t.Fatalf("366 days of a leap year: %v", err)
		}
	})
}

func TestNightWindow(t *testing.T) {
	p := DefaultPolicy()
	at := func(day, h, m int) time.Time { return time.Date(2025, time.January, day, h, m, 0, 0, CountyTime) }
	for _, tc := range []struct {
		t    time.Time
		want bool
	}{
		{at(9, 21, 59), false}, {at(9, 22, 0), true}, {at(9, 23, 59), true}, {at(10, 0, 0), true},
		{at(10, 5, 59), true}, {at(10, 6, 0), false}, {at(10, 12, 0), false},
		// The window is the county's local time whatever the zone of t.
		{at(9, 22, 30).UTC(), true}, {time.Date(2025, time.January, 9, 14, 30, 0, 0, time.UTC), true},
	} {
		if got := p.InNightWindow(tc.t); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.t, got, tc.want)
		}
	}
	from, to := p.NightWindow(at(9, 15, 0))
	if !from.Equal(at(9, 22, 0)) || !to.Equal(at(10, 6, 0)) {
		t.Errorf("night of the 9th: %s..%s", from, to)
	}
	day := Policy{NightPatrolWindow: TimeWindow{"08:00", "17:30"}}
	if from, to := day.NightWindow(at(9, 1, 0)); !from.Equal(at(9, 8, 0)) || !to.Equal(at(9, 17, 30)) || !day.InNightWindow(at(9, 12, 0)) || day.InNightWindow(at(9, 18, 0)) {
		t.Errorf("a window within one day: %s..%s", from, to)
	}
	p.KeyPeriods = []KeyPeriod{{Name: "元旦前后", From: "2024-12-30", To: "2025-01-02"}}
	if k, ok := p.KeyPeriodOn(at(2, 23, 0)); !ok || k.Name != "元旦前后" {
		t.Errorf("2 January: %v %v", k, ok)
	}
	if _, ok := p.KeyPeriodOn(at(3, 1, 0)); ok {
		t.Error("3 January is after the period")
	}
}
