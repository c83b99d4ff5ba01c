package syncproto

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// hazardGrid is the expected verdict of every workflow step of one role,
// written out by hand from the seeds (排改分离: grid workers and village
// officers find and submit rectification; the station dispatches,
// verifies, closes and reopens; 整改销号 follows 复核, so the station
// closes an unverified hazard only with a close_reason: not a hazard, or a
// duplicate). Rows are the hazard's stage before the step ("new" = the
// step creates the hazard); columns are the target stage in HazardStages
// order. "ok" = accepted, "T" = forbidden_transition, "R" =
// forbidden_role, "F" = forbidden_field.
type hazardGrid struct {
	same   string // steps within the current round (round 1)
	reopen string // steps into round 2 (a reopen)
	// The same steps by an op that also sets close_reason.
	sameReason, reopenReason string
}

// allF is a grid half where every step is refused for the field the op
// writes (close_reason is the station's).
const allF = `
		new        F F F F F F
		reported   F F F F F F
		dispatched F F F F F F
		rectifying F F F F F F
		submitted  F F F F F F
		verified   F F F F F F
		closed     F F F F F F`

// noRoleF is a grid half of a role with no steps whose op sets
// close_reason: creating a hazard is refused for the role, every other
// step for the field.
const noRoleF = `
		new        R R R R R R
		reported   F F F F F F
		dispatched F F F F F F
		rectifying F F F F F F
		submitted  F F F F F F
		verified   F F F F F F
		closed     F F F F F F`

var hazardMatrix = map[Role]hazardGrid{
	// A finder may create a hazard already submitted (当场整改: fixed on
	// the spot, evidence attached); the station still verifies it.
	RoleGridWorker: {same: `
		new        ok T T ok T T
		reported   ok T T ok T T
		dispatched T  T T ok T T
		rectifying T  T T ok T T
		submitted  T  T T ok T T
		verified   T  T T T  T T
		closed     T  T T T  T T`, reopen: `
		new        T T T T T T
		reported   T T T T T T
		dispatched T T T T T T
		rectifying T T T T T T
		submitted  T T T T T T
		verified   T T T T T T
		closed     T T T T T T`, sameReason: allF, reopenReason: allF},
	// The station closes from verified; from anywhere else (and into a
	// new round) only with a close_reason. Closing an already closed
	// hazard again changes nothing and is accepted.
	RoleStationStaff: {same: `
		new        T ok ok T ok T
		reported   T ok ok T ok T
		dispatched T ok ok T ok T
		rectifying T T  ok T ok T
		submitted  T T  T  T ok T
		verified   T T  T  T ok ok
		closed     T T  T  T T  ok`, reopen: `
		new        T T  T  T T  T
		reported   T ok ok T ok T
		dispatched T ok ok T ok T
		rectifying T ok ok T ok T
		submitted  T ok ok T ok T
		verified   T ok ok T ok T
		closed     T ok ok T ok T`, sameReason: `
		new        T ok ok T ok ok
		reported   T ok ok T ok ok
		dispatched T ok ok T ok ok
		rectifying T T  ok T ok ok
		submitted  T T  T  T ok ok
		verified   T T  T  T ok ok
		closed     T T  T  T T  ok`, reopenReason: `
		new        T T  T  T T  T
		reported   T ok ok T ok ok
		dispatched T ok ok T ok ok
		rectifying T ok ok T ok ok
		submitted  T ok ok T ok ok
		verified   T ok ok T ok ok
		closed     T ok ok T ok ok`},
	// Enforcement officers and the county have no steps: they neither
	// create hazards nor move them (the county escalates by a field).
	RoleEnforcementOfficer: {same: `
		new        R R R R R R
		reported   T T T T T T
		dispatched T T T T T T
		rectifying T T T T T T
		submitted  T T T T T T
		verified   T T T T T T
		closed     T T T T T T`, reopen: `
		new        R R R R R R
		reported   T T T T T T
		dispatched T T T T T T
		rectifying T T T T T T
		submitted  T T T T T T
		verified   T T T T T T
		closed     T T T T T T`, sameReason: noRoleF, reopenReason: noRoleF},
}

func init() {
	hazardMatrix[RoleVillageOfficer] = hazardMatrix[RoleGridWorker]
	hazardMatrix[RoleCountyAdmin] = hazardMatrix[RoleEnforcementOfficer]
}

