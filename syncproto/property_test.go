package syncproto

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// opGen makes random ops on one hazard over a small alphabet (three
// devices whose clocks start together, few fields, values and photos), so
// that equal HLCs, concurrent writes, removes of unseen tags and competing
// workflow steps are common.
type opGen struct {
	r       *rand.Rand
	devices []string
	seq     map[string]uint64
	hlc     map[string]HLC
	stamps  map[string][]Stamp // per scalar field: stamps written so far
	tags    map[string][]OpID  // per photo: add tags made so far
}

func newOpGen(r *rand.Rand) *opGen {
	return &opGen{
		r:       r,
		devices: []string{devLi, devZhao, devWang},
		seq:     map[string]uint64{},
		hlc:     map[string]HLC{},
		stamps:  map[string][]Stamp{},
		tags:    map[string][]OpID{},
	}
}

var (
	genScalars = []string{"title", "description", "severity"}
	genValues  = []string{"general", "major"}
	genPhotos  = []string{sha(1), sha(2), sha(3)}
	genStages  = []string{StageReported, StageDispatched, StageRectifying, StageSubmitted, StageVerified, StageClosed}
)

func (g *opGen) pick(n int) int { return g.r.IntN(n) }

// next returns a new op by a random device. Each device's clock is
// monotone, as a real Clock is, but the devices' clocks collide.
func (g *opGen) next() *Op {
	dev := g.devices[g.pick(len(g.devices))]
	g.seq[dev]++
	h := g.hlc[dev]
	if h.IsZero() {
		h = HLC{Wall: t0}
	} else if d := g.pick(3); d == 0 {
		h = h.next()
	} else {
		h = HLC{Wall: h.Wall + int64(d)}
	}
	g.hlc[dev] = h
	op := &Op{Device: dev, Seq: g.seq[dev], HLC: h, Collection: "hazards", Doc: hazID}
	if g.pick(25) == 0 {
		op.Delete = true
		return op
	}
	for op.Set == nil && op.Add == nil && op.Remove == nil && op.Flow == nil {
		if g.pick(2) == 0 {
			f := genScalars[g.pick(len(genScalars))]
			op.Set = map[string]json.RawMessage{f: jsonString(genValues[g.pick(len(genValues))])}
			if prev := g.stamps[f]; len(prev) > 0 && g.pick(3) > 0 {
				op.Base = map[string]Stamp{f: prev[g.pick(len(prev))]}
			}
			g.stamps[f] = append(g.stamps[f], op.Stamp())
		}
		p := genPhotos[g.pick(len(genPhotos))]
		switch g.pick(3) {
		case 0:
			op.Add = map[string][]string{"photos": {p}}
			g.tags[p] = append(g.tags[p], op.ID())
		case 1:
			var seen []OpID
			for _, tag := range g.tags[p] {
				if g.pick(2) == 0 {
					seen = append(seen, tag)
				}
			}
			if g.pick(4) == 0 || len(seen) == 0 { // a tag whose add is still in flight
				seen = append(seen, OpID{g.devices[g.pick(3)], uint64(1 + g.pick(20))})
			}
			op.Remove = map[string]map[string][]OpID{"photos": {p: seen}}
		}
		if g.pick(3) == 0 {
			op.Flow = map[string]FlowStep{"status": {To: genStages[g.pick(len(genStages))], Round: uint32(1 + g.pick(3))}}
		}
	}
	return op
}

func (g *opGen) batch(n int) []*Op {
	ops := make([]*Op, n)
	for i := range ops {
		ops[i] = g.next()
	}
	return ops
}

// applyAll applies ops in order, failing the test on error.
func applyAll(tb testing.TB, c *Collection, s DocState, ops []*Op) DocState {
	tb.Helper()
	s, _ = MustApply(tb, c, s, ops...)
	return s
}

// randomState applies a random subset of ops in random order.
func randomState(tb testing.TB, r *rand.Rand, c *Collection, ops []*Op) DocState {
	tb.Helper()
	var sub []*Op
	for _, op := range ops {
		if r.IntN(2) == 0 {
			sub = append(sub, op)
		}
	}
	r.Shuffle(len(sub), func(i, j int) { sub[i], sub[j] = sub[j], sub[i] })
	return applyAll(tb, c, DocState{}, sub)
}

