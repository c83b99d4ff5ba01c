package syncproto

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Reg is a last-writer-wins register: the value of one scalar field.
type Reg struct {
	// Value is the field's JSON value in canonical form; JSON null means
	// the field was cleared.
	Value json.RawMessage `json:"v"`
	// Stamp identifies the write that set Value.
	Stamp Stamp `json:"s"`
	// Base is the Stamp of the value the writer saw (zero = none); it makes
	// conflicts detectable, see Merge.
	Base Stamp `json:"b,omitzero"`
}

// Elem is one element of an add-wins observed-remove set (OR-set). Each add
// of the element is tagged with the OpID of the op that added it; a remove
// lists the tags it observed. The element is present iff some add tag is not
// removed, so an add that the remover had not seen survives: add wins.
// Adds and Removes are kept sorted (OpID.Compare) and without duplicates.
type Elem struct {
	Adds    []OpID `json:"a"`
	Removes []OpID `json:"r,omitempty"`
}

// present reports whether some add tag is not removed. It does not rely on
// the tags being sorted, so states decoded from elsewhere answer right too;
// tag lists are a handful long.
func (e Elem) present() bool {
	for _, a := range e.Adds {
		if !slices.Contains(e.Removes, a) {
			return true
		}
	}
	return false
}

// FlowReg is a monotone workflow register: the status of one workflow
// field. States are ordered by (Round, Rank, Stamp) and the join keeps the
// greatest, so a status never moves back within a round, and a reopen (a step
// into Round+1) wins over every stage of earlier rounds.
type FlowReg struct {
	// Round counts reopens; the first round is 1.
	Round uint32 `json:"round"`
	// Stage is the current stage name.
	Stage string `json:"stage"`
	// Rank is Stage's index in the field's declared Stages.
	Rank int `json:"rank"`
	// Stamp identifies the step that set this stage.
	Stamp Stamp `json:"s"`
}

// DocState is the merged state of one document: a state-based CRDT (a join
// semilattice) joined with Merge. Every op becomes a small DocState (Delta)
// that is joined into the document's state, so replicas that saw the same
// ops hold Equal states whatever the order or duplication of delivery.
type DocState struct {
	Collection string `json:"collection"`
	ID         string `json:"id"`
	// Area is the area the document belongs to. The server computes it from
	// the collection's AreaRule and sets it; it is not a merged field.
	Area string `json:"area,omitempty"`
	// Fields holds the last-writer-wins scalar fields.
	Fields map[string]Reg `json:"fields,omitempty"`
	// Sets holds the add-wins set fields: field -> element -> tags.
	Sets map[string]map[string]Elem `json:"sets,omitempty"`
	// Flows holds the workflow fields.
	Flows map[string]FlowReg `json:"flows,omitempty"`
	// Deleted is the stamp of the latest delete; zero means live.
	Deleted Stamp `json:"deleted,omitzero"`
}

// Elements returns the present elements of a set field, sorted.
func (s DocState) Elements(field string) []string {
	var out []string
	for e, el := range s.Sets[field] {
		if el.present() {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// Value returns the value of a scalar field; ok is false if the field was
// never set or was cleared (set to null).
func (s DocState) Value(field string) (v json.RawMessage, ok bool) {
	r, ok := s.Fields[field]
	if !ok || bytes.Equal(r.Value, jsonNull) {
		return nil, false
	}
	return r.Value, true
}

var jsonNull = []byte("null")

// Status returns the register of a workflow field; ok is false if the
// workflow has not started.
func (s DocState) Status(field string) (FlowReg, bool) {
	r, ok := s.Flows[field]
	return r, ok
}

// IsDeleted reports whether the document carries a tombstone.
func (s DocState) IsDeleted() bool { return !s.Deleted.IsZero() }

// Equal reports whether s and o are the same state. Empty and nil maps are
// equal; set elements compare by their tags.
func (s DocState) Equal(o DocState) bool {
	if s.Collection != o.Collection || s.ID != o.ID || s.Area != o.Area || s.Deleted != o.Deleted {
		return false
	}
	if len(s.Fields) != len(o.Fields) || len(s.Flows) != len(o.Flows) {
		return false
	}
	for f, r := range s.Fields {
		q, ok := o.Fields[f]
		if !ok || r.Stamp != q.Stamp || r.Base != q.Base || !bytes.Equal(r.Value, q.Value) {
			return false
		}
	}
	for f, r := range s.Flows {
		if q, ok := o.Flows[f]; !ok || r != q {
			return false
		}
	}
	return setsSubset(s.Sets, o.Sets) && setsSubset(o.Sets, s.Sets)
}

// setsSubset reports whether every non-empty field of a is in b with equal
// elements.
func setsSubset(a, b map[string]map[string]Elem) bool {
	for f, elems := range a {
		if len(elems) != len(b[f]) {
			return false
		}
		for e, el := range elems {
			q, ok := b[f][e]
			if !ok || !slices.Equal(el.Adds, q.Adds) || !slices.Equal(el.Removes, q.Removes) {
				return false
			}
		}
	}
	return true
}