// parseGrid reads a hazardGrid half into row stage → target stage → code.
func parseGrid(t *testing.T, grid string) map[string]map[string]string {
	t.Helper()
	codes := map[string]string{"ok": "", "T": CodeForbiddenTransition, "R": CodeForbiddenRole, "F": CodeForbiddenField}
	out := map[string]map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(grid), "\n") {
		cells := strings.Fields(line)
		if len(cells) != 1+len(HazardStages()) {
			t.Fatalf("grid line %q: want a stage and %d cells", line, len(HazardStages()))
		}
		out[cells[0]] = map[string]string{}
		for i, to := range HazardStages() {
			code, ok := codes[cells[i+1]]
			if !ok {
				t.Fatalf("grid line %q: unknown cell %q", line, cells[i+1])
			}
			out[cells[0]][to] = code
		}
	}
	if len(out) != 1+len(HazardStages()) {
		t.Fatalf("grid has %d rows, want new and every stage", len(out))
	}
	return out
}

// TestHazardTransitions checks every role against every hazard workflow
// step, from every stage, within the round and as a reopen, each with and
// without a close_reason: 5 roles × 7 starting points × 6 targets × 4 =
// 840 cases.
func TestHazardTransitions(t *testing.T) {
	col := MustCollection(t, "hazards")
	f, _ := col.Field("status")
	n := 0
	for _, role := range Roles() {
		grid, ok := hazardMatrix[role]
		if !ok {
			t.Fatalf("no expectations for role %s", role)
		}
		for _, half := range []struct {
			name   string
			grid   string
			round  uint32
			reason bool
		}{{"same", grid.same, 1, false}, {"reopen", grid.reopen, 2, false},
			{"same+reason", grid.sameReason, 1, true}, {"reopen+reason", grid.reopenReason, 2, true}} {
			want := parseGrid(t, half.grid)
			for _, from := range append([]string{"new"}, HazardStages()...) {
				for _, to := range HazardStages() {
					n++
					name := fmt.Sprintf("%s/%s/%s-%s", role, half.name, from, to)
					t.Run(name, func(t *testing.T) {
						op := &Op{Device: "device-test", Seq: 1, HLC: HLC{Wall: 1_700_000_000_000}, Collection: "hazards", Doc: "hz",
							Set: map[string]json.RawMessage{}, Flow: map[string]FlowStep{"status": {To: to, Round: half.round}}}
						var cur *DocState
						if from == "new" {
							op.Set["site"], op.Set["title"] = json.RawMessage(`"s1"`), json.RawMessage(`"隐患"`)
						} else {
							rank, _ := f.Rank(from)
							cur = &DocState{Collection: "hazards", ID: "hz", Flows: map[string]FlowReg{"status": {Round: 1, Stage: from, Rank: rank}}}
						}
						if half.reason {
							op.Set["close_reason"] = json.RawMessage(`"duplicate"`)
						}
						if err := col.ValidateOp(op); err != nil {
							t.Fatal(err)
						}
						got := ErrorCode(col.Authorize(role, op, cur))
						if w := want[from][to]; got != w {
							t.Errorf("got %q, want %q", got, w)
						}
					})
				}
			}
		}
	}
	if n != 840 {
		t.Fatalf("%d cases, want 840", n)
	}
}

// TestCloseReasonKept: a close_reason the station set earlier opens the
// gate for a later close too, and clearing it in the closing op shuts it.
func TestCloseReasonKept(t *testing.T) {
	col := MustCollection(t, "hazards")
	f, _ := col.Field("status")
	rank, _ := f.Rank(StageDispatched)
	cur := &DocState{Collection: "hazards", ID: "hz", Flows: map[string]FlowReg{"status": {Round: 1, Stage: StageDispatched, Rank: rank}},
		Fields: map[string]Reg{"close_reason": {Value: json.RawMessage(`"not_a_hazard"`)}}}
	closeOp := func(set map[string]json.RawMessage) *Op {
		return &Op{Device: "device-test", Seq: 3, HLC: HLC{Wall: 1_700_000_000_000}, Collection: "hazards", Doc: "hz", Set: set,
			Flow: map[string]FlowStep{"status": {To: StageClosed, Round: 1}}}
	}
	if err := col.Authorize(RoleStationStaff, closeOp(nil), cur); err != nil {
		t.Fatalf("close with a stored reason: %v", err)
	}
	cleared := closeOp(map[string]json.RawMessage{"close_reason": json.RawMessage(`null`)})
	if got := ErrorCode(col.Authorize(RoleStationStaff, cleared, cur)); got != CodeForbiddenTransition {
		t.Fatalf("close clearing the reason: got %q", got)
	}
}

