package server

import (
	"testing"
	"time"
)

func TestCheckSite(t *testing.T) {
	now := time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)
	ago := func(days int, extra time.Duration) time.Time { return now.Add(-time.Duration(days)*Day - extra) }
	tests := []struct {
		name     string
		last     time.Time
		interval int
		status   CheckStatus
		age      int
	}{
		{"Never", time.Time{}, 15, CheckNever, -1},
		{"Fresh", ago(0, time.Hour), 15, CheckOK, 0},
		{"FourDaysLeft", ago(11, 0), 15, CheckOK, 11},
		{"ThreeDaysLeft", ago(12, 0), 15, CheckDue, 12},
		// Whole days: exactly the interval ago (plus a few minutes of the
		// same day) is still in the window (东岙农贸市场 in the demo).
		{"OnTheBoundary", ago(15, 5*time.Minute), 15, CheckDue, 15},
		{"DayAfterBoundary", ago(16, 0), 15, CheckOverdue, 16},
		{"LowRiskQuarter", ago(95, 0), 90, CheckOverdue, 95},
		{"FutureCheckIsToday", now.Add(time.Hour), 7, CheckOK, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := CheckSite(tc.last, tc.interval, now)
			if c.Status != tc.status || c.AgeDays != tc.age {
				t.Fatalf("got %s age %d, want %s age %d", c.Status, c.AgeDays, tc.status, tc.age)
			}
			if !tc.last.IsZero() {
				if want := tc.last.Add(time.Duration(tc.interval+1) * Day); !c.DueAt.Equal(want) {
					t.Fatalf("due at %s, want %s", c.DueAt, want)
				}
				// Overdue exactly from DueAt on.
				if CheckSite(tc.last, tc.interval, c.DueAt).Status != CheckOverdue ||
					CheckSite(tc.last, tc.interval, c.DueAt.Add(-time.Millisecond)).Status == CheckOverdue {
					t.Fatal("DueAt is not where the status turns overdue")
				}
			}
			if c.Status.Covered() != (tc.status == CheckOK || tc.status == CheckDue) {
				t.Fatalf("covered: %v", c.Status.Covered())
			}
		})
	}
}

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
	for name, body := range map[string]string{
		"ErrUnknownMember": `{"check_intervals": {}}`,
		"ErrZeroDays":      `{"check_interval_days": {"major": 0}}`,
		"ErrTooManyDays":   `{"hazard_deadline_days": {"major": 99999}}`,
		"ErrMinutes":       `{"incident_report_minutes": -1}`,
		"ErrNotJSON":       `{`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePolicy([]byte(body)); ErrorCode(err) != EINVALID {
				t.Fatalf("got %v, want %s", err, EINVALID)
			}
		})
	}
}
