package syncproto

import (
	"encoding/json"
	"strings"
	"testing"
)

// typesCollection declares one field of every type.
func typesCollection(tb testing.TB) *Collection {
	tb.Helper()
	c := &Collection{
		Name: "samples",
		Fields: []Field{
			{Name: "area", Type: TypeArea, Required: true},
			{Name: "s", Type: TypeString},
			{Name: "s5", Type: TypeString, MaxLen: 5},
			{Name: "text", Type: TypeText},
			{Name: "i", Type: TypeInt},
			{Name: "f", Type: TypeFloat},
			{Name: "b", Type: TypeBool},
			{Name: "t", Type: TypeTime},
			{Name: "e", Type: TypeEnum, Enum: []string{"x", "y"}},
			{Name: "r", Type: TypeRef, RefCollection: "samples"},
			{Name: "g", Type: TypeGeo},
			{Name: "h", Type: TypeSHA256},
			{Name: "hs", Kind: KindSet, Type: TypeSHA256},
			{Name: "es", Kind: KindSet, Type: TypeEnum, Enum: []string{"x"}},
			{Name: "rs", Kind: KindSet, Type: TypeRef, RefCollection: "samples"},
			{Name: "ss", Kind: KindSet, Type: TypeString},
			{Name: "fl", Kind: KindFlow, Stages: []string{"a", "b"}},
		},
		Area:     AreaRule{Field: "area"},
		Creators: []Role{RoleGridWorker},
	}
	if _, err := NewSchema(c); err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestValidateValues(t *testing.T) {
	c := typesCollection(t)
	tests := []struct {
		field, value string
		code         string
	}{
		{"s", `"消防通道堵塞"`, ""},
		{"s", `null`, ""},
		{"s", `"` + strings.Repeat("隐", MaxStringLen) + `"`, ""},
		{"s", `"` + strings.Repeat("隐", MaxStringLen+1) + `"`, CodeTooLarge},
		{"s", `12`, CodeInvalidValue},
		{"s", ` "padded" `, ""},
		{"s5", `"12345"`, ""},
		{"s5", `"123456"`, CodeTooLarge},
		{"text", `"` + strings.Repeat("患", MaxTextLen) + `"`, ""},
		{"text", `"` + strings.Repeat("患", MaxTextLen+1) + `"`, CodeTooLarge},
		{"i", `-42`, ""},
		{"i", `9007199254740991`, ""},
		{"i", `9007199254740992`, CodeInvalidValue},
		{"i", `-9007199254740992`, CodeInvalidValue},
		{"i", `1.0`, CodeInvalidValue},
		{"i", `1e3`, CodeInvalidValue},
		{"i", `01`, CodeInvalidValue},
		{"i", `"1"`, CodeInvalidValue},
		{"f", `-3.25e2`, ""},
		{"f", `0`, ""},
		{"f", `1e400`, CodeInvalidValue},
		{"f", `"1.5"`, CodeInvalidValue},
		{"b", `true`, ""},
		{"b", `"true"`, CodeInvalidValue},
		{"b", `1`, CodeInvalidValue},
		{"t", `1732300000000`, ""},
		{"t", `0`, ""},
		{"t", `-1`, CodeInvalidValue},
		{"t", `10000000000000`, CodeInvalidValue},
		{"e", `"x"`, ""},
		{"e", `"z"`, CodeInvalidValue},
		{"e", `"X"`, CodeInvalidValue},
		{"r", `"` + siteID + `"`, ""},
		{"r", `"a b"`, CodeInvalidValue},
		{"r", `""`, CodeInvalidValue},
		{"area", `"grid-042"`, ""},
		{"area", `null`, CodeInvalidValue}, // required fields cannot be cleared
		{"g", `{"lat":30.27,"lng":120.15}`, ""},
		{"g", `{"lng":-180,"lat":-90}`, ""},
		{"g", `{"lat":90.01,"lng":0}`, CodeInvalidValue},
		{"g", `{"lat":0,"lng":180.5}`, CodeInvalidValue},
		{"g", `{"lat":0}`, CodeInvalidValue},
		{"g", `{"lat":"30","lng":"120"}`, CodeInvalidValue},
		{"g", `{"lat":0,"lng":0,"alt":3}`, CodeInvalidValue},
		{"g", `{"lat":0,"lng":0,"lat":1}`, CodeInvalidValue},
		{"g", `{"Lat":0,"lng":0}`, CodeInvalidValue},
		{"g", `[0,0]`, CodeInvalidValue},
		{"h", `"` + sha(3) + `"`, ""},
		{"h", `"` + strings.ToUpper(sha(3)) + `"`, CodeInvalidValue},
		{"h", `"` + sha(3)[:63] + `"`, CodeInvalidValue},
		{"nope", `1`, CodeUnknownField},
		{"hs", `["x"]`, CodeUnknownField}, // a set field cannot be Set
		{"fl", `"a"`, CodeUnknownField},
	}
	for _, tt := range tests {
		op := &Op{Device: devLi, Seq: 1, HLC: HLC{Wall: t0}, Collection: "samples", Doc: "d1",
			Set: map[string]json.RawMessage{tt.field: json.RawMessage(tt.value)}}
		err := c.ValidateOp(op)
		if got := ErrorCode(err); got != tt.code {
			t.Errorf("%s = %.40s: got %q (%v), want %q", tt.field, tt.value, got, err, tt.code)
		}
	}
}

func TestValidateElements(t *testing.T) {
	c := typesCollection(t)
	tests := []struct {
		field, elem string
		code        string
	}{
		{"hs", sha(1), ""},
		{"hs", "photo.jpg", CodeInvalidValue},
		{"es", "x", ""},
		{"es", "y", CodeInvalidValue},
		{"rs", siteID, ""},
		{"rs", "a:b", CodeInvalidValue},
		{"ss", "张三", ""},
		{"s", "x", CodeUnknownField},  // a scalar field cannot be added to
		{"fl", "a", CodeUnknownField}, // nor a flow
	}
	for _, tt := range tests {
		for _, remove := range []bool{false, true} {
			op := &Op{Device: devLi, Seq: 2, HLC: HLC{Wall: t0}, Collection: "samples", Doc: "d1"}
			if remove {
				op.Remove = map[string]map[string][]OpID{tt.field: {tt.elem: {{devLi, 1}}}}
			} else {
				op.Add = map[string][]string{tt.field: {tt.elem}}
			}
			if got := ErrorCode(c.ValidateOp(op)); got != tt.code {
				t.Errorf("%s %q (remove=%v): got %q, want %q", tt.field, tt.elem, remove, got, tt.code)
			}
		}
	}
}

func TestValidateFlow(t *testing.T) {
	c := typesCollection(t)
	for stage, code := range map[string]string{"a": "", "b": "", "c": CodeInvalidValue} {
		op := &Op{Device: devLi, Seq: 2, HLC: HLC{Wall: t0}, Collection: "samples", Doc: "d1",
			Flow: map[string]FlowStep{"fl": {To: stage, Round: 1}}}
		if got := ErrorCode(c.ValidateOp(op)); got != code {
			t.Errorf("stage %q: got %q, want %q", stage, got, code)
		}
	}
	op := &Op{Device: devLi, Seq: 2, HLC: HLC{Wall: t0}, Collection: "samples", Doc: "d1",
		Flow: map[string]FlowStep{"s": {To: "a", Round: 1}}}
	if got := ErrorCode(c.ValidateOp(op)); got != CodeUnknownField {
		t.Errorf("flow on scalar: got %q", got)
	}
}

func TestSchemaValidateOp(t *testing.T) {
	s := DefaultSchema()
	op := newHazardOp()
	if err := s.ValidateOp(op); err != nil {
		t.Fatal(err)
	}
	op.Collection = "undeclared"
	if got := ErrorCode(s.ValidateOp(op)); got != CodeUnknownCollection {
		t.Fatalf("got %q, want %q", got, CodeUnknownCollection)
	}
	op.Seq = 0 // structure is checked first
	if got := ErrorCode(s.ValidateOp(op)); got != CodeInvalidOp {
		t.Fatalf("got %q, want %q", got, CodeInvalidOp)
	}
	op = newHazardOp()
	if got := ErrorCode(MustCollection(t, "sites").ValidateOp(op)); got != CodeUnknownCollection {
		t.Fatalf("checked against another collection: got %q", got)
	}
}

func TestRejectError(t *testing.T) {
	err := error(reject(CodeDocDeleted, "doc %s", "x"))
	if err.Error() != "doc_deleted: doc x" || ErrorCode(err) != CodeDocDeleted {
		t.Fatalf("got %v", err)
	}
	if ErrorCode(nil) != "" {
		t.Fatal("ErrorCode(nil) != \"\"")
	}
}