// TestCreators is who may create what, collection by collection
// (docs/DOMAIN.md, the role table). Each op sets just the required fields.
func TestCreators(t *testing.T) {
	// G grid worker, V village officer, S station staff, E enforcement
	// officer, C county admin.
	want := map[string]string{
		"sites":               "GVS.C",
		"inspections":         "GVSE.",
		"inspection_items":    "GVSE.",
		"hazards":             "GVS..",
		"warnings":            "..S.C",
		"warning_acks":        "GV...",
		"patrols":             "GVS..",
		"patrol_checkins":     "GVS..",
		"incidents":           "GVSE.",
		"enforcement_records": "...E.",
		"enforcement_steps":   "...E.",
	}
	letters := map[Role]byte{RoleGridWorker: 'G', RoleVillageOfficer: 'V', RoleStationStaff: 'S', RoleEnforcementOfficer: 'E', RoleCountyAdmin: 'C'}
	s := DefaultSchema()
	for _, col := range s.Collections() {
		w, ok := want[col.Name]
		if !ok {
			t.Errorf("collection %s has no expectations", col.Name)
			continue
		}
		for i, role := range Roles() {
			op := requiredOp(t, col, role)
			err := col.Authorize(role, op, nil)
			allowed := w[i] == letters[role]
			if allowed && err != nil || !allowed && ErrorCode(err) != CodeForbiddenRole {
				t.Errorf("%s creates %s: got %v, want allowed=%v", role, col.Name, err, allowed)
			}
		}
	}
}

// requiredOp builds a valid op that sets every required field of col, with
// a first workflow step the role may take if it has one.
func requiredOp(t *testing.T, col *Collection, role Role) *Op {
	t.Helper()
	op := &Op{Device: "device-test", Seq: 1, HLC: HLC{Wall: 1_700_000_000_000}, Collection: col.Name, Doc: "d1",
		Set: map[string]json.RawMessage{}, Add: map[string][]string{}, Flow: map[string]FlowStep{}}
	for _, f := range col.Fields {
		if !f.Required {
			continue
		}
		switch {
		case f.Kind == KindFlow:
			to := f.Stages[0]
			if steps := f.Steps[role]; len(steps) > 0 {
				to = steps[0]
			}
			op.Flow[f.Name] = FlowStep{To: to, Round: 1}
		case f.Kind == KindSet:
			op.Add[f.Name] = []string{"officer-1-a", "officer-1-b"}
		case f.Type == TypeEnum:
			op.Set[f.Name], _ = json.Marshal(f.Enum[0])
		case f.Type == TypeTime || f.Type == TypeInt:
			op.Set[f.Name] = json.RawMessage(`1700000000000`)
		default:
			op.Set[f.Name] = json.RawMessage(`"x1"`)
		}
	}
	if err := col.ValidateOp(op); err != nil {
		t.Fatalf("%s: %v", col.Name, err)
	}
	return op
}