func TestMergeLaws(t *testing.T) {
	r := newRand(t)
	c := MustCollection(t, "hazards")
	for iter := range 400 {
		ops := newOpGen(r).batch(4 + r.IntN(12))
		a, b, x := randomState(t, r, c, ops), randomState(t, r, c, ops), randomState(t, r, c, ops)
		a0, b0 := cloneState(t, a), cloneState(t, b)

		ab, cab := Merge(a, b)
		ba, cba := Merge(b, a)
		if !ab.Equal(ba) {
			t.Fatalf("iter %d: not commutative", iter)
		}
		if !reflect.DeepEqual(cab, cba) {
			t.Fatalf("iter %d: conflicts depend on order:\n%+v\n%+v", iter, cab, cba)
		}
		if !a.Equal(a0) || !b.Equal(b0) {
			t.Fatalf("iter %d: Merge modified its inputs", iter)
		}
		left, _ := Merge(ab, x)
		bx, _ := Merge(b, x)
		right, _ := Merge(a, bx)
		if !left.Equal(right) {
			t.Fatalf("iter %d: not associative", iter)
		}
		aa, caa := Merge(a, a)
		if !aa.Equal(a) || len(caa) != 0 {
			t.Fatalf("iter %d: not idempotent (conflicts %v)", iter, caa)
		}
		if again, _ := Merge(ab, a); !again.Equal(ab) {
			t.Fatalf("iter %d: merging a part back changed the whole", iter)
		}
		if rt := cloneState(t, ab); !rt.Equal(ab) {
			t.Fatalf("iter %d: JSON round trip changed the state", iter)
		}
	}
}

func TestApplyOrderAndDuplicates(t *testing.T) {
	r := newRand(t)
	c := MustCollection(t, "hazards")
	for iter := range 200 {
		ops := newOpGen(r).batch(1 + r.IntN(20))
		want := applyAll(t, c, DocState{}, ops)
		if twice := applyAll(t, c, want, ops); !twice.Equal(want) {
			t.Fatalf("iter %d: applying the batch twice differs from once", iter)
		}
		for range 10 {
			shuffled := slices.Clone(ops)
			for range r.IntN(5) { // redeliveries
				shuffled = append(shuffled, ops[r.IntN(len(ops))])
			}
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if got := applyAll(t, c, DocState{}, shuffled); !got.Equal(want) {
				t.Fatalf("iter %d: order %v gave another state", iter, opIDs(shuffled))
			}
		}
	}
}

func opIDs(ops []*Op) []string {
	var out []string
	for _, op := range ops {
		out = append(out, op.ID().String())
	}
	return out
}

// TestConflictSymmetry checks that two writes to the same field report the
// same conflict whichever arrives first.
func TestConflictSymmetry(t *testing.T) {
	r := newRand(t)
	c := MustCollection(t, "hazards")
	seen := 0
	for iter := range 2000 {
		g := newOpGen(r)
		var writes []*Op
		for len(writes) < 2 {
			if op := g.next(); op.Set["title"] != nil {
				writes = append(writes, op)
			}
		}
		x, y := writes[0], writes[1]
		_, c1 := MustApply(t, c, DocState{}, x, y)
		_, c2 := MustApply(t, c, DocState{}, y, x)
		if !reflect.DeepEqual(conflictKeys(c1, "title"), conflictKeys(c2, "title")) {
			t.Fatalf("iter %d: %s then %s reports %v; reversed reports %v", iter, x.ID(), y.ID(), c1, c2)
		}
		seen += len(conflictKeys(c1, "title"))
	}
	if seen == 0 {
		t.Fatal("generator made no conflicts")
	}
}

// conflictKeys identifies the conflicts on field ("" = all fields).
func conflictKeys(cs []Conflict, field string) []string {
	var out []string
	for _, c := range cs {
		if field == "" || c.Field == field {
			out = append(out, c.Field+":"+c.Winner.Stamp.String()+">"+c.Loser.Stamp.String())
		}
	}
	return out
}

// TestSimulatedDevices runs devices with skewed clocks that edit the same
// documents offline, guided by what they have seen, and sync through a
// server in random order with redeliveries; afterwards every replica must
// hold the server's state.
func TestSimulatedDevices(t *testing.T) {
	r := newRand(t)
	c := MustCollection(t, "hazards")
	for round := range 20 {
		simulate(t, r, c, round)
	}
}

type simDevice struct {
	id      string
	clock   *Clock
	replica map[string]DocState
	outbox  []*Op
	cursor  int
	seq     uint64
}

