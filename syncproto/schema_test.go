package syncproto

import (
	"strings"
	"testing"
)

func TestDefaultSchema(t *testing.T) {
	s := DefaultSchema()
	var names []string
	for _, c := range s.Collections() {
		names = append(names, c.Name)
	}
	if got, want := strings.Join(names, ","), "sites,inspections,inspection_items,hazards,warnings,warning_acks,patrols,patrol_checkins,incidents,enforcement_records,enforcement_steps"; got != want {
		t.Fatalf("collections: got %s, want %s", got, want)
	}
	if DefaultSchema() == s {
		t.Fatal("DefaultSchema returned a shared value")
	}
	haz := MustCollection(t, "hazards")
	f, ok := haz.Field("status")
	if !ok || f.Kind != KindFlow {
		t.Fatal("hazards.status is not a flow")
	}
	if r, ok := f.Rank(StageClosed); !ok || r != 5 {
		t.Fatalf("rank of closed: got %d, %v", r, ok)
	}
	if _, ok := s.Collection("nope"); ok {
		t.Fatal("found an undeclared collection")
	}
}

// validCollection returns a small valid declaration for the table below.
func validCollection() *Collection {
	return &Collection{
		Name: "things",
		Fields: []Field{
			{Name: "area", Type: TypeArea, Required: true},
			{Name: "label", Type: TypeString, MaxLen: 20},
			{Name: "kind", Type: TypeEnum, Enum: []string{"a", "b"}},
			{Name: "tags", Kind: KindSet, Type: TypeString},
			{Name: "state", Kind: KindFlow, Stages: []string{"open", "done"},
				Steps: map[Role][]string{RoleGridWorker: {"open", "done"}}, Reopeners: []Role{RoleStationStaff}},
		},
		Area:     AreaRule{Field: "area"},
		Creators: []Role{RoleGridWorker},
	}
}