// TestFieldWriters: the fields only some roles write (排改分离 and
// grading are the station's).
func TestFieldWriters(t *testing.T) {
	tests := []struct {
		collection, field string
		value             string
		role              Role
		code              string
	}{
		{"sites", "risk_level", `"major"`, RoleGridWorker, CodeForbiddenField},
		{"sites", "risk_level", `"major"`, RoleStationStaff, ""},
		{"sites", "risk_level", `"major"`, RoleCountyAdmin, ""},
		{"hazards", "deadline", `1700000000000`, RoleGridWorker, CodeForbiddenField},
		{"hazards", "deadline", `1700000000000`, RoleStationStaff, ""},
		{"hazards", "assignee", `"x"`, RoleVillageOfficer, CodeForbiddenField},
		{"hazards", "verification_note", `"复核通过"`, RoleGridWorker, CodeForbiddenField},
		{"hazards", "verification_note", `"复核通过"`, RoleStationStaff, ""},
		{"hazards", "rectification_note", `"已整改"`, RoleGridWorker, ""},
		{"hazards", "escalated", `true`, RoleGridWorker, CodeForbiddenField},
		{"hazards", "escalated", `true`, RoleStationStaff, ""},
		{"hazards", "escalated", `true`, RoleCountyAdmin, ""},
		{"hazards", "referred_to", `"住建局"`, RoleVillageOfficer, CodeForbiddenField},
		{"hazards", "referred_to", `"住建局"`, RoleStationStaff, ""},
		{"hazards", "title", `"x"`, RoleEnforcementOfficer, CodeForbiddenRole},
		{"hazards", "close_reason", `"duplicate"`, RoleGridWorker, CodeForbiddenField},
		{"hazards", "close_reason", `"not_a_hazard"`, RoleStationStaff, ""},
		{"hazards", "feedback", `"住建局已约谈"`, RoleVillageOfficer, CodeForbiddenField},
		{"hazards", "feedback", `"住建局已约谈"`, RoleStationStaff, ""},
		// covert is fixed once reported; only the station corrects it.
		{"hazards", "covert", `false`, RoleGridWorker, CodeForbiddenField},
		{"hazards", "covert", `false`, RoleStationStaff, ""},
		{"inspections", "covert", `true`, RoleVillageOfficer, CodeForbiddenField},
		{"inspections", "covert", `true`, RoleStationStaff, ""},
		// 抄告 of a refused check and the department's reply (反馈).
		{"inspections", "referred_to", `"市场监管所"`, RoleGridWorker, CodeForbiddenField},
		{"inspections", "referred_to", `"市场监管所"`, RoleStationStaff, ""},
		{"inspections", "referred_at", `1700000000000`, RoleStationStaff, ""},
		{"inspections", "feedback", `"已责令整改"`, RoleEnforcementOfficer, CodeForbiddenField},
		{"inspections", "feedback", `"已责令整改"`, RoleStationStaff, ""},
		{"sites", "sub_kind", `"small_hotel"`, RoleGridWorker, ""},
		{"enforcement_steps", "note", `"改写"`, RoleEnforcementOfficer, CodeForbiddenField},
		{"enforcement_records", "major_decision", `true`, RoleEnforcementOfficer, ""},
		{"warnings", "title", `"x"`, RoleGridWorker, CodeForbiddenRole},
		{"enforcement_records", "note", `"x"`, RoleStationStaff, CodeForbiddenRole},
	}
	s := DefaultSchema()
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s.%s/%s", tc.collection, tc.field, tc.role), func(t *testing.T) {
			col, _ := s.Collection(tc.collection)
			op := &Op{Device: "device-test", Seq: 2, HLC: HLC{Wall: 1_700_000_000_001}, Collection: tc.collection, Doc: "d1",
				Set: map[string]json.RawMessage{tc.field: json.RawMessage(tc.value)}}
			cur := &DocState{Collection: tc.collection, ID: "d1"}
			if err := col.ValidateOp(op); err != nil {
				t.Fatal(err)
			}
			if got := ErrorCode(col.Authorize(tc.role, op, cur)); got != tc.code {
				t.Fatalf("got %q, want %q", got, tc.code)
			}
		})
	}
}

func TestCollectionOptions(t *testing.T) {
	s := DefaultSchema()
	var broadcast []string
	top, topName := 0, ""
	for _, c := range s.Collections() {
		if c.Broadcast {
			broadcast = append(broadcast, c.Name)
		}
		if c.Priority > top {
			top, topName = c.Priority, c.Name
		} else if c.Priority == top && c.Name != topName {
			topName = ""
		}
	}
	if !slices.Equal(broadcast, []string{"warnings"}) {
		t.Errorf("broadcast collections: got %v, want [warnings]", broadcast)
	}
	if topName != "incidents" {
		t.Errorf("highest priority: got %q (%d), want incidents alone", topName, top)
	}
	// The names the bench and the devices already push.
	for col, fields := range map[string][]string{
		"inspections":      {"site", "checklist_kind", "checklist_version", "started_at", "finished_at", "result", "note", "checked_at"},
		"inspection_items": {"inspection", "item", "result", "note"},
		"hazards":          {"escalated", "referred_to", "evidence", "photos", "covert", "item"},
	} {
		c, _ := s.Collection(col)
		for _, f := range fields {
			if _, ok := c.Field(f); !ok {
				t.Errorf("%s.%s is not declared", col, f)
			}
		}
	}
	acks, _ := s.Collection("warning_acks")
	if !acks.Area.Author {
		t.Error("warning_acks must belong to the acknowledging user's area")
	}
	for _, name := range []string{"enforcement_records", "enforcement_steps"} {
		c, _ := s.Collection(name)
		if c.CanRead(RoleGridWorker) || !c.CanRead(RoleStationStaff) {
			t.Errorf("%s readers: %v", name, c.Readers)
		}
	}
}

// TestDefaultSchemaFresh: each DefaultSchema has its own role slices, so
// a caller editing its copy does not change another's.
func TestDefaultSchemaFresh(t *testing.T) {
	a, b := DefaultSchema(), DefaultSchema()
	ca, _ := a.Collection("warnings")
	ca.Creators[0] = RoleGridWorker
	cb, _ := b.Collection("warnings")
	if cb.Creators[0] != RoleStationStaff {
		t.Fatalf("editing one schema changed another: %v", cb.Creators)
	}
}
