package syncproto

import (
	"encoding/json"
	"flag"
	"math/rand/v2"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("syncproto.seed", 0, "seed for randomized tests (0 = time-based)")

// newRand returns a seeded generator and logs the seed, so that a failing
// randomized test can be replayed with -syncproto.seed.
func newRand(tb testing.TB) *rand.Rand {
	tb.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("replay with: go test ./syncproto -run '^%s$' -syncproto.seed=%d", tb.Name(), seed)
		}
	})
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// MustParseHLC parses s or fails the test.
func MustParseHLC(tb testing.TB, s string) HLC {
	tb.Helper()
	h, err := ParseHLC(s)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// MustCollection returns a collection of the default schema.
func MustCollection(tb testing.TB, name string) *Collection {
	tb.Helper()
	c, ok := DefaultSchema().Collection(name)
	if !ok {
		tb.Fatalf("no collection %q", name)
	}
	return c
}

// MustApply applies ops in order to s, failing the test on error, and
// returns the state and every conflict reported.
func MustApply(tb testing.TB, c *Collection, s DocState, ops ...*Op) (DocState, []Conflict) {
	tb.Helper()
	var all []Conflict
	for _, op := range ops {
		var cs []Conflict
		var err error
		s, cs, err = Apply(c, s, op)
		if err != nil {
			tb.Fatalf("apply %s: %v", op.ID(), err)
		}
		all = append(all, cs...)
	}
	return s, all
}

// jsonString returns v as a JSON value, for Op.Set.
func jsonString(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// cloneState deep-copies a state through JSON, to check Merge does not
// modify its inputs.
func cloneState(tb testing.TB, s DocState) DocState {
	tb.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		tb.Fatal(err)
	}
	var out DocState
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// sha returns a fake but well-formed sha256 for photo n.
func sha(n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 64)
	for i := range b {
		b[i] = hex[(n*7+i)%16]
	}
	return string(b)
}