func TestNewSchema(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Collection) []*Collection
		err  string // substring; "" = valid
	}{
		{"OK", nil, ""},
		{"OKRef", func(c *Collection) []*Collection {
			c.Fields = append(c.Fields, Field{Name: "parent", Type: TypeRef, RefCollection: "things"})
			return nil
		}, ""},
		{"ErrNil", func(c *Collection) []*Collection { return []*Collection{c, nil} }, "is nil"},
		{"ErrDuplicateCollection", func(c *Collection) []*Collection { return []*Collection{c, validCollection()} }, "declared twice"},
		{"ErrCollectionName", func(c *Collection) []*Collection { c.Name = "Things"; return nil }, "collection name"},
		{"ErrNoFields", func(c *Collection) []*Collection { c.Fields = nil; return nil }, "no fields"},
		{"ErrNoCreators", func(c *Collection) []*Collection { c.Creators = nil; return nil }, "no creators"},
		{"ErrUnknownRole", func(c *Collection) []*Collection { c.Readers = []Role{"mayor"}; return nil }, `unknown role "mayor"`},
		{"ErrDuplicateField", func(c *Collection) []*Collection { c.Fields = append(c.Fields, Field{Name: "label"}); return nil }, "declared twice"},
		{"ErrFieldName", func(c *Collection) []*Collection { c.Fields[1].Name = "2label"; return nil }, "name is not"},
		{"ErrUnknownRef", func(c *Collection) []*Collection {
			c.Fields = append(c.Fields, Field{Name: "parent", Type: TypeRef, RefCollection: "nowhere"})
			return nil
		}, "undeclared collection"},
		{"ErrRefWithoutCollection", func(c *Collection) []*Collection { c.Fields[1].Type = TypeRef; c.Fields[1].MaxLen = 0; return nil }, "type ref needs one"},
		{"ErrEnumWithoutValues", func(c *Collection) []*Collection { c.Fields[2].Enum = nil; return nil }, "type enum needs values"},
		{"ErrEnumOnString", func(c *Collection) []*Collection { c.Fields[1].Enum = []string{"x"}; return nil }, "enum values go with type enum"},
		{"ErrEnumDuplicate", func(c *Collection) []*Collection { c.Fields[2].Enum = []string{"a", "a"}; return nil }, `enum value "a" twice`},
		{"ErrMaxLenType", func(c *Collection) []*Collection { c.Fields[2].MaxLen = 5; return nil }, "max length"},
		{"ErrMaxLenTooBig", func(c *Collection) []*Collection { c.Fields[1].MaxLen = MaxStringLen + 1; return nil }, "max length"},
		{"ErrMaxLenNegative", func(c *Collection) []*Collection { c.Fields[1].MaxLen = -1; return nil }, "max length"},
		{"ErrUnknownType", func(c *Collection) []*Collection { c.Fields[1].Type = 99; c.Fields[1].MaxLen = 0; return nil }, "unknown type"},
		{"ErrUnknownKind", func(c *Collection) []*Collection { c.Fields[1].Kind = 7; return nil }, "unknown kind"},
		{"ErrSetOfGeo", func(c *Collection) []*Collection { c.Fields[3].Type = TypeGeo; return nil }, "set elements cannot be of type geo"},
		{"ErrStagesOnScalar", func(c *Collection) []*Collection { c.Fields[1].Stages = []string{"x"}; return nil }, "are for flow fields"},
		{"ErrFlowWithoutStages", func(c *Collection) []*Collection { c.Fields[4].Stages = nil; return nil }, "flow without stages"},
		{"ErrFlowStageTwice", func(c *Collection) []*Collection { c.Fields[4].Stages = []string{"open", "open", "done"}; return nil }, `stage "open" twice`},
		{"ErrFlowStageName", func(c *Collection) []*Collection {
			c.Fields[4].Stages = append(c.Fields[4].Stages, "Done!")
			return nil
		}, "stage name"},
		{"ErrStepUndeclared", func(c *Collection) []*Collection {
			c.Fields[4].Steps = map[Role][]string{RoleGridWorker: {"closed"}}
			return nil
		}, `undeclared stage "closed"`},
		{"ErrStepRole", func(c *Collection) []*Collection {
			c.Fields[4].Steps = map[Role][]string{"mayor": {"open"}}
			return nil
		}, "steps for unknown role"},
		{"ErrReopenerRole", func(c *Collection) []*Collection { c.Fields[4].Reopeners = []Role{"mayor"}; return nil }, "unknown reopener"},
		{"ErrFlowWriters", func(c *Collection) []*Collection { c.Fields[4].Writers = []Role{RoleGridWorker}; return nil }, "do not apply to flow"},
		{"ErrWriterRole", func(c *Collection) []*Collection { c.Fields[1].Writers = []Role{"mayor"}; return nil }, "unknown writer role"},
		{"ErrGateStage", func(c *Collection) []*Collection {
			c.Fields[4].Gates = map[string]Gate{"closed": {From: []string{"open"}}}
			return nil
		}, `gate to undeclared stage "closed"`},
		{"ErrGateFrom", func(c *Collection) []*Collection {
			c.Fields[4].Gates = map[string]Gate{"done": {From: []string{"waiting"}}}
			return nil
		}, `from undeclared stage "waiting"`},
		{"ErrGateUnless", func(c *Collection) []*Collection {
			c.Fields[4].Gates = map[string]Gate{"done": {From: []string{"open"}, Unless: "tags"}}
			return nil
		}, `unless names no scalar field "tags"`},
		{"OKGate", func(c *Collection) []*Collection {
			c.Fields[4].Gates = map[string]Gate{"done": {From: []string{"", "open"}, Unless: "label"}}
			return nil
		}, ""},
		{"ErrGateOnScalar", func(c *Collection) []*Collection { c.Fields[1].Gates = map[string]Gate{"x": {}}; return nil }, "are for flow fields"},
		{"ErrFixedFlow", func(c *Collection) []*Collection { c.Fields[4].Fixed = true; return nil }, "do not apply to flow"},
		{"ErrAmendersWithoutFixed", func(c *Collection) []*Collection { c.Fields[1].Amenders = []Role{RoleStationStaff}; return nil }, "amenders go with fixed"},
		{"ErrAmenderRole", func(c *Collection) []*Collection {
			c.Fields[1].Fixed, c.Fields[1].Amenders = true, []Role{"mayor"}
			return nil
		}, "unknown writer role"},
		{"ErrAddOnlyScalar", func(c *Collection) []*Collection { c.Fields[1].AddOnly = true; return nil }, "add-only is for set fields"},
		{"OKFixedAddOnly", func(c *Collection) []*Collection { c.Fields[1].Fixed, c.Fields[3].AddOnly = true, true; return nil }, ""},
		{"ErrAreaNone", func(c *Collection) []*Collection { c.Area = AreaRule{}; return nil }, "exactly one"},
		{"ErrAreaTwo", func(c *Collection) []*Collection { c.Area.Author = true; return nil }, "exactly one"},
		{"ErrAreaFieldType", func(c *Collection) []*Collection { c.Area = AreaRule{Field: "label"}; return nil }, "required scalar field of type area"},
		{"ErrAreaNotRequired", func(c *Collection) []*Collection { c.Fields[0].Required = false; return nil }, "required scalar field"},
		{"ErrAreaRefNotRef", func(c *Collection) []*Collection { c.Area = AreaRule{Ref: "area"}; return nil }, "of type ref"},
		{"OKAreaAuthor", func(c *Collection) []*Collection { c.Area = AreaRule{Author: true}; return nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCollection()
			cols := []*Collection{c}
			if tt.edit != nil {
				if more := tt.edit(c); more != nil {
					cols = more
				}
			}
			_, err := NewSchema(cols...)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("got %v, want an error containing %q", err, tt.err)
			}
		})
	}
}

func TestNewSchemaReportsAll(t *testing.T) {
	c := validCollection()
	c.Creators = nil
	c.Fields[2].Enum = nil
	_, err := NewSchema(c)
	if err == nil || !strings.Contains(err.Error(), "no creators") || !strings.Contains(err.Error(), "needs values") {
		t.Fatalf("got %v, want both mistakes", err)
	}
}

func TestCanRead(t *testing.T) {
	c := validCollection()
	if !c.CanRead(RoleCountyAdmin) || c.CanRead("mayor") {
		t.Fatal("empty Readers must mean every known role")
	}
	c.Readers = []Role{RoleStationStaff}
	if c.CanRead(RoleGridWorker) || !c.CanRead(RoleStationStaff) {
		t.Fatal("Readers not honoured")
	}
}

func TestKindAndTypeNames(t *testing.T) {
	if KindSet.String() != "set" || FieldKind(9).String() != "FieldKind(9)" {
		t.Error("FieldKind.String")
	}
	if TypeSHA256.String() != "sha256" || ValueType(-1).String() != "ValueType(-1)" {
		t.Error("ValueType.String")
	}
}
