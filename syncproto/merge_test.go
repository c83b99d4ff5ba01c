package syncproto

import (
	"encoding/json"
	"reflect"
	"testing"
)

func st(wall int64, dev string) Stamp { return Stamp{HLC{Wall: wall}, dev} }

func setOp(dev string, seq uint64, wall int64, field string, v any, base Stamp) *Op {
	op := &Op{Device: dev, Seq: seq, HLC: HLC{Wall: wall}, Collection: "hazards", Doc: hazID,
		Set: map[string]json.RawMessage{field: jsonString(v)}}
	if !base.IsZero() {
		op.Base = map[string]Stamp{field: base}
	}
	return op
}

func TestMergeLWW(t *testing.T) {
	c := MustCollection(t, "hazards")
	a := setOp(devLi, 1, t0, "title", "A", Stamp{})
	tests := []struct {
		name      string
		b         *Op
		winner    string
		conflicts int
	}{
		{"LaterWins", setOp(devZhao, 1, t0+1, "title", "B", Stamp{}), `"B"`, 1},
		{"EarlierLoses", setOp(devZhao, 1, t0-1, "title", "B", Stamp{}), `"A"`, 1},
		{"TieByDevice", setOp(devZhao, 1, t0, "title", "B", Stamp{}), `"B"`, 1}, // "phone-zhao" > "phone-li"
		{"TieByDeviceLower", setOp("phone-an-0001", 1, t0, "title", "B", Stamp{}), `"A"`, 1},
		{"SawIt", setOp(devZhao, 1, t0+1, "title", "B", a.Stamp()), `"B"`, 0},
		{"SawLater", setOp(devZhao, 1, t0+2, "title", "B", st(t0+1, devWang)), `"B"`, 0},
		{"SawEarlier", setOp(devZhao, 1, t0+2, "title", "B", st(t0-1, devWang)), `"B"`, 1},
		{"SameWrite", a, `"A"`, 0},
		{"OtherField", setOp(devZhao, 1, t0+1, "description", "B", Stamp{}), `"A"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range [][]*Op{{a, tt.b}, {tt.b, a}} {
				s, conflicts := MustApply(t, c, DocState{}, order...)
				if v, _ := s.Value("title"); string(v) != tt.winner {
					t.Errorf("order %s,%s: title %s, want %s", order[0].ID(), order[1].ID(), v, tt.winner)
				}
				if len(conflicts) != tt.conflicts {
					t.Errorf("order %s,%s: %d conflicts, want %d", order[0].ID(), order[1].ID(), len(conflicts), tt.conflicts)
				}
			}
		})
	}
}

func TestConflictContents(t *testing.T) {
	c := MustCollection(t, "hazards")
	a := setOp(devLi, 1, t0, "title", "A", Stamp{})
	b := setOp(devZhao, 1, t0+1, "title", "B", Stamp{})
	_, c1 := MustApply(t, c, DocState{}, a, b)
	_, c2 := MustApply(t, c, DocState{}, b, a)
	if !reflect.DeepEqual(c1, c2) {
		t.Fatalf("conflict depends on order:\n%+v\n%+v", c1, c2)
	}
	want := Conflict{Field: "title",
		Winner: Reg{Value: json.RawMessage(`"B"`), Stamp: b.Stamp()},
		Loser:  Reg{Value: json.RawMessage(`"A"`), Stamp: a.Stamp()}}
	if !reflect.DeepEqual(c1, []Conflict{want}) {
		t.Fatalf("got %+v, want %+v", c1, want)
	}
}

func TestMergeORSet(t *testing.T) {
	c := MustCollection(t, "hazards")
	add := func(dev string, seq uint64, elem string) *Op {
		return &Op{Device: dev, Seq: seq, HLC: HLC{Wall: t0 + int64(seq)}, Collection: "hazards", Doc: hazID,
			Add: map[string][]string{"photos": {elem}}}
	}
	remove := func(dev string, seq uint64, elem string, tags ...OpID) *Op {
		return &Op{Device: dev, Seq: seq, HLC: HLC{Wall: t0 + int64(seq)}, Collection: "hazards", Doc: hazID,
			Remove: map[string]map[string][]OpID{"photos": {elem: tags}}}
	}
	p := sha(1)
	a1 := add(devLi, 1, p)
	tests := []struct {
		name string
		ops  []*Op
		want []string
	}{
		{"Add", []*Op{a1}, []string{p}},
		{"RemoveObserved", []*Op{a1, remove(devZhao, 2, p, a1.ID())}, nil},
		{"RemoveBeforeAdd", []*Op{remove(devZhao, 2, p, a1.ID()), a1}, nil},
		{"ConcurrentAddWins", []*Op{a1, add(devWang, 3, p), remove(devZhao, 2, p, a1.ID())}, []string{p}},
		{"ReAddAfterRemove", []*Op{a1, remove(devZhao, 2, p, a1.ID()), add(devZhao, 3, p)}, []string{p}},
		{"RemoveAllTags", []*Op{a1, add(devWang, 3, p), remove(devZhao, 4, p, a1.ID(), OpID{devWang, 3})}, nil},
		{"RemoveUnknownTagOnly", []*Op{a1, remove(devZhao, 2, p, OpID{devWang, 9})}, []string{p}},
		{"Sorted", []*Op{add(devLi, 1, sha(2)), add(devLi, 2, sha(1))}, []string{sha(1), sha(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := MustApply(t, c, DocState{}, tt.ops...)
			if got := s.Elements("photos"); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMergeFlow(t *testing.T) {
	c := MustCollection(t, "hazards")
	step := func(dev string, wall int64, to string, round uint32) *Op {
		return &Op{Device: dev, Seq: 1, HLC: HLC{Wall: wall}, Collection: "hazards", Doc: hazID,
			Flow: map[string]FlowStep{"status": {To: to, Round: round}}}
	}
	tests := []struct {
		name  string
		ops   []*Op
		stage string
		round uint32
	}{
		{"Forward", []*Op{step(devLi, t0, StageReported, 1), step(devWang, t0+1, StageDispatched, 1)}, StageDispatched, 1},
		// A late, lower stage never moves the status back, whatever its clock.
		{"NoBackwards", []*Op{step(devWang, t0, StageVerified, 1), step(devLi, t0+9, StageSubmitted, 1)}, StageVerified, 1},
		{"ReopenWins", []*Op{step(devWang, t0+5, StageRectifying, 2), step(devLi, t0+9, StageClosed, 1)}, StageRectifying, 2},
		{"SameRankByStamp", []*Op{step(devLi, t0+5, StageSubmitted, 1), step(devZhao, t0+6, StageSubmitted, 1)}, StageSubmitted, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rev := range []bool{false, true} {
				ops := tt.ops
				if rev {
					ops = []*Op{ops[1], ops[0]}
				}
				s, _ := MustApply(t, c, DocState{}, ops...)
				got, ok := s.Status("status")
				if !ok || got.Stage != tt.stage || got.Round != tt.round {
					t.Fatalf("reversed=%v: got %+v, want %s in round %d", rev, got, tt.stage, tt.round)
				}
			}
		})
	}
	s, _ := MustApply(t, c, DocState{}, step(devLi, t0+5, StageSubmitted, 1), step(devZhao, t0+6, StageSubmitted, 1))
	if got, _ := s.Status("status"); got.Stamp.Device != devZhao || got.Rank != 3 {
		t.Fatalf("same stage: got %+v, want the later step with rank 3", got)
	}
	if _, ok := (DocState{}).Status("status"); ok {
		t.Fatal("status of an empty state")
	}
}

func TestMergeTombstone(t *testing.T) {
	c := MustCollection(t, "hazards")
	create := newHazardOp()
	del := &Op{Device: devWang, Seq: 1, HLC: HLC{Wall: t0 + 10}, Collection: "hazards", Doc: hazID, Delete: true}
	lateEdit := setOp(devZhao, 1, t0+20, "title", "after delete", Stamp{})
	del2 := &Op{Device: devLi, Seq: 2, HLC: HLC{Wall: t0 + 5}, Collection: "hazards", Doc: hazID, Delete: true}

	s, _ := MustApply(t, c, DocState{}, create, del, lateEdit, del2)
	if !s.IsDeleted() || s.Deleted != del.Stamp() {
		t.Fatalf("deleted: got %v, want %v", s.Deleted, del.Stamp())
	}
	// The late edit still joined: the state is a semilattice, whatever the
	// server decides to accept.
	if v, _ := s.Value("title"); string(v) != `"after delete"` {
		t.Fatalf("late edit not joined: title %s", v)
	}
	r, _ := MustApply(t, c, DocState{}, lateEdit, del2, del, create)
	if !r.Equal(s) {
		t.Fatal("order changed the result")
	}
}

func TestValueNull(t *testing.T) {
	c := MustCollection(t, "hazards")
	s, _ := MustApply(t, c, DocState{},
		setOp(devLi, 1, t0, "description", "x", Stamp{}),
		&Op{Device: devLi, Seq: 2, HLC: HLC{Wall: t0 + 1}, Collection: "hazards", Doc: hazID,
			Set: map[string]json.RawMessage{"description": json.RawMessage("null")}})
	if v, ok := s.Value("description"); ok {
		t.Fatalf("cleared field: got %s", v)
	}
	if _, ok := s.Fields["description"]; !ok {
		t.Fatal("clearing must keep the register (its stamp orders later writes)")
	}
}

func TestMergeDoesNotMutate(t *testing.T) {
	c := MustCollection(t, "hazards")
	a, _ := MustApply(t, c, DocState{}, newHazardOp())
	b, _ := MustApply(t, c, DocState{},
		setOp(devZhao, 1, t0+1, "title", "B", Stamp{}),
		&Op{Device: devZhao, Seq: 2, HLC: HLC{Wall: t0 + 2}, Collection: "hazards", Doc: hazID,
			Remove: map[string]map[string][]OpID{"photos": {sha(1): {{devLi, 1}}}}})
	a0, b0 := cloneState(t, a), cloneState(t, b)
	m, _ := Merge(a, b)
	if !a.Equal(a0) || !b.Equal(b0) {
		t.Fatal("Merge modified an input")
	}
	// Nor does the result share memory with them.
	m.Sets["photos"][sha(1)].Adds[0].Seq = 99
	m.Fields["site"].Value[1] = 'X'
	if !a.Equal(a0) || !b.Equal(b0) {
		t.Fatal("Merge result aliases an input")
	}
}

func TestDeltaErrors(t *testing.T) {
	c := MustCollection(t, "hazards")
	tests := []struct {
		name string
		op   *Op
		code string
	}{
		{"UnknownField", setOp(devLi, 1, t0, "colour", "red", Stamp{}), CodeUnknownField},
		{"WrongKind", &Op{Device: devLi, Seq: 1, HLC: HLC{Wall: t0}, Collection: "hazards", Doc: hazID,
			Add: map[string][]string{"title": {"x"}}}, CodeUnknownField},
		{"UnknownStage", &Op{Device: devLi, Seq: 1, HLC: HLC{Wall: t0}, Collection: "hazards", Doc: hazID,
			Flow: map[string]FlowStep{"status": {To: "lost", Round: 1}}}, CodeInvalidValue},
		{"NotJSON", &Op{Device: devLi, Seq: 1, HLC: HLC{Wall: t0}, Collection: "hazards", Doc: hazID,
			Set: map[string]json.RawMessage{"title": json.RawMessage(`"a" "b"`)}}, CodeInvalidValue},
		{"OtherCollection", &Op{Device: devLi, Seq: 1, HLC: HLC{Wall: t0}, Collection: "sites", Doc: hazID, Delete: true}, CodeInvalidOp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Delta(c, tt.op); ErrorCode(err) != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
	t.Run("ApplyOtherDoc", func(t *testing.T) {
		s := DocState{Collection: "hazards", ID: "another"}
		if _, _, err := Apply(c, s, newHazardOp()); ErrorCode(err) != CodeInvalidOp {
			t.Fatalf("got %v", err)
		}
	})
}

// TestCanonicalValues checks a value is stored in one spelling, however it
// was written and however often the state was encoded.
func TestCanonicalValues(t *testing.T) {
	c := MustCollection(t, "sites")
	spellings := []string{`{"lat":30.5,"lng":120.25}`, `{ "lng" : 120.25, "lat" : 30.5 }`}
	var states []DocState
	for _, v := range spellings {
		op := &Op{Device: devLi, Seq: 1, HLC: HLC{Wall: t0}, Collection: "sites", Doc: siteID,
			Set: map[string]json.RawMessage{"location": json.RawMessage(v), "name": jsonString("<A&B>")}}
		s, _ := MustApply(t, c, DocState{}, op)
		states = append(states, s, cloneState(t, s), cloneState(t, cloneState(t, s)))
	}
	for i := range states {
		if !states[i].Equal(states[0]) {
			t.Fatalf("state %d differs: %s vs %s", i, states[i].Fields["name"].Value, states[0].Fields["name"].Value)
		}
	}
	if v, _ := states[0].Value("location"); string(v) != `{"lat":30.5,"lng":120.25}` {
		t.Fatalf("got %s", v)
	}
}

func TestEqual(t *testing.T) {
	a := DocState{Collection: "c", ID: "d", Fields: map[string]Reg{}, Sets: map[string]map[string]Elem{"p": {}}}
	b := DocState{Collection: "c", ID: "d"}
	if !a.Equal(b) || !b.Equal(a) {
		t.Fatal("empty and nil maps must be equal")
	}
	b.Area = "grid-1"
	if a.Equal(b) {
		t.Fatal("area ignored")
	}
	x := DocState{Sets: map[string]map[string]Elem{"p": {"e": {Adds: []OpID{{devLi, 1}}}}}}
	y := DocState{Sets: map[string]map[string]Elem{"p": {"e": {Adds: []OpID{{devLi, 1}}, Removes: []OpID{{devLi, 1}}}}}}
	if x.Equal(y) || y.Equal(x) {
		t.Fatal("removes ignored")
	}
}

func TestMergeIdentity(t *testing.T) {
	// Merge keeps the non-empty identity, and Area, whichever side has it.
	a := DocState{Collection: "hazards", ID: hazID}
	b := DocState{Area: "grid-7"}
	for _, m := range []DocState{first(Merge(a, b)), first(Merge(b, a))} {
		if m.Collection != "hazards" || m.ID != hazID || m.Area != "grid-7" {
			t.Fatalf("got %+v", m)
		}
	}
}

func first[A, B any](a A, _ B) A { return a }

// TestMergeCorruptTies checks Merge stays commutative on input no honest
// replica produces: different writes sharing one stamp.
func TestMergeCorruptTies(t *testing.T) {
	s := st(t0, devLi)
	a := DocState{Fields: map[string]Reg{"f": {Value: json.RawMessage(`"a"`), Stamp: s}},
		Flows: map[string]FlowReg{"w": {Round: 1, Stage: "x", Rank: 1, Stamp: s}}}
	b := DocState{Fields: map[string]Reg{"f": {Value: json.RawMessage(`"b"`), Stamp: s}},
		Flows: map[string]FlowReg{"w": {Round: 1, Stage: "y", Rank: 1, Stamp: s}}}
	c := DocState{Fields: map[string]Reg{"f": {Value: json.RawMessage(`"b"`), Stamp: s, Base: s}}}
	for _, pair := range [][2]DocState{{a, b}, {b, c}, {a, c}} {
		ab, c1 := Merge(pair[0], pair[1])
		ba, c2 := Merge(pair[1], pair[0])
		if !ab.Equal(ba) || len(c1)+len(c2) != 0 {
			t.Fatalf("not commutative on tied stamps: %+v vs %+v", ab, ba)
		}
	}
}

func TestElementsUnsortedTags(t *testing.T) {
	var s DocState
	if err := json.Unmarshal([]byte(`{"sets":{"p":{"x":{"a":["device-b1:1","device-a1:1"],"r":["device-b1:1","device-a1:1"]},"y":{"a":["device-a1:2"],"r":["device-b1:1"]}}}}`), &s); err != nil {
		t.Fatal(err)
	}
	if got := s.Elements("p"); !reflect.DeepEqual(got, []string{"y"}) {
		t.Fatalf("got %v, want [y]", got)
	}
}
