package syncproto

import (
	"errors"
	"fmt"
	"slices"
)

// Role is a user's role. Roles are fixed by the product: every collection
// declaration refers to them, and the server stores them on users.
type Role string

// The roles of the product.
const (
	// RoleGridWorker (网格员) checks sites door to door and reports hazards.
	RoleGridWorker Role = "grid_worker"
	// RoleVillageOfficer (村/社区消防安全管理人) does the same for a whole
	// village and follows up residents' rectification.
	RoleVillageOfficer Role = "village_officer"
	// RoleStationStaff (乡镇/街道应急消防管理站) reviews, dispatches,
	// verifies and closes hazards and grades site risk.
	RoleStationStaff Role = "station_staff"
	// RoleEnforcementOfficer (执法人员) makes enforcement inspections.
	RoleEnforcementOfficer Role = "enforcement_officer"
	// RoleCountyAdmin (县应急管理局/消防救援大队) administers the county.
	RoleCountyAdmin Role = "county_admin"
)

// Roles returns every role, in the order of the constants.
func Roles() []Role {
	return []Role{RoleGridWorker, RoleVillageOfficer, RoleStationStaff, RoleEnforcementOfficer, RoleCountyAdmin}
}

// Valid reports whether r is one of the product's roles.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// FieldKind says which merge rule a field follows.
type FieldKind int

// Field kinds. KindLWW is the zero value because most fields are scalars.
const (
	// KindLWW is a last-writer-wins scalar, changed with Op.Set.
	KindLWW FieldKind = iota
	// KindSet is an add-wins set of strings, changed with Op.Add and
	// Op.Remove. Its Type is the element type.
	KindSet
	// KindFlow is a monotone workflow status, changed with Op.Flow.
	KindFlow
)

// String returns the kind's name, for messages.
func (k FieldKind) String() string {
	switch k {
	case KindLWW:
		return "lww"
	case KindSet:
		return "set"
	case KindFlow:
		return "flow"
	}
	return fmt.Sprintf("FieldKind(%d)", int(k))
}

// ValueType is the type of a scalar value or set element. Its JSON form is
// given with each constant; ValidateOp checks it.
type ValueType int

// Value types. TypeString is the zero value.
const (
	// TypeString: a JSON string of at most MaxLen (default MaxStringLen) runes.
	TypeString ValueType = iota
	// TypeText: a JSON string of at most MaxLen (default MaxTextLen) runes.
	TypeText
	// TypeInt: a JSON integer within ±(2^53-1), the range a JavaScript
	// client (the station dashboard) reads exactly.
	TypeInt
	// TypeFloat: a finite JSON number.
	TypeFloat
	// TypeBool: true or false.
	TypeBool
	// TypeTime: an instant as an integer of unix milliseconds, 0 to
	// 9999999999999.
	TypeTime
	// TypeEnum: a JSON string among Field.Enum.
	TypeEnum
	// TypeRef: the id (ValidDocID) of a document of Field.RefCollection.
	TypeRef
	// TypeArea: the id (ValidDocID) of an area (county, township, village
	// or grid).
	TypeArea
	// TypeGeo: {"lat": -90..90, "lng": -180..180}, WGS-84 degrees.
	TypeGeo
	// TypeSHA256: 64 lowercase hex digits, the content address of a photo.
	TypeSHA256
)

var typeNames = [...]string{"string", "text", "int", "float", "bool", "time", "enum", "ref", "area", "geo", "sha256"}

// String returns the type's name, for messages.
func (t ValueType) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", int(t))
}

