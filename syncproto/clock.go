package syncproto

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// MaxDrift is how far ahead of the receiver's physical clock a remote HLC
// may be before the receiver refuses to follow it.
//
// Phones in villages keep wrong clocks and resync rarely (no signal, no
// network time, batteries pulled): a few minutes of drift over weeks is
// common, and refusing it would refuse honest work. Beyond five minutes the
// device is wrong rather than slow, and following it would let its far-future
// stamps win every last-writer-wins conflict for as long as the error lasts
// and drag every other clock forward with it. The server therefore
// re-stamps (or refuses) operations stamped beyond the bound and tells the
// device to reset its clock.
const MaxDrift = 5 * time.Minute

// ErrClockDrift is returned (wrapped, with both times) by Clock.Update when
// the remote clock is more than MaxDrift ahead of local physical time.
var ErrClockDrift = errors.New("clock drift beyond bound")

// Clock is a hybrid logical clock. It is safe for concurrent use. Every value
// it returns is strictly greater than every value it returned or received
// before, including across restarts when it is built with the last
// persisted value.
type Clock struct {
	mu   sync.Mutex
	now  func() time.Time
	last HLC
}

// NewClock returns a clock reading physical time from now (time.Now if nil)
// and starting after last, the value the caller persisted before it stopped;
// that keeps the clock monotone across restarts even if the physical clock
// stepped back meanwhile.
func NewClock(now func() time.Time, last HLC) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now, last: last}
}

// physical returns the physical time in unix ms, clamped to the wire range
// so that a phone set to 1960 or 2300 cannot produce an unencodable stamp.
func (c *Clock) physical() int64 {
	return min(max(c.now().UnixMilli(), 0), maxWall)
}

// Now returns the stamp for a local or send event:
// l' = max(l, pt); c' = c+1 if l' = l else 0.
func (c *Clock) Now() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt := c.physical(); pt > c.last.Wall {
		c.last = HLC{Wall: pt}
	} else {
		c.last = c.last.next()
	}
	return c.last
}

// Update records a receive event for a remote stamp and returns the new
// local value:
//
//	l' = max(l, l_m, pt)
//	c' = max(c, c_m)+1 if l' = l = l_m; c+1 if l' = l; c_m+1 if l' = l_m; else 0
//
// If remote.Wall is more than MaxDrift ahead of physical time, Update returns
// the clock's unchanged value and an error wrapping ErrClockDrift: following
// it would make this clock (and every later stamp) as wrong as the remote.
func (c *Clock) Update(remote HLC) (HLC, error) {
	if !remote.valid() {
		return HLC{}, fmt.Errorf("%w: remote wall %d out of range", ErrInvalidHLC, remote.Wall)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.physical()
	if ahead := remote.Wall - pt; ahead > MaxDrift.Milliseconds() {
		return c.last, fmt.Errorf("%w: remote %s is %s ahead of local physical time %s (bound %s)",
			ErrClockDrift, remote, time.Duration(ahead)*time.Millisecond, HLC{Wall: pt}, MaxDrift)
	}
	l := max(c.last.Wall, remote.Wall, pt)
	var logical uint32
	switch {
	case l == c.last.Wall && l == remote.Wall:
		logical = uint32(max(c.last.Logical, remote.Logical)) + 1
	case l == c.last.Wall:
		logical = uint32(c.last.Logical) + 1
	case l == remote.Wall:
		logical = uint32(remote.Logical) + 1
	}
	if logical > 65535 {
		// Same overflow rule as next: borrow one millisecond.
		l, logical = l+1, 0
	}
	c.last = HLC{Wall: l, Logical: uint16(logical)}
	return c.last, nil
}

// Last returns the latest value the clock produced or adopted; callers
// persist it and pass it to NewClock after a restart.
func (c *Clock) Last() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Reset sets the clock to server, even if that is lower than its current
// value. A device calls it when the server reports (PushResponse.ClockReset)
// that the device clock is beyond MaxDrift. Going backwards is safe there:
// the server clamps the device's far-future stamps anyway, so they never
// become visible to anyone, and keeping them would make every later local
// stamp far-future too.
func (c *Clock) Reset(server HLC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = server
}
