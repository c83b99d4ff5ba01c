package syncproto

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
)

// Conflict reports a concurrent write that lost: two writes to the same
// scalar field met, and the winner's author had not seen the loser. The
// loser's value is not discarded: the server records it so the station can
// review it. A conflict is identified by (Field, Winner.Stamp, Loser.Stamp):
// a losing write delivered again is reported again, so store conflicts
// idempotently by that key.
type Conflict struct {
	Field  string `json:"field"`
	Winner Reg    `json:"winner"`
	Loser  Reg    `json:"loser"`
}

// Delta turns an op into the small DocState that holds just its writes:
//
//   - each Set field becomes a Reg stamped with op.Stamp() whose Base is the
//     op's Base for that field, with the value in canonical JSON;
//   - each added element gets the tag op.ID(); each removed element gets
//     the observed tags as removes;
//   - each Flow step becomes a FlowReg whose Rank is the stage's index in
//     the field's declared Stages;
//   - a delete sets Deleted to op.Stamp().
//
// It checks only what it needs: that the fields exist with the right kind,
// the stages are declared and the values are JSON (*RejectError).
// Full validation is Collection.ValidateOp.
func Delta(c *Collection, op *Op) (DocState, error) {
	if op.Collection != c.Name {
		return DocState{}, reject(CodeInvalidOp, "op for collection %q applied to %q", op.Collection, c.Name)
	}
	d := DocState{Collection: op.Collection, ID: op.Doc}
	stamp := op.Stamp()
	if op.Delete {
		d.Deleted = stamp
	}
	field := func(name string, kind FieldKind) (*Field, error) {
		f, ok := c.Field(name)
		if !ok || f.Kind != kind {
			return nil, reject(CodeUnknownField, "collection %q has no %v field %q", c.Name, kind, name)
		}
		return f, nil
	}
	for name, v := range op.Set {
		if _, err := field(name, KindLWW); err != nil {
			return DocState{}, err
		}
		cv, err := canonicalJSON(v)
		if err != nil {
			return DocState{}, reject(CodeInvalidValue, "field %q: %v", name, err)
		}
		if d.Fields == nil {
			d.Fields = make(map[string]Reg, len(op.Set))
		}
		d.Fields[name] = Reg{Value: cv, Stamp: stamp, Base: op.Base[name]}
	}
	sets := func(name string) (map[string]Elem, error) {
		if _, err := field(name, KindSet); err != nil {
			return nil, err
		}
		if d.Sets == nil {
			d.Sets = make(map[string]map[string]Elem)
		}
		if d.Sets[name] == nil {
			d.Sets[name] = make(map[string]Elem)
		}
		return d.Sets[name], nil
	}
	for name, elems := range op.Add {
		m, err := sets(name)
		if err != nil {
			return DocState{}, err
		}
		for _, e := range elems {
			m[e] = joinElem(m[e], Elem{Adds: []OpID{op.ID()}})
		}
	}
	for name, elems := range op.Remove {
		m, err := sets(name)
		if err != nil {
			return DocState{}, err
		}
		for e, tags := range elems {
			m[e] = joinElem(m[e], Elem{Removes: tags})
		}
	}
	for name, step := range op.Flow {
		f, err := field(name, KindFlow)
		if err != nil {
			return DocState{}, err
		}
		rank, ok := f.Rank(step.To)
		if !ok {
			return DocState{}, reject(CodeInvalidValue, "flow %q has no stage %q", name, step.To)
		}
		if d.Flows == nil {
			d.Flows = make(map[string]FlowReg, len(op.Flow))
		}
		d.Flows[name] = FlowReg{Round: step.Round, Stage: step.To, Rank: rank, Stamp: stamp}
	}
	return d, nil
}

// Apply joins op into s: Merge(s, Delta(c, op)). It refuses an op for
// another document than s (unless s is empty).
func Apply(c *Collection, s DocState, op *Op) (DocState, []Conflict, error) {
	if s.ID != "" && (s.Collection != op.Collection || s.ID != op.Doc) {
		return DocState{}, nil, reject(CodeInvalidOp, "op for %s/%s applied to %s/%s", op.Collection, op.Doc, s.Collection, s.ID)
	}
	d, err := Delta(c, op)
	if err != nil {
		return DocState{}, nil, err
	}
	out, conflicts := Merge(s, d)
	return out, conflicts, nil
}

