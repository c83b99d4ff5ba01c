package syncproto

import (
	"encoding/json"
	"testing"
)

// hazardAt returns the state of an existing hazard whose status is stage
// in round.
func hazardAt(tb testing.TB, stage string, round uint32) *DocState {
	tb.Helper()
	c := MustCollection(tb, "hazards")
	op := newHazardOp()
	op.Flow["status"] = FlowStep{To: stage, Round: round}
	s, _ := MustApply(tb, c, DocState{}, op)
	return &s
}

func editOp(edit func(*Op)) *Op {
	op := &Op{Device: devZhao, Seq: 7, HLC: HLC{Wall: t0 + 1000}, Collection: "hazards", Doc: hazID}
	edit(op)
	return op
}

func TestAuthorize(t *testing.T) {
	haz := MustCollection(t, "hazards")
	sites := MustCollection(t, "sites")
	deleted := hazardAt(t, StageReported, 1)
	deleted.Deleted = Stamp{HLC{Wall: t0 + 10}, devWang}

	setTitle := editOp(func(o *Op) { o.Set = map[string]json.RawMessage{"title": jsonString("t")} })
	setDeadline := editOp(func(o *Op) { o.Set = map[string]json.RawMessage{"deadline": jsonString(t0 + 86400000)} })
	addPhoto := editOp(func(o *Op) { o.Add = map[string][]string{"photos": {sha(8)}} })
	del := editOp(func(o *Op) { o.Delete = true })
	step := func(to string, round uint32) *Op {
		return editOp(func(o *Op) { o.Flow = map[string]FlowStep{"status": {To: to, Round: round}} })
	}
	newSite := &Op{Device: devLi, Seq: 1, HLC: HLC{Wall: t0}, Collection: "sites", Doc: siteID,
		Set: map[string]json.RawMessage{"grid": jsonString("grid-7"), "name": jsonString("王家村12号"), "kind": jsonString(SiteSelfBuilt)}}
	newSiteRisk := &Op{Device: devLi, Seq: 1, HLC: HLC{Wall: t0}, Collection: "sites", Doc: siteID,
		Set: map[string]json.RawMessage{"grid": jsonString("grid-7"), "name": jsonString("x"), "kind": jsonString(SiteSelfBuilt), "risk_level": jsonString(RiskMajor)}}

	closeWithReason := editOp(func(o *Op) {
		o.Set = map[string]json.RawMessage{"close_reason": jsonString(CloseDuplicate)}
		o.Flow = map[string]FlowStep{"status": {To: StageClosed, Round: 1}}
	})
	newCovert := newHazardOp()
	newCovert.Set["covert"] = json.RawMessage(`true`)
	setCovert := editOp(func(o *Op) { o.Set = map[string]json.RawMessage{"covert": json.RawMessage(`false`)} })
	steps := MustCollection(t, "enforcement_steps")
	existingStep := &DocState{Collection: "enforcement_steps", ID: "st-1"}
	stepOp := func(edit func(*Op)) *Op {
		op := &Op{Device: devZhao, Seq: 9, HLC: HLC{Wall: t0 + 2000}, Collection: "enforcement_steps", Doc: "st-1"}
		edit(op)
		return op
	}
	stepNote := stepOp(func(o *Op) { o.Set = map[string]json.RawMessage{"note": jsonString("改写")} })
	stepPhoto := stepOp(func(o *Op) { o.Add = map[string][]string{"photos": {sha(9)}} })
	stepUnphoto := stepOp(func(o *Op) {
		o.Remove = map[string]map[string][]OpID{"photos": {sha(9): {{Device: devZhao, Seq: 8}}}}
	})

	tests := []struct {
		name string
		c    *Collection
		role Role
		op   *Op
		cur  *DocState
		code string
	}{
		{"OKCreate", haz, RoleGridWorker, newHazardOp(), nil, ""},
		{"OKCreateEmptyState", haz, RoleVillageOfficer, newHazardOp(), &DocState{}, ""},
		{"ErrCreateRole", haz, RoleEnforcementOfficer, newHazardOp(), nil, CodeForbiddenRole},
		{"ErrCreateMissingRequired", haz, RoleGridWorker, setTitle, nil, CodeNotFound},
		{"ErrUnknownRole", haz, "mayor", newHazardOp(), nil, CodeForbiddenRole},
		{"OKEdit", haz, RoleGridWorker, setTitle, hazardAt(t, StageReported, 1), ""},
		{"OKAddPhoto", haz, RoleVillageOfficer, addPhoto, hazardAt(t, StageReported, 1), ""},
		{"ErrEditRole", haz, RoleCountyAdmin, setTitle, hazardAt(t, StageReported, 1), CodeForbiddenRole},
		{"ErrFieldWriter", haz, RoleGridWorker, setDeadline, hazardAt(t, StageReported, 1), CodeForbiddenField},
		{"OKFieldWriter", haz, RoleStationStaff, setDeadline, hazardAt(t, StageReported, 1), ""},
		{"ErrFieldWriterOnCreate", sites, RoleGridWorker, newSiteRisk, nil, CodeForbiddenField},
		{"OKCreateSite", sites, RoleGridWorker, newSite, nil, ""},
		{"OKCreateSiteWithRisk", sites, RoleStationStaff, newSiteRisk, nil, ""},
		{"ErrDocDeleted", haz, RoleStationStaff, setTitle, deleted, CodeDocDeleted},
		{"ErrDeleteDeleted", haz, RoleStationStaff, del, deleted, CodeDocDeleted},
		{"OKDelete", haz, RoleStationStaff, del, hazardAt(t, StageReported, 1), ""},
		{"ErrDeleteRole", haz, RoleGridWorker, del, hazardAt(t, StageReported, 1), CodeForbiddenRole},
		{"ErrDeleteMissing", haz, RoleStationStaff, del, nil, CodeNotFound},
		// Workflow.
		{"OKDispatch", haz, RoleStationStaff, step(StageDispatched, 1), hazardAt(t, StageReported, 1), ""},
		{"OKSubmit", haz, RoleGridWorker, step(StageSubmitted, 1), hazardAt(t, StageRectifying, 1), ""},
		{"OKSameStage", haz, RoleGridWorker, step(StageSubmitted, 1), hazardAt(t, StageSubmitted, 1), ""},
		{"OKSkipForward", haz, RoleStationStaff, step(StageVerified, 1), hazardAt(t, StageReported, 1), ""},
		// Gates: closed only from verified, or with a close_reason.
		{"ErrCloseUnverified", haz, RoleStationStaff, step(StageClosed, 1), hazardAt(t, StageReported, 1), CodeForbiddenTransition},
		{"OKCloseVerified", haz, RoleStationStaff, step(StageClosed, 1), hazardAt(t, StageVerified, 1), ""},
		{"OKCloseWithReason", haz, RoleStationStaff, closeWithReason, hazardAt(t, StageReported, 1), ""},
		{"ErrReopenIntoClosed", haz, RoleStationStaff, step(StageClosed, 2), hazardAt(t, StageVerified, 1), CodeForbiddenTransition},
		// Fixed fields and add-only sets.
		{"OKFixedOnCreate", haz, RoleGridWorker, newCovert, nil, ""},
		{"ErrFixedAfterCreate", haz, RoleGridWorker, setCovert, hazardAt(t, StageReported, 1), CodeForbiddenField},
		{"OKFixedByAmender", haz, RoleStationStaff, setCovert, hazardAt(t, StageReported, 1), ""},
		{"ErrFixedStepNote", steps, RoleEnforcementOfficer, stepNote, existingStep, CodeForbiddenField},
		{"OKAddOnlyAdd", steps, RoleEnforcementOfficer, stepPhoto, existingStep, ""},
		{"ErrAddOnlyRemove", steps, RoleEnforcementOfficer, stepUnphoto, existingStep, CodeForbiddenField},
		{"ErrWorkerCloses", haz, RoleGridWorker, step(StageClosed, 1), hazardAt(t, StageVerified, 1), CodeForbiddenTransition},
		{"ErrBackwards", haz, RoleGridWorker, step(StageSubmitted, 1), hazardAt(t, StageVerified, 1), CodeForbiddenTransition},
		{"ErrFirstStepRound2", haz, RoleGridWorker, newHazardOpRound(2), nil, CodeForbiddenTransition},
		{"OKReopen", haz, RoleStationStaff, step(StageRectifying, 2), hazardAt(t, StageVerified, 1), ""},
		{"ErrReopenRole", haz, RoleGridWorker, step(StageSubmitted, 2), hazardAt(t, StageVerified, 1), CodeForbiddenTransition},
		{"ErrSkipRound", haz, RoleStationStaff, step(StageRectifying, 3), hazardAt(t, StageVerified, 1), CodeForbiddenTransition},
		{"ErrStaleRound", haz, RoleGridWorker, step(StageSubmitted, 1), hazardAt(t, StageRectifying, 2), CodeForbiddenTransition},
		{"OKStepInNewRound", haz, RoleGridWorker, step(StageSubmitted, 2), hazardAt(t, StageRectifying, 2), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.c.ValidateOp(tt.op); err != nil {
				t.Fatalf("test op is invalid: %v", err)
			}
			err := tt.c.Authorize(tt.role, tt.op, tt.cur)
			if got := ErrorCode(err); got != tt.code {
				t.Fatalf("got %q (%v), want %q", got, err, tt.code)
			}
		})
	}
}

func newHazardOpRound(round uint32) *Op {
	op := newHazardOp()
	op.Flow["status"] = FlowStep{To: StageReported, Round: round}
	return op
}

func TestAuthorizeWritersDefault(t *testing.T) {
	c := validCollection()
	c.Writers = []Role{RoleStationStaff}
	op := &Op{Device: devLi, Seq: 2, HLC: HLC{Wall: t0}, Collection: "things", Doc: "d1",
		Set: map[string]json.RawMessage{"label": jsonString("x")}}
	cur := &DocState{Collection: "things", ID: "d1"}
	if got := ErrorCode(c.Authorize(RoleGridWorker, op, cur)); got != CodeForbiddenRole {
		t.Fatalf("creator editing with Writers set: got %q, want %q", got, CodeForbiddenRole)
	}
	if err := c.Authorize(RoleStationStaff, op, cur); err != nil {
		t.Fatalf("writer editing: %v", err)
	}
}