func simulate(t *testing.T, r *rand.Rand, c *Collection, round int) {
	now := time.UnixMilli(t0)
	tick := func() time.Time { return now }
	skewed := func(d time.Duration) func() time.Time { return func() time.Time { return now.Add(d) } }
	devices := []*simDevice{
		{id: devLi, clock: NewClock(skewed(4*time.Minute), HLC{})},
		{id: devZhao, clock: NewClock(skewed(-3*time.Hour), HLC{})},
		{id: devWang, clock: NewClock(tick, HLC{})},
	}
	for _, d := range devices {
		d.replica = map[string]DocState{}
	}
	server := NewClock(tick, HLC{})
	var log []*Op
	serverState := map[string]DocState{}
	docs := []string{"hazard-0001", "hazard-0002"}

	for range 150 {
		now = now.Add(time.Duration(r.IntN(2000)) * time.Millisecond)
		d := devices[r.IntN(len(devices))]
		if r.IntN(10) < 7 {
			op := d.edit(r, docs[r.IntN(len(docs))])
			var err error
			if d.replica[op.Doc], _, err = Apply(c, d.replica[op.Doc], op); err != nil {
				t.Fatal(err)
			}
			d.outbox = append(d.outbox, op)
			continue
		}
		d.sync(t, r, c, server, &log, serverState)
	}
	for range 2 { // everyone syncs; twice so the first ones get the last ones' ops
		for _, d := range devices {
			d.sync(t, r, c, server, &log, serverState)
		}
	}
	for _, doc := range docs {
		fresh := slices.Clone(log)
		r.Shuffle(len(fresh), func(i, j int) { fresh[i], fresh[j] = fresh[j], fresh[i] })
		var want DocState
		for _, op := range fresh {
			if op.Doc == doc {
				want, _ = MustApply(t, c, want, op)
			}
		}
		if !want.Equal(serverState[doc]) {
			t.Fatalf("round %d: server state of %s depends on order", round, doc)
		}
		for _, d := range devices {
			if !d.replica[doc].Equal(serverState[doc]) {
				a, _ := json.Marshal(d.replica[doc])
				b, _ := json.Marshal(serverState[doc])
				t.Fatalf("round %d: %s diverged on %s:\n%s\n%s", round, d.id, doc, a, b)
			}
		}
	}
}

// edit makes an op the way a client would: from the local replica.
func (d *simDevice) edit(r *rand.Rand, doc string) *Op {
	d.seq++
	s := d.replica[doc]
	op := &Op{Device: d.id, Seq: d.seq, HLC: d.clock.Now(), Collection: "hazards", Doc: doc}
	switch r.IntN(20) {
	case 0:
		op.Delete = true
	case 1, 2, 3, 4, 5, 6, 7:
		f := genScalars[r.IntN(len(genScalars))]
		op.Set = map[string]json.RawMessage{f: jsonString(genValues[r.IntN(len(genValues))])}
		if reg, ok := s.Fields[f]; ok {
			op.Base = map[string]Stamp{f: reg.Stamp}
		}
	case 8, 9, 10, 11:
		op.Add = map[string][]string{"photos": {genPhotos[r.IntN(len(genPhotos))]}}
	case 12, 13, 14:
		p := genPhotos[r.IntN(len(genPhotos))]
		tags := s.Sets["photos"][p].Adds
		if len(tags) == 0 {
			op.Add = map[string][]string{"photos": {p}}
			break
		}
		op.Remove = map[string]map[string][]OpID{"photos": {p: tags}}
	default:
		cur, ok := s.Status("status")
		step := FlowStep{To: StageReported, Round: 1}
		switch {
		case ok && r.IntN(5) == 0:
			step = FlowStep{To: StageRectifying, Round: cur.Round + 1}
		case ok:
			step = FlowStep{To: genStages[min(cur.Rank+1, len(genStages)-1)], Round: cur.Round}
		}
		op.Flow = map[string]FlowStep{"status": step}
	}
	return op
}

// sync pushes the outbox to the server and pulls the log from the cursor,
// with some changes delivered twice and in shuffled order.
func (d *simDevice) sync(t *testing.T, r *rand.Rand, c *Collection, server *Clock, log *[]*Op, state map[string]DocState) {
	t.Helper()
	for _, op := range d.outbox {
		if _, err := server.Update(op.HLC); err != nil {
			t.Fatalf("server refused %s: %v", op.ID(), err)
		}
		var err error
		if state[op.Doc], _, err = Apply(c, state[op.Doc], op); err != nil {
			t.Fatal(err)
		}
		*log = append(*log, op)
	}
	d.outbox = nil
	page := slices.Clone((*log)[max(0, d.cursor-r.IntN(3)):]) // re-pull a few
	r.Shuffle(len(page), func(i, j int) { page[i], page[j] = page[j], page[i] })
	for _, op := range page {
		var err error
		if d.replica[op.Doc], _, err = Apply(c, d.replica[op.Doc], op); err != nil {
			t.Fatal(err)
		}
	}
	d.cursor = len(*log)
	if _, err := d.clock.Update(server.Now()); err != nil {
		d.clock.Reset(server.Last())
	}
}
