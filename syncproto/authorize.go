package syncproto

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Authorize decides whether a user with role may apply op to the document
// whose current state is current (nil or empty if the document does not
// exist). Run it after ValidateOp. It checks, in this order:
//
//   - the role is known (CodeForbiddenRole);
//   - the document is not deleted (CodeDocDeleted): new edits to a deleted
//     document are refused, and kept by the server as rejected;
//   - a delete targets an existing document (CodeNotFound) and the role is
//     among Deleters (CodeForbiddenRole);
//   - an op on a document that does not exist creates it: it must set every
//     Required field (otherwise it is an edit of a missing document,
//     CodeNotFound) and the role must be among Creators (CodeForbiddenRole);
//   - every scalar and set field it writes is writable by the role: the
//     field's Writers if declared (CodeForbiddenField), otherwise the
//     collection's Writers, or Creators on creation (CodeForbiddenRole);
//     a Fixed field only on creation or by its Amenders, and nothing is
//     removed from an AddOnly set (CodeForbiddenField);
//   - every workflow step goes to a stage in the role's Steps, and is in the
//     current round and not behind the current stage, or is the first step
//     (round 1), or is a reopen: round = current round + 1 by one of the
//     Reopeners, and it passes the stage's Gate (CodeForbiddenTransition).
//
// The area is not checked here: the server compares the document's area
// (and the area the op would move it to) with the user's. It returns a
// *RejectError.
func (c *Collection) Authorize(role Role, op *Op, current *DocState) error {
	if !role.Valid() {
		return reject(CodeForbiddenRole, "unknown role %q", role)
	}
	exists := current != nil && current.ID != ""
	if exists && current.IsDeleted() {
		return reject(CodeDocDeleted, "%s/%s was deleted at %s", op.Collection, op.Doc, current.Deleted)
	}
	if op.Delete {
		if !exists {
			return reject(CodeNotFound, "%s/%s does not exist", op.Collection, op.Doc)
		}
		if !slices.Contains(c.Deleters, role) {
			return reject(CodeForbiddenRole, "%s may not delete %s", role, c.Name)
		}
		return nil
	}
	docWriters := c.writers()
	if !exists {
		if missing := c.missingRequired(op); missing != "" {
			return reject(CodeNotFound, "%s/%s does not exist, and the op does not create it (no %q)", op.Collection, op.Doc, missing)
		}
		if !slices.Contains(c.Creators, role) {
			return reject(CodeForbiddenRole, "%s may not create %s", role, c.Name)
		}
		docWriters = c.Creators
	}
	written := slices.Concat(slices.Collect(maps.Keys(op.Set)), slices.Collect(maps.Keys(op.Add)), slices.Collect(maps.Keys(op.Remove)))
	slices.Sort(written)
	for _, name := range slices.Compact(written) {
		f, ok := c.Field(name)
		switch {
		case !ok:
			return reject(CodeUnknownField, "collection %q has no field %q", c.Name, name)
		case len(f.Writers) > 0 && !slices.Contains(f.Writers, role):
			return reject(CodeForbiddenField, "%s may not write %s.%s", role, c.Name, name)
		case len(f.Writers) == 0 && !slices.Contains(docWriters, role):
			return reject(CodeForbiddenRole, "%s may not edit %s", role, c.Name)
		case exists && f.Fixed && !slices.Contains(f.Amenders, role):
			return reject(CodeForbiddenField, "%s.%s is kept as first recorded: %s may not change it", c.Name, name, role)
		case f.AddOnly && len(op.Remove[name]) > 0:
			return reject(CodeForbiddenField, "%s.%s only grows: nothing is removed from it", c.Name, name)
		}
	}
	for _, name := range sortedKeys(op.Flow) {
		if err := c.authorizeStep(role, name, op, current); err != nil {
			return err
		}
	}
	return nil
}

// authorizeStep checks one workflow step against the role's steps and the
// field's current round and stage.
func (c *Collection) authorizeStep(role Role, name string, op *Op, current *DocState) error {
	step := op.Flow[name]
	f, ok := c.Field(name)
	if !ok || f.Kind != KindFlow {
		return reject(CodeUnknownField, "collection %q has no flow field %q", c.Name, name)
	}
	if !slices.Contains(f.Steps[role], step.To) {
		return reject(CodeForbiddenTransition, "%s may not move %s.%s to %q", role, c.Name, name, step.To)
	}
	var cur FlowReg
	var started bool
	if current != nil {
		cur, started = current.Status(name)
	}
	rank, _ := f.Rank(step.To)
	from := ""
	switch {
	case !started:
		if step.Round != 1 {
			return reject(CodeForbiddenTransition, "%s.%s has not started: the first step is in round 1, not %d", c.Name, name, step.Round)
		}
	case step.Round == cur.Round:
		if rank < cur.Rank {
			return reject(CodeForbiddenTransition, "%s.%s cannot go back from %q to %q within round %d; reopen instead", c.Name, name, cur.Stage, step.To, cur.Round)
		}
		if step.To == cur.Stage {
			return nil
		}
		from = cur.Stage
	case step.Round == cur.Round+1:
		if !slices.Contains(f.Reopeners, role) {
			return reject(CodeForbiddenTransition, "%s may not reopen %s.%s", role, c.Name, name)
		}
	default:
		return reject(CodeForbiddenTransition, "%s.%s is in round %d: a step is in that round, or the next to reopen, not %d", c.Name, name, cur.Round, step.Round)
	}
	if g, gated := f.Gates[step.To]; gated && !slices.Contains(g.From, from) && !(g.Unless != "" && hasValue(op, current, g.Unless)) {
		leaving := "the start of a round"
		if from != "" {
			leaving = fmt.Sprintf("%q", from)
		}
		why := ""
		if g.Unless != "" {
			why = fmt.Sprintf(", unless %s is given", g.Unless)
		}
		return reject(CodeForbiddenTransition, "%s.%s reaches %q only from %s%s, not from %s", c.Name, name, step.To, strings.Join(quoted(g.From), " or "), why, leaving)
	}
	return nil
}

// hasValue reports whether the document has a non-null value of the scalar
// field once op is applied: op sets it, or the current state has it and op
// does not clear it.
func hasValue(op *Op, current *DocState, field string) bool {
	if v, ok := op.Set[field]; ok {
		return !bytes.Equal(v, jsonNull)
	}
	if current == nil {
		return false
	}
	_, ok := current.Value(field)
	return ok
}

// quoted returns each stage in quotes, "" as the start of a round.
func quoted(stages []string) []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		if s == "" {
			out[i] = "the start of a round"
		} else {
			out[i] = strconv.Quote(s)
		}
	}
	return out
}

// missingRequired returns the first required field (in declaration order)
// that op does not set, or "".
func (c *Collection) missingRequired(op *Op) string {
	for _, f := range c.Fields {
		if !f.Required {
			continue
		}
		var ok bool
		switch f.Kind {
		case KindLWW:
			_, ok = op.Set[f.Name]
		case KindSet:
			ok = len(op.Add[f.Name]) > 0
		case KindFlow:
			_, ok = op.Flow[f.Name]
		}
		if !ok {
			return f.Name
		}
	}
	return ""
}
