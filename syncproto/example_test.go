package syncproto

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// photo returns the content address of a fake photo.
func photo(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// TestWorkedExample is the worked example of docs/PROTOCOL.md: two
// phones edit the same hazard offline and converge whichever order their
// ops arrive in. The final state is pinned in testdata so that the document
// and the code agree.
func TestWorkedExample(t *testing.T) {
	c := MustCollection(t, "hazards")
	p1, p2, p3 := photo("p1"), photo("p2"), photo("p3")
	create := &Op{Device: devLi, Seq: 41, HLC: MustParseHLC(t, "1732599000000-00000"), Collection: "hazards", Doc: hazID,
		Set: map[string]json.RawMessage{
			"site":        jsonString(siteID),
			"title":       jsonString("Extension lead across the stairwell"),
			"description": jsonString("Lead runs across the stairs to a rented room."),
		},
		Add:  map[string][]string{"photos": {p1}},
		Flow: map[string]FlowStep{"status": {To: StageReported, Round: 1}},
	}
	dispatch := &Op{Device: devWang, Seq: 7, HLC: MustParseHLC(t, "1732599600000-00000"), Collection: "hazards", Doc: hazID,
		Set:  map[string]json.RawMessage{"deadline": jsonString(int64(1733203800000))},
		Flow: map[string]FlowStep{"status": {To: StageDispatched, Round: 1}},
	}
	rectify := &Op{Device: devWang, Seq: 8, HLC: MustParseHLC(t, "1732599700000-00000"), Collection: "hazards", Doc: hazID,
		Flow: map[string]FlowStep{"status": {To: StageRectifying, Round: 1}},
	}
	s0, _ := MustApply(t, c, DocState{}, create, dispatch, rectify)

	// Offline, both start from s0 and saw li:41's description.
	li := &Op{Device: devLi, Seq: 42, HLC: MustParseHLC(t, "1732600000000-00000"), Collection: "hazards", Doc: hazID,
		Set:  map[string]json.RawMessage{"description": jsonString("Lead removed; a wall socket was fitted.")},
		Base: map[string]Stamp{"description": create.Stamp()},
		Add:  map[string][]string{"photos": {p2}},
		Flow: map[string]FlowStep{"status": {To: StageSubmitted, Round: 1}},
	}
	zhao := &Op{Device: devZhao, Seq: 17, HLC: MustParseHLC(t, "1732600060000-00000"), Collection: "hazards", Doc: hazID,
		Set:    map[string]json.RawMessage{"description": jsonString("Resident refuses: the lead is still there.")},
		Base:   map[string]Stamp{"description": create.Stamp()},
		Remove: map[string]map[string][]OpID{"photos": {p1: {create.ID()}}},
		Add:    map[string][]string{"photos": {p3}},
	}
	for _, tc := range []struct {
		op   *Op
		role Role
		cur  DocState
	}{{li, RoleGridWorker, s0}, {zhao, RoleVillageOfficer, s0}} {
		if err := c.ValidateOp(tc.op); err != nil {
			t.Fatal(err)
		}
		if err := c.Authorize(tc.role, tc.op, &tc.cur); err != nil {
			t.Fatal(err)
		}
	}

	liFirst, c1 := MustApply(t, c, s0, li, zhao)
	zhaoFirst, c2 := MustApply(t, c, s0, zhao, li)
	if !liFirst.Equal(zhaoFirst) {
		t.Fatal("the two orders diverge")
	}
	if !reflect.DeepEqual(c1, c2) || len(c1) != 1 || c1[0].Loser.Stamp != li.Stamp() || c1[0].Winner.Stamp != zhao.Stamp() {
		t.Fatalf("conflicts: %+v vs %+v", c1, c2)
	}
	if got := liFirst.Elements("photos"); !reflect.DeepEqual(got, sortedStrings(p2, p3)) {
		t.Fatalf("photos: got %v", got)
	}
	if st, _ := liFirst.Status("status"); st.Stage != StageSubmitted || st.Round != 1 {
		t.Fatalf("status: got %+v", st)
	}
	// A redelivered op changes nothing; a redelivered losing write reports
	// the same conflict again (same field, winner and loser), which the
	// server stores idempotently.
	again, cs := MustApply(t, c, liFirst, li, zhao, create)
	if !again.Equal(liFirst) || !reflect.DeepEqual(cs, c1) {
		t.Fatalf("redelivery changed the state or invented a conflict: %+v", cs)
	}

	// The station rejects the rectification and reopens; a submission
	// stamped later but in the old round cannot undo the reopen.
	reopen := &Op{Device: devWang, Seq: 9, HLC: MustParseHLC(t, "1732610000000-00000"), Collection: "hazards", Doc: hazID,
		Flow: map[string]FlowStep{"status": {To: StageRectifying, Round: 2}}}
	if err := c.Authorize(RoleStationStaff, reopen, &liFirst); err != nil {
		t.Fatal(err)
	}
	late := &Op{Device: devLi, Seq: 43, HLC: MustParseHLC(t, "1732620000000-00000"), Collection: "hazards", Doc: hazID,
		Flow: map[string]FlowStep{"status": {To: StageSubmitted, Round: 1}}}
	final, _ := MustApply(t, c, liFirst, late, reopen)
	if st, _ := final.Status("status"); st.Stage != StageRectifying || st.Round != 2 {
		t.Fatalf("after reopen: got %+v", st)
	}
	if err := c.Authorize(RoleGridWorker, late, &final); ErrorCode(err) != CodeForbiddenTransition {
		t.Fatalf("server must refuse the stale step: got %v", err)
	}

	golden(t, "testdata/worked_example_state.json", liFirst)
	golden(t, "testdata/worked_example_conflict.json", c1[0])
}

func sortedStrings(s ...string) []string {
	if s[0] > s[1] {
		s[0], s[1] = s[1], s[0]
	}
	return s
}

// golden compares v's indented JSON with a file, or rewrites the file
// with -update.
func golden(tb testing.TB, path string, v any) {
	tb.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Fatalf("%s differs:\n%s", path, got)
	}
}