// Field declares one field of a collection.
type Field struct {
	// Name is the field's name in ops and states: [a-z][a-z0-9_]*.
	Name string
	Kind FieldKind
	// Type is the value type (KindLWW) or element type (KindSet); unused
	// for KindFlow.
	Type ValueType
	// Enum lists the allowed values of a TypeEnum field.
	Enum []string
	// MaxLen caps TypeString and TypeText values in runes; 0 means the
	// type's default, and it may not exceed that default.
	MaxLen int
	// RefCollection names the collection a TypeRef field points into.
	RefCollection string
	// Writers are the roles that may write the field. Empty means every
	// role that may write the document (Collection.Writers). Not used for
	// KindFlow, which Steps govern.
	Writers []Role
	// Stages are a KindFlow field's stages, in workflow order; a stage's
	// index is its rank.
	Stages []string
	// Steps gives, per role, the stages that role may move a KindFlow field
	// to. A role absent here may not move the workflow.
	Steps map[Role][]string
	// Reopeners are the roles that may open a new round of a KindFlow field.
	Reopeners []Role
	// Gates restrict where a KindFlow step may come from: a step to stage s
	// (a key) is allowed only from a stage in Gates[s].From, unless the
	// document, with the op applied, has the field Gates[s].Unless set. The
	// stage a step comes from is the current stage in the current round,
	// and "" at the start of a round (the first step, or a reopen). A step
	// to the stage the field is already at changes nothing and is never
	// gated. Gates add to Steps and the round rules, never relax them.
	Gates map[string]Gate
	// Fixed makes a field part of the record as first made: only the op
	// that creates the document writes it, except the roles in Amenders,
	// which may still correct it later (within Writers).
	Fixed    bool
	Amenders []Role
	// AddOnly makes a KindSet field grow only: elements are added (also
	// after creation), never removed, like evidence photos.
	AddOnly bool
	// Required means the op that creates the document must set the field
	// (Set, Add or Flow by kind), and a scalar may not be cleared later.
	Required bool
}

// Gate is where steps to one stage of a workflow may come from (see
// Field.Gates).
type Gate struct {
	// From lists the stages the step may leave; "" is the start of a
	// round.
	From []string
	// Unless names a field of the collection that, when set, opens the
	// gate from any stage (a close with a reason instead of after
	// verification).
	Unless string
}

// Rank returns the index of stage among the field's Stages.
func (f *Field) Rank(stage string) (int, bool) {
	i := slices.Index(f.Stages, stage)
	return i, i >= 0
}

// MaxRunes returns the effective rune limit of a string field or element:
// MaxLen if set, else the type's default. Validate enforces it; a form
// uses it for its maxlength.
func (f *Field) MaxRunes() int {
	if f.MaxLen > 0 {
		return f.MaxLen
	}
	return typeMaxLen(f.Type)
}

// maxLen is MaxRunes, under the name validate.go calls.
func (f *Field) maxLen() int { return f.MaxRunes() }

// typeMaxLen returns the default and largest rune limit of a type.
func typeMaxLen(t ValueType) int {
	if t == TypeText {
		return MaxTextLen
	}
	return MaxStringLen
}

// AreaRule says how the server finds a document's area, which decides who
// may see and write it. Exactly one member is set.
type AreaRule struct {
	// Field names a required TypeArea field of the document itself.
	Field string
	// Ref names a required TypeRef field; the document inherits the area
	// of the document it references.
	Ref string
	// Author means the document belongs to its creator's own area.
	Author bool
}

// Collection declares a kind of document. Declarations are data: the server
// and the SDK read them to validate, authorize and store ops, so adding a
// collection or field needs no new code paths.
type Collection struct {
	// Name is the collection's name in ops: [a-z][a-z0-9_]*.
	Name   string
	Fields []Field
	Area   AreaRule
	// Creators may create documents.
	Creators []Role
	// Writers may edit existing documents; empty means Creators.
	Writers []Role
	// Deleters may delete documents; empty means nobody.
	Deleters []Role
	// Readers may read documents in their area; empty means every role.
	Readers []Role
	// Priority orders a device's outbox: ops of higher-priority collections
	// sync first (an incident quick report before yesterday's checks).
	Priority int
	// Broadcast makes documents readable below their area too: a user
	// reads them when the document's area is the user's own area or
	// contains it (a warning issued to a village reaches the village's grid
	// workers), besides the usual documents inside the user's area. Writes
	// are unchanged: editing or deleting still needs the document's area
	// inside the user's, so only the issuer's level writes them; answers
	// from below (acknowledgements) are documents of their own.
	Broadcast bool
}

