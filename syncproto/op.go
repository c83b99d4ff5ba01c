package syncproto

import (
	"encoding/json"
	"maps"
	"slices"
	"unicode/utf8"
)

// Op is one operation: a change a device made to one document while it was
// offline or online. It is the unit of sync: a device pushes its ops, the
// server gives each a Verdict, and replicas apply accepted ops with Apply.
// An op is immutable once made; retrying sends the same op again and the
// server recognises it by its ID.
//
// One op may combine scalar writes (Set), set changes (Add, Remove) and
// workflow steps (Flow) on distinct fields, or be a Delete, alone.
type Op struct {
	// Device is the id of the device that made the op (ValidDeviceID).
	Device string `json:"device"`
	// Seq is the device's counter for its ops: 1, 2, 3... with no gaps, so
	// the server can tell which ops of a device it has not received.
	Seq uint64 `json:"seq"`
	// HLC is the device clock's Now() when the op was made.
	HLC HLC `json:"hlc"`
	// Collection names the document's collection.
	Collection string `json:"collection"`
	// Doc is the document id, made offline (ValidDocID; UUIDv7 recommended).
	Doc string `json:"doc"`
	// Set writes last-writer-wins scalar fields. JSON null clears a field.
	Set map[string]json.RawMessage `json:"set,omitempty"`
	// Base gives, per Set field, the Stamp of the value the author saw when
	// editing (absent or "" = saw none). It is used only to detect
	// conflicts, never to decide the winner.
	Base map[string]Stamp `json:"base,omitempty"`
	// Add adds elements to add-wins set fields; each add is tagged with
	// this op's ID.
	Add map[string][]string `json:"add,omitempty"`
	// Remove removes elements from set fields: field -> element -> the add
	// tags the author observed for that element. Adds it did not observe
	// survive (add wins).
	Remove map[string]map[string][]OpID `json:"remove,omitempty"`
	// Flow moves workflow fields.
	Flow map[string]FlowStep `json:"flow,omitempty"`
	// Delete tombstones the document. A delete op carries nothing else.
	Delete bool `json:"delete,omitempty"`
}

// FlowStep moves a workflow field to stage To within round Round. Rounds
// start at 1; a reopen is a step whose Round is the current round + 1.
type FlowStep struct {
	To    string `json:"to"`
	Round uint32 `json:"round"`
}

// ID returns the op's id, which is also the tag of the elements it adds.
func (o *Op) ID() OpID { return OpID{Device: o.Device, Seq: o.Seq} }

// Stamp returns the stamp of every write the op makes.
func (o *Op) Stamp() Stamp { return Stamp{HLC: o.HLC, Device: o.Device} }

