package syncproto

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeTime is a settable physical clock.
type fakeTime struct {
	mu sync.Mutex
	ms int64
}

func (f *fakeTime) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.UnixMilli(f.ms)
}

func (f *fakeTime) set(ms int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ms = ms
}

const t0 = 1732300000000

func TestClockNow(t *testing.T) {
	ft := &fakeTime{ms: t0}
	c := NewClock(ft.now, HLC{})
	steps := []struct {
		pt   int64
		want HLC
	}{
		{t0, HLC{Wall: t0}},
		{t0, HLC{Wall: t0, Logical: 1}},            // same ms: logical counts
		{t0 + 5, HLC{Wall: t0 + 5}},                // time moved: logical resets
		{t0 - 1000, HLC{Wall: t0 + 5, Logical: 1}}, // time stepped back: stay monotone
	}
	for i, s := range steps {
		ft.set(s.pt)
		if got := c.Now(); got != s.want {
			t.Fatalf("step %d: got %v, want %v", i, got, s.want)
		}
	}
	if got := c.Last(); got != steps[len(steps)-1].want {
		t.Fatalf("Last: got %v", got)
	}
}

func TestClockRestart(t *testing.T) {
	ft := &fakeTime{ms: t0 - 60_000} // the phone's clock went back a minute
	persisted := HLC{Wall: t0, Logical: 3}
	c := NewClock(ft.now, persisted)
	if got := c.Now(); got.Compare(persisted) <= 0 {
		t.Fatalf("got %v, want after persisted %v", got, persisted)
	}
}

func TestClockOverflow(t *testing.T) {
	ft := &fakeTime{ms: t0}
	c := NewClock(ft.now, HLC{Wall: t0, Logical: 65534})
	if got, want := c.Now(), (HLC{Wall: t0, Logical: 65535}); got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got, want := c.Now(), (HLC{Wall: t0 + 1}); got != want {
		t.Fatalf("overflow: got %v, want %v", got, want)
	}
	c = NewClock(ft.now, HLC{Wall: t0, Logical: 65535})
	got, err := c.Update(HLC{Wall: t0, Logical: 65535})
	if err != nil || got != (HLC{Wall: t0 + 1}) {
		t.Fatalf("Update overflow: got %v, %v", got, err)
	}
}

func TestClockUpdate(t *testing.T) {
	tests := []struct {
		name   string
		last   HLC
		pt     int64
		remote HLC
		want   HLC
	}{
		{"PhysicalAhead", HLC{Wall: t0 - 10, Logical: 4}, t0, HLC{Wall: t0 - 5, Logical: 9}, HLC{Wall: t0}},
		{"RemoteAhead", HLC{Wall: t0, Logical: 4}, t0, HLC{Wall: t0 + 50, Logical: 9}, HLC{Wall: t0 + 50, Logical: 10}},
		{"LocalAhead", HLC{Wall: t0 + 50, Logical: 4}, t0, HLC{Wall: t0 + 20, Logical: 9}, HLC{Wall: t0 + 50, Logical: 5}},
		{"AllEqual", HLC{Wall: t0, Logical: 4}, t0, HLC{Wall: t0, Logical: 9}, HLC{Wall: t0, Logical: 10}},
		{"AllEqualLocalHigher", HLC{Wall: t0, Logical: 12}, t0, HLC{Wall: t0, Logical: 9}, HLC{Wall: t0, Logical: 13}},
		{"WithinDrift", HLC{}, t0, HLC{Wall: t0 + MaxDrift.Milliseconds()}, HLC{Wall: t0 + MaxDrift.Milliseconds(), Logical: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClock((&fakeTime{ms: tt.pt}).now, tt.last)
			got, err := c.Update(tt.remote)
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			if c.Last() != got {
				t.Fatalf("Last %v != returned %v", c.Last(), got)
			}
		})
	}
}

func TestClockDrift(t *testing.T) {
	t.Run("ErrClockDrift", func(t *testing.T) {
		last := HLC{Wall: t0, Logical: 2}
		c := NewClock((&fakeTime{ms: t0}).now, last)
		remote := HLC{Wall: t0 + MaxDrift.Milliseconds() + 1}
		got, err := c.Update(remote)
		if !errors.Is(err, ErrClockDrift) {
			t.Fatalf("got %v, want ErrClockDrift", err)
		}
		if got != last || c.Last() != last {
			t.Fatalf("clock moved to %v on a drift error", c.Last())
		}
	})
	t.Run("ErrInvalidRemote", func(t *testing.T) {
		c := NewClock(nil, HLC{})
		if _, err := c.Update(HLC{Wall: -1}); !errors.Is(err, ErrInvalidHLC) {
			t.Fatalf("got %v, want ErrInvalidHLC", err)
		}
	})
	t.Run("RemoteBehindIsFine", func(t *testing.T) {
		c := NewClock((&fakeTime{ms: t0}).now, HLC{})
		if _, err := c.Update(HLC{Wall: t0 - 24*3600*1000}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestClockReset(t *testing.T) {
	ft := &fakeTime{ms: t0}
	c := NewClock(ft.now, HLC{Wall: t0 + 3600_000}) // an hour in the future
	server := HLC{Wall: t0 - 10, Logical: 3}
	c.Reset(server)
	if c.Last() != server {
		t.Fatalf("Last: got %v, want %v", c.Last(), server)
	}
	if got := c.Now(); got != (HLC{Wall: t0}) {
		t.Fatalf("Now after reset: got %v, want physical time", got)
	}
}

func TestClockPhysicalClamp(t *testing.T) {
	for _, ms := range []int64{-5000, maxWall + 10} {
		c := NewClock((&fakeTime{ms: ms}).now, HLC{})
		if h := c.Now(); !h.valid() {
			t.Errorf("physical %d: Now gave unencodable %v", ms, h)
		}
	}
}

// TestClockConcurrent checks, under -race, that concurrent users of one
// clock never see the same value twice.
func TestClockConcurrent(t *testing.T) {
	c := NewClock(nil, HLC{})
	const workers, each = 8, 500
	results := make(chan HLC, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range each {
				if i%2 == 0 {
					results <- c.Now()
				} else {
					h, _ := c.Update(c.Last())
					results <- h
				}
			}
		})
	}
	wg.Wait()
	close(results)
	seen := make(map[HLC]bool)
	for h := range results {
		if seen[h] {
			t.Fatalf("value %v returned twice", h)
		}
		seen[h] = true
	}
}