// Field returns the declaration of the named field.
func (c *Collection) Field(name string) (*Field, bool) {
	for i := range c.Fields {
		if c.Fields[i].Name == name {
			return &c.Fields[i], true
		}
	}
	return nil, false
}

// CanRead reports whether role may read the collection's documents (in its
// area; the area is the server's check).
func (c *Collection) CanRead(role Role) bool {
	if len(c.Readers) == 0 {
		return role.Valid()
	}
	return slices.Contains(c.Readers, role)
}

// writers returns the roles that may edit existing documents.
func (c *Collection) writers() []Role {
	if len(c.Writers) == 0 {
		return c.Creators
	}
	return c.Writers
}

// Schema is a validated set of collection declarations. It keeps the
// collections it was built from: do not modify them afterwards.
type Schema struct {
	cols   []*Collection
	byName map[string]*Collection
}

// NewSchema validates the declarations and builds a Schema. It reports
// every mistake it finds (joined): malformed or duplicate names, unknown
// roles, a ref to an undeclared collection, an enum without values, a flow
// without stages, steps to undeclared stages, options that do not fit the
// field's kind or type, and area rules that do not name a suitable
// required field.
func NewSchema(cols ...*Collection) (*Schema, error) {
	s := &Schema{byName: make(map[string]*Collection, len(cols))}
	var errs []error
	for i, c := range cols {
		switch {
		case c == nil:
			errs = append(errs, fmt.Errorf("schema: collection #%d is nil", i))
			continue
		case !validName(c.Name):
			errs = append(errs, fmt.Errorf("schema: collection name %q is not [a-z][a-z0-9_]*", c.Name))
		case s.byName[c.Name] != nil:
			errs = append(errs, fmt.Errorf("schema: collection %q declared twice", c.Name))
			continue
		}
		s.byName[c.Name] = c
		s.cols = append(s.cols, c)
	}
	for _, c := range s.cols {
		errs = append(errs, s.checkCollection(c)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Collection returns the named collection's declaration.
func (s *Schema) Collection(name string) (*Collection, bool) {
	c, ok := s.byName[name]
	return c, ok
}

// Collections returns the declarations in the order given to NewSchema.
func (s *Schema) Collections() []*Collection { return slices.Clone(s.cols) }

func (s *Schema) checkCollection(c *Collection) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("schema: collection %q: "+format, append([]any{c.Name}, args...)...))
	}
	if len(c.Fields) == 0 {
		bad("no fields")
	}
	if len(c.Creators) == 0 {
		bad("no creators")
	}
	for _, roles := range [][]Role{c.Creators, c.Writers, c.Deleters, c.Readers} {
		for _, r := range roles {
			if !r.Valid() {
				bad("unknown role %q", r)
			}
		}
	}
	seen := make(map[string]bool, len(c.Fields))
	for i := range c.Fields {
		f := &c.Fields[i]
		if seen[f.Name] {
			bad("field %q declared twice", f.Name)
		}
		seen[f.Name] = true
		for _, e := range s.checkField(c, f) {
			bad("field %q: %v", f.Name, e)
		}
	}
	if err := c.checkArea(); err != nil {
		bad("area rule: %v", err)
	}
	return errs
}