// validName reports whether s is a collection or field name: a lowercase
// ASCII letter, then lowercase letters, digits and '_', at most MaxIDLen.
// Names are used as SQL column and JSON member names by the server and SDK.
func validName(s string) bool {
	if s == "" || len(s) > MaxIDLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Validate checks what can be checked without a schema: ids, the op's
// shape, and the per-op limits. It returns a *RejectError (CodeInvalidOp,
// CodeInvalidValue for a value that is not JSON or an empty or non-UTF-8
// element, CodeTooLarge). Collection.ValidateOp calls it first.
func (o *Op) Validate() error {
	switch {
	case !ValidDeviceID(o.Device):
		return reject(CodeInvalidOp, "device id %q is not %d-%d characters of [A-Za-z0-9._-]", o.Device, MinDeviceIDLen, MaxIDLen)
	case o.Seq < 1:
		return reject(CodeInvalidOp, "seq must be ≥ 1")
	case !o.HLC.valid() || o.HLC.IsZero():
		return reject(CodeInvalidOp, "hlc must be set")
	case !validName(o.Collection):
		return reject(CodeInvalidOp, "collection name %q is malformed", o.Collection)
	case !ValidDocID(o.Doc):
		return reject(CodeInvalidOp, "doc id %q is not 1-%d characters of [A-Za-z0-9._-]", o.Doc, MaxIDLen)
	}
	if o.Delete {
		if len(o.Set)+len(o.Base)+len(o.Add)+len(o.Remove)+len(o.Flow) > 0 {
			return reject(CodeInvalidOp, "a delete op carries no other change")
		}
		return nil
	}
	if len(o.Set)+len(o.Add)+len(o.Remove)+len(o.Flow) == 0 {
		return reject(CodeInvalidOp, "op changes nothing")
	}
	if err := o.validateFields(); err != nil {
		return err
	}
	if err := o.validateSets(); err != nil {
		return err
	}
	for _, f := range sortedKeys(o.Flow) {
		step := o.Flow[f]
		if step.To == "" || step.Round < 1 {
			return reject(CodeInvalidOp, "flow %q: step needs a stage and a round ≥ 1", f)
		}
	}
	return nil
}

// validateFields checks field names, that each field is touched by one
// kind of change only, and MaxFieldsPerOp.
func (o *Op) validateFields() error {
	kinds := make(map[string]string, len(o.Set)+len(o.Add)+len(o.Remove)+len(o.Flow))
	mark := func(f, kind string) error {
		if !validName(f) {
			return reject(CodeInvalidOp, "field name %q is malformed", f)
		}
		if k, ok := kinds[f]; ok && k != kind {
			return reject(CodeInvalidOp, "field %q is changed both as %s and as %s", f, k, kind)
		}
		kinds[f] = kind
		return nil
	}
	for _, f := range sortedKeys(o.Set) {
		if err := mark(f, "set"); err != nil {
			return err
		}
		if !json.Valid(o.Set[f]) {
			return reject(CodeInvalidValue, "field %q: value is not JSON", f)
		}
	}
	for _, f := range sortedKeys(o.Add) {
		if err := mark(f, "add/remove"); err != nil {
			return err
		}
	}
	for _, f := range sortedKeys(o.Remove) {
		if err := mark(f, "add/remove"); err != nil {
			return err
		}
	}
	for _, f := range sortedKeys(o.Flow) {
		if err := mark(f, "flow"); err != nil {
			return err
		}
	}
	if len(kinds) > MaxFieldsPerOp {
		return reject(CodeTooLarge, "op touches %d fields, limit %d", len(kinds), MaxFieldsPerOp)
	}
	for _, f := range sortedKeys(o.Base) {
		b := o.Base[f]
		if _, ok := o.Set[f]; !ok {
			return reject(CodeInvalidOp, "base given for field %q that the op does not set", f)
		}
		if !b.IsZero() && (!b.HLC.valid() || !ValidDeviceID(b.Device)) {
			return reject(CodeInvalidOp, "base of field %q is malformed", f)
		}
	}
	return nil
}

// validateSets checks set elements and remove tags, and MaxSetElemsPerOp.
func (o *Op) validateSets() error {
	n := 0
	for _, f := range sortedKeys(o.Add) {
		elems := o.Add[f]
		if len(elems) == 0 {
			return reject(CodeInvalidOp, "add %q: no elements", f)
		}
		n += len(elems)
		if n > MaxSetElemsPerOp {
			return reject(CodeTooLarge, "op adds or removes more than %d set elements", MaxSetElemsPerOp)
		}
		seen := make(map[string]bool, len(elems))
		for _, e := range elems {
			if err := validElem(f, e); err != nil {
				return err
			}
			if seen[e] {
				return reject(CodeInvalidOp, "add %q: element %q twice", f, e)
			}
			seen[e] = true
		}
	}
	for _, f := range sortedKeys(o.Remove) {
		elems := o.Remove[f]
		if len(elems) == 0 {
			return reject(CodeInvalidOp, "remove %q: no elements", f)
		}
		n += len(elems)
		if n > MaxSetElemsPerOp {
			return reject(CodeTooLarge, "op adds or removes more than %d set elements", MaxSetElemsPerOp)
		}
		for _, e := range sortedKeys(elems) {
			tags := elems[e]
			if err := validElem(f, e); err != nil {
				return err
			}
			if slices.Contains(o.Add[f], e) {
				return reject(CodeInvalidOp, "field %q: element %q is both added and removed", f, e)
			}
			if len(tags) == 0 {
				return reject(CodeInvalidOp, "remove %q/%q: no observed tags", f, e)
			}
			if len(tags) > MaxTagsPerRemove {
				return reject(CodeTooLarge, "remove %q/%q: %d tags, limit %d", f, e, len(tags), MaxTagsPerRemove)
			}
			for _, t := range tags {
				if !t.valid() {
					return reject(CodeInvalidOp, "remove %q/%q: tag %q is malformed", f, e, t.String())
				}
			}
		}
	}
	return nil
}

// sortedKeys returns m's keys in order, so that an op with several problems
// always gets the same verdict.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// validElem checks what every set element must satisfy whatever its type;
// the type itself is checked by Collection.ValidateOp.
func validElem(field, e string) error {
	if e == "" || !utf8.ValidString(e) {
		return reject(CodeInvalidValue, "set %q: element must be non-empty UTF-8", field)
	}
	if utf8.RuneCountInString(e) > MaxStringLen {
		return reject(CodeTooLarge, "set %q: element longer than %d runes", field, MaxStringLen)
	}
	return nil
}