// Merge joins two states of the same document. It is commutative,
// associative and idempotent, so replicas converge whatever the order and
// duplication of delivery. It never modifies a or b. The rules:
//
//   - Scalar fields (last-writer-wins register): the write with the higher
//     Stamp wins (HLC, then device id). Two writes meeting with different
//     stamps are a Conflict, reported with the loser, iff the winner's Base
//     is lower than the loser's Stamp, that is, the winner's author had not
//     seen the loser's value (or any later one). Equal stamps are the same
//     write and never conflict. The same pair of writes is reported
//     whichever arrives first. Only writes that meet are compared: a write
//     that lost to one register value is not compared again with a later
//     winner.
//   - Set fields (add-wins OR-set): per element, the union of add tags and
//     the union of remove tags; present iff an add tag is not removed. A
//     remove names the tags it saw, so a concurrent add survives.
//   - Workflow fields (monotone register): the greatest by (Round, Rank,
//     Stamp) wins. A stage never goes back within a round; a reopen is a
//     step into a higher round and wins over every earlier round.
//   - Tombstone: Deleted is the greater of the two stamps, so any delete
//     wins for the whole document (remove-wins). Edits after a delete still
//     join, keeping Merge a semilattice, but the document stays deleted;
//     the server refuses new edits to a deleted document (CodeDocDeleted).
//   - Collection, ID and Area are identities set by the server, not merged
//     values: the non-empty one is kept. Callers merge states of one
//     document only; should the values differ anyway, the greater string
//     is kept so that Merge stays commutative.
//
// Conflicts are returned sorted by field.
func Merge(a, b DocState) (DocState, []Conflict) {
	out := DocState{
		Collection: max(a.Collection, b.Collection),
		ID:         max(a.ID, b.ID),
		Area:       max(a.Area, b.Area),
		Deleted:    maxStamp(a.Deleted, b.Deleted),
	}
	var conflicts []Conflict
	out.Fields = joinMaps(a.Fields, b.Fields, func(f string, x, y Reg) Reg {
		r, c := joinReg(x, y)
		if c != nil {
			c.Field = f
			conflicts = append(conflicts, *c)
		}
		return r
	}, cloneReg)
	out.Sets = joinMaps(a.Sets, b.Sets, func(_ string, x, y map[string]Elem) map[string]Elem {
		return joinMaps(x, y, func(_ string, p, q Elem) Elem { return joinElem(p, q) }, cloneElem)
	}, func(m map[string]Elem) map[string]Elem {
		return joinMaps(m, nil, nil, cloneElem)
	})
	out.Flows = joinMaps(a.Flows, b.Flows, func(_ string, x, y FlowReg) FlowReg {
		if compareFlow(x, y) >= 0 {
			return x
		}
		return y
	}, func(r FlowReg) FlowReg { return r })
	slices.SortFunc(conflicts, func(x, y Conflict) int { return strings.Compare(x.Field, y.Field) })
	return out, conflicts
}

// joinMaps returns a new map with the keys of a and b: values found in both
// are joined with join, the others copied with clone. It returns nil when
// both are empty, so that empty states stay small.
func joinMaps[V any](a, b map[string]V, join func(string, V, V) V, clone func(V) V) map[string]V {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make(map[string]V, max(len(a), len(b)))
	for k, v := range a {
		if w, ok := b[k]; ok {
			out[k] = join(k, v, w)
		} else {
			out[k] = clone(v)
		}
	}
	for k, w := range b {
		if _, ok := a[k]; !ok {
			out[k] = clone(w)
		}
	}
	return out
}

// joinReg joins two registers of one field and reports a conflict (without
// its Field) when the loser was concurrent with the winner.
func joinReg(a, b Reg) (Reg, *Conflict) {
	switch a.Stamp.Compare(b.Stamp) {
	case 0:
		// The same write. Order by content anyway so that corrupt input
		// (two writes sharing a stamp) still merges deterministically.
		if c := bytes.Compare(a.Value, b.Value); c > 0 || c == 0 && a.Base.Compare(b.Base) >= 0 {
			return cloneReg(a), nil
		}
		return cloneReg(b), nil
	case -1:
		a, b = b, a
	}
	if a.Base.Compare(b.Stamp) < 0 {
		return cloneReg(a), &Conflict{Winner: cloneReg(a), Loser: cloneReg(b)}
	}
	return cloneReg(a), nil
}

func cloneReg(r Reg) Reg {
	r.Value = bytes.Clone(r.Value)
	return r
}

// joinElem unions the tags of two elements, keeping them sorted and unique.
func joinElem(a, b Elem) Elem {
	return Elem{Adds: unionTags(a.Adds, b.Adds), Removes: unionTags(a.Removes, b.Removes)}
}

func cloneElem(e Elem) Elem { return joinElem(e, Elem{}) }

// unionTags returns the sorted, duplicate-free union of a and b in a new
// slice (nil when empty). The inputs need not be sorted, so states from
// outside this package merge correctly too.
func unionTags(a, b []OpID) []OpID {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]OpID, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.SortFunc(out, OpID.Compare)
	return slices.Compact(out)
}

func maxStamp(a, b Stamp) Stamp {
	if a.Compare(b) >= 0 {
		return a
	}
	return b
}

// compareFlow orders workflow registers by (Round, Rank, Stamp), then Stage
// so that corrupt input sharing a stamp still merges deterministically.
func compareFlow(a, b FlowReg) int {
	return cmp.Or(
		cmp.Compare(a.Round, b.Round),
		cmp.Compare(a.Rank, b.Rank),
		a.Stamp.Compare(b.Stamp),
		strings.Compare(a.Stage, b.Stage),
	)
}

// canonicalJSON re-encodes a JSON value in the form encoding/json produces
// (compact, object members sorted, numbers as written). Every replica
// stores the same bytes for the same write however the op was spelled or
// re-encoded on the way, so Equal can compare values bytewise.
func canonicalJSON(v json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return json.Marshal(x)
}
