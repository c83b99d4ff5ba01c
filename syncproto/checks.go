package syncproto

import "time"

// The check window of a site (明确检查频次): a site must be checked every
// interval days (the county's policy gives the interval by risk level and
// kind). The server computes task lists and coverage with these rules, and
// a device computes the same status offline from the task list it last
// synced and the inspections it made since.

// Day is the unit of check intervals and deadlines.
const Day = 24 * time.Hour

// DueSoonDays is how close to the end of its window a site counts as due
// (the demo county has 10 sites due within 3 days at load).
const DueSoonDays = 3

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