func (s *Schema) checkField(c *Collection, f *Field) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !validName(f.Name) {
		bad("name is not [a-z][a-z0-9_]*")
	}
	for _, r := range slices.Concat(f.Writers, f.Amenders) {
		if !r.Valid() {
			bad("unknown writer role %q", r)
		}
	}
	if len(f.Amenders) > 0 && !f.Fixed {
		bad("amenders go with fixed")
	}
	if f.AddOnly && f.Kind != KindSet {
		bad("add-only is for set fields")
	}
	switch f.Kind {
	case KindLWW:
		if f.Type < TypeString || f.Type > TypeSHA256 {
			bad("unknown type %v", f.Type)
		}
	case KindSet:
		if !slices.Contains([]ValueType{TypeString, TypeEnum, TypeRef, TypeArea, TypeSHA256}, f.Type) {
			bad("set elements cannot be of type %v", f.Type)
		}
	case KindFlow:
		return append(errs, s.checkFlow(c, f)...)
	default:
		bad("unknown kind %v", f.Kind)
	}
	if len(f.Stages) > 0 || len(f.Steps) > 0 || len(f.Reopeners) > 0 || len(f.Gates) > 0 {
		bad("stages, steps, reopeners and gates are for flow fields")
	}
	if (f.Type == TypeEnum) != (len(f.Enum) > 0) {
		bad("enum values go with type enum, and type enum needs values")
	}
	if dup := firstDup(f.Enum); dup != "" {
		bad("enum value %q twice", dup)
	}
	for _, v := range f.Enum {
		if v == "" || len([]rune(v)) > MaxStringLen {
			bad("enum value %q is empty or too long", v)
		}
	}
	if (f.Type == TypeRef) != (f.RefCollection != "") {
		bad("ref collection goes with type ref, and type ref needs one")
	} else if f.Type == TypeRef && s.byName[f.RefCollection] == nil {
		bad("ref to undeclared collection %q", f.RefCollection)
	}
	if f.MaxLen != 0 && (f.Type != TypeString && f.Type != TypeText || f.MaxLen < 0 || f.MaxLen > typeMaxLen(f.Type)) {
		bad("max length %d does not fit type %v", f.MaxLen, f.Type)
	}
	return errs
}

func (s *Schema) checkFlow(c *Collection, f *Field) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(f.Stages) == 0 {
		bad("flow without stages")
	}
	if dup := firstDup(f.Stages); dup != "" {
		bad("stage %q twice", dup)
	}
	for _, st := range f.Stages {
		if !validName(st) {
			bad("stage name %q is not [a-z][a-z0-9_]*", st)
		}
	}
	for r, stages := range f.Steps {
		if !r.Valid() {
			bad("steps for unknown role %q", r)
		}
		for _, st := range stages {
			if !slices.Contains(f.Stages, st) {
				bad("role %q steps to undeclared stage %q", r, st)
			}
		}
	}
	for _, r := range f.Reopeners {
		if !r.Valid() {
			bad("unknown reopener role %q", r)
		}
	}
	for to, g := range f.Gates {
		if !slices.Contains(f.Stages, to) {
			bad("gate to undeclared stage %q", to)
		}
		for _, from := range g.From {
			if from != "" && !slices.Contains(f.Stages, from) {
				bad("gate to %q from undeclared stage %q", to, from)
			}
		}
		if g.Unless != "" {
			if u, ok := c.Field(g.Unless); !ok || u.Kind != KindLWW {
				bad("gate to %q: unless names no scalar field %q", to, g.Unless)
			}
		}
	}
	if f.Type != TypeString || len(f.Enum) > 0 || f.MaxLen != 0 || f.RefCollection != "" || len(f.Writers) > 0 || f.Fixed {
		bad("type, enum, max length, ref, writers and fixed do not apply to flow fields (steps govern them)")
	}
	return errs
}

func (c *Collection) checkArea() error {
	a := c.Area
	n := 0
	for _, set := range []bool{a.Field != "", a.Ref != "", a.Author} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("set exactly one of Field, Ref and Author")
	}
	name, want := a.Field, TypeArea
	if a.Ref != "" {
		name, want = a.Ref, TypeRef
	}
	if a.Author {
		return nil
	}
	f, ok := c.Field(name)
	if !ok || f.Kind != KindLWW || f.Type != want || !f.Required {
		return fmt.Errorf("%q must be a required scalar field of type %v", name, want)
	}
	return nil
}

// firstDup returns the first value that occurs twice in vs, or "".
func firstDup(vs []string) string {
	seen := make(map[string]bool, len(vs))
	for _, v := range vs {
		if seen[v] {
			return v
		}
		seen[v] = true
	}
	return ""
}
