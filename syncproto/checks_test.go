package syncproto

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
