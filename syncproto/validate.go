package syncproto

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ValidateOp checks op's structure (Op.Validate), that its collection is
// declared, and every field against its declaration (Collection.ValidateOp).
// It returns a *RejectError.
func (s *Schema) ValidateOp(op *Op) error {
	if err := op.Validate(); err != nil {
		return err
	}
	c, ok := s.Collection(op.Collection)
	if !ok {
		return reject(CodeUnknownCollection, "no collection %q", op.Collection)
	}
	return c.validateFields(op)
}

// ValidateOp checks op against the collection's declaration: its structure
// and limits (Op.Validate), that every field is declared with the kind of
// change the op makes (CodeUnknownField), and every value and element
// against the field's type, enum and length (CodeInvalidValue, CodeTooLarge).
// A required scalar may not be set to null. It does not look at the
// document's current state or the user: that is Authorize. It returns a
// *RejectError; when an op has several problems, the first field in name
// order is reported, so the same op always gets the same verdict.
func (c *Collection) ValidateOp(op *Op) error {
	if err := op.Validate(); err != nil {
		return err
	}
	if op.Collection != c.Name {
		return reject(CodeUnknownCollection, "op for collection %q checked against %q", op.Collection, c.Name)
	}
	return c.validateFields(op)
}

func (c *Collection) validateFields(op *Op) error {
	for _, name := range sortedKeys(op.Set) {
		f, err := c.fieldOfKind(name, KindLWW)
		if err != nil {
			return err
		}
		if err := f.checkValue(op.Set[name]); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(op.Add) {
		f, err := c.fieldOfKind(name, KindSet)
		if err != nil {
			return err
		}
		for _, e := range op.Add[name] {
			if err := f.checkElem(e); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedKeys(op.Remove) {
		f, err := c.fieldOfKind(name, KindSet)
		if err != nil {
			return err
		}
		for _, e := range sortedKeys(op.Remove[name]) {
			if err := f.checkElem(e); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedKeys(op.Flow) {
		f, err := c.fieldOfKind(name, KindFlow)
		if err != nil {
			return err
		}
		if _, ok := f.Rank(op.Flow[name].To); !ok {
			return reject(CodeInvalidValue, "flow %q has no stage %q", name, op.Flow[name].To)
		}
	}
	return nil
}

// fieldOfKind returns the declared field, or CodeUnknownField if it is not
// declared or is of another kind.
func (c *Collection) fieldOfKind(name string, kind FieldKind) (*Field, error) {
	f, ok := c.Field(name)
	if !ok {
		return nil, reject(CodeUnknownField, "collection %q has no field %q", c.Name, name)
	}
	if f.Kind != kind {
		return nil, reject(CodeUnknownField, "field %q of %q is a %v field, not %v", name, c.Name, f.Kind, kind)
	}
	return f, nil
}

// maxSafeInt is the largest integer a JavaScript number holds exactly.
const maxSafeInt = 1<<53 - 1

// checkValue checks a scalar value against the field's type.
func (f *Field) checkValue(raw json.RawMessage) error {
	v := bytes.TrimSpace(raw)
	bad := func(want string) error {
		return reject(CodeInvalidValue, "field %q: want %s", f.Name, want)
	}
	if bytes.Equal(v, jsonNull) {
		if f.Required {
			return reject(CodeInvalidValue, "field %q is required and cannot be cleared", f.Name)
		}
		return nil
	}
	switch f.Type {
	case TypeString, TypeText, TypeEnum, TypeRef, TypeArea, TypeSHA256:
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return bad("a JSON string")
		}
		return f.checkElem(s)
	case TypeInt:
		n, ok := parseJSONInt(v)
		if !ok || n < -maxSafeInt || n > maxSafeInt {
			return bad("an integer within ±(2^53-1)")
		}
	case TypeTime:
		n, ok := parseJSONInt(v)
		if !ok || n < 0 || n > maxWall {
			return bad("unix milliseconds, 0 to 9999999999999")
		}
	case TypeFloat:
		if _, ok := parseJSONFloat(v); !ok {
			return bad("a finite number")
		}
	case TypeBool:
		if string(v) != "true" && string(v) != "false" {
			return bad("true or false")
		}
	case TypeGeo:
		if !validGeo(v) {
			return bad(`{"lat": -90..90, "lng": -180..180}`)
		}
	default:
		return bad("a value of a declared type")
	}
	return nil
}

// checkElem checks a string (a string-typed value or a set element)
// against the field's type, enum and length.
func (f *Field) checkElem(s string) error {
	if !utf8.ValidString(s) {
		return reject(CodeInvalidValue, "field %q: not UTF-8", f.Name)
	}
	switch f.Type {
	case TypeString, TypeText:
		if n := utf8.RuneCountInString(s); n > f.maxLen() {
			return reject(CodeTooLarge, "field %q: %d runes, limit %d", f.Name, n, f.maxLen())
		}
	case TypeEnum:
		if !slices.Contains(f.Enum, s) {
			return reject(CodeInvalidValue, "field %q: %q is not one of %q", f.Name, s, f.Enum)
		}
	case TypeRef, TypeArea:
		if !ValidDocID(s) {
			return reject(CodeInvalidValue, "field %q: %q is not an id", f.Name, s)
		}
	case TypeSHA256:
		if !ValidSHA256(s) {
			return reject(CodeInvalidValue, "field %q: %q is not 64 lowercase hex digits", f.Name, s)
		}
	default:
		return reject(CodeInvalidValue, "field %q: want a %v", f.Name, f.Type)
	}
	return nil
}

// parseJSONInt parses a JSON number that is written as an integer (no
// fraction or exponent: "1.0" is refused so that an int field never holds
// a value a stricter reader would choke on).
func parseJSONInt(v []byte) (int64, bool) {
	s := string(v)
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseJSONFloat parses a finite JSON number.
func parseJSONFloat(v []byte) (float64, bool) {
	if len(v) == 0 || v[0] != '-' && (v[0] < '0' || v[0] > '9') || !json.Valid(v) {
		return 0, false
	}
	x, err := strconv.ParseFloat(string(v), 64)
	return x, err == nil && !math.IsInf(x, 0) && !math.IsNaN(x)
}

// geoPoint is the JSON form of TypeGeo.
type geoPoint struct {
	Lat json.RawMessage `json:"lat"`
	Lng json.RawMessage `json:"lng"`
}

var geoShape = shapeOf(reflect.TypeFor[geoPoint]())

func validGeo(v []byte) bool {
	if checkStrict(v, geoShape) != nil {
		return false
	}
	var p geoPoint
	if json.Unmarshal(v, &p) != nil {
		return false
	}
	lat, ok1 := parseJSONFloat(p.Lat)
	lng, ok2 := parseJSONFloat(p.Lng)
	return ok1 && ok2 && lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180
}

// ValidSHA256 reports whether s is a photo's content address: 64
// lowercase hex digits (TypeSHA256).
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
