package syncproto

import (
	"maps"
	"slices"
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
//   - every workflow step goes to a stage in the role's Steps, and is in the
//     current round and not behind the current stage, or is the first step
//     (round 1), or is a reopen: round = current round + 1 by one of the
//     Reopeners (CodeForbiddenTransition).
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
		}
	}
	for _, name := range sortedKeys(op.Flow) {
		if err := c.authorizeStep(role, name, op.Flow[name], current); err != nil {
			return err
		}
	}
	return nil
}

// authorizeStep checks one workflow step against the role's steps and the
// field's current round and stage.
func (c *Collection) authorizeStep(role Role, name string, step FlowStep, current *DocState) error {
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
	switch {
	case !started:
		if step.Round != 1 {
			return reject(CodeForbiddenTransition, "%s.%s has not started: the first step is in round 1, not %d", c.Name, name, step.Round)
		}
	case step.Round == cur.Round:
		if rank < cur.Rank {
			return reject(CodeForbiddenTransition, "%s.%s cannot go back from %q to %q within round %d; reopen instead", c.Name, name, cur.Stage, step.To, cur.Round)
		}
	case step.Round == cur.Round+1:
		if !slices.Contains(f.Reopeners, role) {
			return reject(CodeForbiddenTransition, "%s may not reopen %s.%s", role, c.Name, name)
		}
	default:
		return reject(CodeForbiddenTransition, "%s.%s is in round %d: a step is in that round, or the next to reopen, not %d", c.Name, name, cur.Round, step.Round)
	}
	return nil
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
