package syncproto

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const (
	devLi   = "phone-li-7c1e"
	devZhao = "phone-zhao-29b0"
	devWang = "station-wang-01"
	siteID  = "01936a00-1111-7abc-8000-000000000001"
	hazID   = "01936b2e-8f3c-7a10-b5e4-6c2d9a1f0e77"
)

// newHazardOp returns a valid op that creates a hazard.
func newHazardOp() *Op {
	return &Op{
		Device: devLi, Seq: 1, HLC: HLC{Wall: t0}, Collection: "hazards", Doc: hazID,
		Set: map[string]json.RawMessage{
			"site":  jsonString(siteID),
			"title": jsonString("Extension lead across the stairwell"),
		},
		Add:  map[string][]string{"photos": {sha(1)}},
		Flow: map[string]FlowStep{"status": {To: StageReported, Round: 1}},
	}
}

func TestOpValidate(t *testing.T) {
	manyElems := make([]string, MaxSetElemsPerOp+1)
	for i := range manyElems {
		manyElems[i] = sha(i) + fmt.Sprint(i)
	}
	manyTags := make([]OpID, MaxTagsPerRemove+1)
	for i := range manyTags {
		manyTags[i] = OpID{devLi, uint64(i + 1)}
	}
	tests := []struct {
		name string
		edit func(*Op)
		code string
	}{
		{"OK", func(*Op) {}, ""},
		{"OKDelete", func(o *Op) {
			*o = Op{Device: o.Device, Seq: 2, HLC: o.HLC, Collection: o.Collection, Doc: o.Doc, Delete: true}
		}, ""},
		{"ErrDevice", func(o *Op) { o.Device = "short" }, CodeInvalidOp},
		{"ErrSeq", func(o *Op) { o.Seq = 0 }, CodeInvalidOp},
		{"ErrHLCZero", func(o *Op) { o.HLC = HLC{} }, CodeInvalidOp},
		{"ErrHLCRange", func(o *Op) { o.HLC = HLC{Wall: -3} }, CodeInvalidOp},
		{"ErrCollectionName", func(o *Op) { o.Collection = "Hazards" }, CodeInvalidOp},
		{"ErrDocID", func(o *Op) { o.Doc = "a/b" }, CodeInvalidOp},
		{"ErrDocIDLong", func(o *Op) { o.Doc = strings.Repeat("a", MaxIDLen+1) }, CodeInvalidOp},
		{"ErrEmpty", func(o *Op) { o.Set, o.Add, o.Flow = nil, nil, nil }, CodeInvalidOp},
		{"ErrDeleteWithSet", func(o *Op) { o.Delete = true }, CodeInvalidOp},
		{"ErrFieldName", func(o *Op) { o.Set["Title"] = jsonString("x") }, CodeInvalidOp},
		{"ErrTwoKinds", func(o *Op) { o.Set["photos"] = jsonString("x") }, CodeInvalidOp},
		{"ErrNotJSON", func(o *Op) { o.Set["title"] = json.RawMessage("{") }, CodeInvalidValue},
		{"ErrBaseWithoutSet", func(o *Op) { o.Base = map[string]Stamp{"description": {}} }, CodeInvalidOp},
		{"ErrBaseMalformed", func(o *Op) { o.Base = map[string]Stamp{"title": {HLC: HLC{Wall: 1}}} }, CodeInvalidOp},
		{"OKBase", func(o *Op) { o.Base = map[string]Stamp{"title": {HLC: HLC{Wall: 1}, Device: devZhao}} }, ""},
		{"ErrAddEmpty", func(o *Op) { o.Add["photos"] = nil }, CodeInvalidOp},
		{"ErrAddTwice", func(o *Op) { o.Add["photos"] = []string{sha(1), sha(1)} }, CodeInvalidOp},
		{"ErrAddEmptyElem", func(o *Op) { o.Add["photos"] = []string{""} }, CodeInvalidValue},
		{"ErrAddBadUTF8", func(o *Op) { o.Add["photos"] = []string{"\xff"} }, CodeInvalidValue},
		{"ErrElemTooLong", func(o *Op) { o.Add["photos"] = []string{strings.Repeat("隐", MaxStringLen+1)} }, CodeTooLarge},
		{"OKElemMaxLen", func(o *Op) { o.Add["photos"] = []string{strings.Repeat("隐", MaxStringLen)} }, ""},
		{"ErrAddAndRemove", func(o *Op) { o.Remove = map[string]map[string][]OpID{"photos": {sha(1): {{devLi, 1}}}} }, CodeInvalidOp},
		{"ErrRemoveNoTags", func(o *Op) { o.Remove = map[string]map[string][]OpID{"photos": {sha(2): nil}} }, CodeInvalidOp},
		{"ErrRemoveNoElems", func(o *Op) { o.Remove = map[string]map[string][]OpID{"photos": {}} }, CodeInvalidOp},
		{"ErrRemoveBadTag", func(o *Op) { o.Remove = map[string]map[string][]OpID{"photos": {sha(2): {{devLi, 0}}}} }, CodeInvalidOp},
		{"ErrFlowNoStage", func(o *Op) { o.Flow["status"] = FlowStep{Round: 1} }, CodeInvalidOp},
		{"ErrFlowRound0", func(o *Op) { o.Flow["status"] = FlowStep{To: StageReported} }, CodeInvalidOp},
		// Limits.
		{"ErrMaxSetElemsPerOp", func(o *Op) { o.Add["photos"] = manyElems }, CodeTooLarge},
		{"OKMaxSetElemsPerOp", func(o *Op) { o.Add["photos"] = manyElems[:MaxSetElemsPerOp] }, ""},
		{"ErrMaxSetElemsPerOpWithRemoves", func(o *Op) {
			o.Add["photos"] = manyElems[:MaxSetElemsPerOp]
			o.Remove = map[string]map[string][]OpID{"photos": {sha(99): {{devLi, 1}}}}
		}, CodeTooLarge},
		{"ErrMaxTagsPerRemove", func(o *Op) { o.Remove = map[string]map[string][]OpID{"photos": {sha(2): manyTags}} }, CodeTooLarge},
		{"OKMaxTagsPerRemove", func(o *Op) {
			o.Remove = map[string]map[string][]OpID{"photos": {sha(2): manyTags[:MaxTagsPerRemove]}}
		}, ""},
		{"ErrMaxFieldsPerOp", func(o *Op) { setFields(o, MaxFieldsPerOp+1) }, CodeTooLarge},
		{"OKMaxFieldsPerOp", func(o *Op) { setFields(o, MaxFieldsPerOp) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newHazardOp()
			tt.edit(op)
			if got := ErrorCode(op.Validate()); got != tt.code {
				t.Fatalf("got code %q (%v), want %q", got, op.Validate(), tt.code)
			}
		})
	}
}

// setFields makes op touch n fields in all: its add and flow field, and
// n-2 scalar fields.
func setFields(o *Op, n int) {
	o.Set = map[string]json.RawMessage{}
	for i := range n - 2 {
		o.Set[fmt.Sprintf("f%d", i)] = jsonString(i)
	}
}

func TestOpIDAndStamp(t *testing.T) {
	op := newHazardOp()
	if got, want := op.ID().String(), devLi+":1"; got != want {
		t.Errorf("ID: got %q, want %q", got, want)
	}
	if got, want := op.Stamp().String(), "1732300000000-00000@"+devLi; got != want {
		t.Errorf("Stamp: got %q, want %q", got, want)
	}
}

// TestOpValidateDeterministic checks an op with several problems always
// gets the same verdict, whatever the map order.
func TestOpValidateDeterministic(t *testing.T) {
	op := newHazardOp()
	for i := range 10 {
		op.Set[fmt.Sprintf("Bad%d", i)] = jsonString(i)
	}
	want := op.Validate().Error()
	for range 50 {
		if got := op.Validate().Error(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
