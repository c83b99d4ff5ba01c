package client

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/gridsync/gridsync/syncproto"
)

// Doc is a document as this device sees it: the confirmed state with the
// device's own unsynced ops applied on top.
type Doc struct {
	Collection string
	ID         string
	// Area is the area the document belongs to.
	Area string
	// Pending counts this device's ops on the document that the server has
	// not accepted yet.
	Pending int
	// State is the merged CRDT state, with stamps and tags.
	State syncproto.DocState
}

// Deleted reports whether the document is deleted.
func (d *Doc) Deleted() bool { return d.State.IsDeleted() }

// Value returns a scalar field's JSON value, nil if unset or cleared.
func (d *Doc) Value(field string) json.RawMessage {
	v, _ := d.State.Value(field)
	return v
}

// String returns a string-typed field ("" if unset or not a string).
func (d *Doc) String(field string) string {
	var s string
	json.Unmarshal(d.Value(field), &s)
	return s
}

// Int returns an integer or time field (0 if unset or not a number).
func (d *Doc) Int(field string) int64 {
	var n int64
	json.Unmarshal(d.Value(field), &n)
	return n
}

// Elements returns a set field's present elements, sorted.
func (d *Doc) Elements(field string) []string { return d.State.Elements(field) }

// Stage returns a workflow field's current stage, "" if not started.
func (d *Doc) Stage(field string) string {
	r, _ := d.State.Status(field)
	return r.Stage
}

// Round returns a workflow field's round (1 + the number of reopens), 0 if
// not started.
func (d *Doc) Round(field string) int {
	r, _ := d.State.Status(field)
	return int(r.Round)
}

// Query selects documents for List. The zero Query lists every live
// document of the collection.
type Query struct {
	// Where keeps documents whose scalar fields equal these values (as
	// JSON: "abc", 3, true); a nil value matches an unset field.
	Where map[string]any
	// IncludeDeleted also lists deleted documents.
	IncludeDeleted bool
	// Limit caps the result; 0 means no limit.
	Limit int
}

// Get returns a document from the local view, or ErrNotFound (also for a
// deleted document).
func (c *Client) Get(collection, id string) (*Doc, error) {
	col, ok := c.schema.Collection(collection)
	if !ok {
		return nil, unknownCollection(collection)
	}
	var d *Doc
	err := c.view(func(tx *sql.Tx) error {
		v := newViewer(c, tx)
		st, exists, pending, err := v.doc(col, id)
		if err != nil {
			return err
		}
		if exists && !st.IsDeleted() {
			d = &Doc{Collection: collection, ID: id, Area: st.Area, Pending: pending, State: st}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fmt.Errorf("%s/%s: %w", collection, id, ErrNotFound)
	}
	return d, nil
}

// List returns the documents of a collection in the local view that match
// q, ordered by id (UUIDv7 ids sort by creation time).
func (c *Client) List(collection string, q Query) ([]*Doc, error) {
	col, ok := c.schema.Collection(collection)
	if !ok {
		return nil, unknownCollection(collection)
	}
	where := make(map[string]json.RawMessage, len(q.Where))
	for f, v := range q.Where {
		raw, err := toJSON(f, v)
		if err != nil {
			return nil, err
		}
		where[f] = raw
	}
	var out []*Doc
	err := c.view(func(tx *sql.Tx) error {
		v := newViewer(c, tx)
		ids, err := v.ids(collection)
		if err != nil {
			return err
		}
		for _, id := range ids {
			st, exists, pending, err := v.doc(col, id)
			if err != nil {
				return err
			}
			if !exists || st.IsDeleted() && !q.IncludeDeleted || !matches(st, where) {
				continue
			}
			out = append(out, &Doc{Collection: collection, ID: id, Area: st.Area, Pending: pending, State: st})
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
		}
		return nil
	})
	return out, err
}

func matches(st syncproto.DocState, where map[string]json.RawMessage) bool {
	for f, want := range where {
		got, ok := st.Value(f)
		if !ok {
			got = json.RawMessage("null")
		}
		if !bytes.Equal(got, want) {
			return false
		}
	}
	return true
}

func unknownCollection(name string) error {
	return &syncproto.RejectError{Code: syncproto.CodeUnknownCollection, Reason: fmt.Sprintf("no collection %q", name)}
}

// viewer computes local views inside one transaction, caching documents
// looked up for their area.
type viewer struct {
	c     *Client
	q     queryer
	cache map[[2]string]syncproto.DocState
	// confirmed leaves the outbox out: the view of the replica alone.
	confirmed bool
}

func newViewer(c *Client, q queryer) *viewer {
	return &viewer{c: c, q: q, cache: map[[2]string]syncproto.DocState{}}
}

// ids lists the ids of a collection in the replica or the outbox, sorted.
func (v *viewer) ids(collection string) ([]string, error) {
	rows, err := v.q.QueryContext(context.Background(), `SELECT id FROM docs WHERE collection = ?
		UNION SELECT doc_id FROM outbox WHERE collection = ? ORDER BY 1`, collection, collection)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// doc returns the local view of a document: the confirmed state joined
// with every outbox op on it (Apply is idempotent, so ops already in the
// confirmed state change nothing). The document exists if the replica has
// it or an outbox op creates it; ops that edit a document the device does
// not have stay invisible until the server's verdict.
func (v *viewer) doc(col *syncproto.Collection, id string) (syncproto.DocState, bool, int, error) {
	st, exists, err := loadState(v.q, "docs", col.Name, id)
	if err != nil || v.confirmed {
		return st, exists, 0, err
	}
	known := exists
	rows, err := v.q.QueryContext(context.Background(), `SELECT `+outboxColumns+` FROM outbox
		WHERE collection = ? AND doc_id = ? ORDER BY ord`, col.Name, id)
	if err != nil {
		return st, false, 0, err
	}
	ops, err := scanOutbox(rows)
	if err != nil {
		return st, false, 0, err
	}
	pending := 0
	for _, r := range ops {
		if !exists && creates(col, &r.op) {
			exists = true
		}
		next, _, err := syncproto.Apply(col, st, &r.op)
		if err != nil {
			v.c.log.Warn("outbox op does not apply", slog.String("op", r.op.ID().String()), slog.Any("err", err))
			continue
		}
		st = next
		if r.serverSeq == 0 {
			pending++
		}
	}
	if !exists {
		return syncproto.DocState{}, false, 0, nil
	}
	if !known && col.Area.Author {
		// Made on this device and not pulled back yet: its area will be
		// its author's, this device's user's.
		if u := v.c.User(); u != nil {
			st.Area = u.AreaID
		}
	}
	if err := v.fillArea(col, &st, 0); err != nil {
		return st, false, 0, err
	}
	return st, true, pending, nil
}

// creates reports whether op sets every required field, which makes it the
// op that creates its document.
func creates(col *syncproto.Collection, op *syncproto.Op) bool {
	if op.Delete {
		return false
	}
	for _, f := range col.Fields {
		if !f.Required {
			continue
		}
		var ok bool
		switch f.Kind {
		case syncproto.KindLWW:
			_, ok = op.Set[f.Name]
		case syncproto.KindSet:
			ok = len(op.Add[f.Name]) > 0
		case syncproto.KindFlow:
			_, ok = op.Flow[f.Name]
		}
		if !ok {
			return false
		}
	}
	return true
}

// maxRefDepth bounds the chain of references followed to find an area.
const maxRefDepth = 4

// fillArea sets st.Area, when empty, the way the server does when the
// document is created: from the collection's area field, or from the
// referenced document. Pulled changes carry the area the server fixed
// (Change.Area); this covers documents still in the outbox, so that local
// reads place them like the server will.
func (v *viewer) fillArea(col *syncproto.Collection, st *syncproto.DocState, depth int) error {
	if st.Area != "" || depth > maxRefDepth {
		return nil
	}
	switch {
	case col.Area.Field != "":
		st.Area = stringValue(*st, col.Area.Field)
	case col.Area.Ref != "":
		f, _ := col.Field(col.Area.Ref)
		ref := stringValue(*st, col.Area.Ref)
		rc, ok := v.c.schema.Collection(f.RefCollection)
		if ref == "" || !ok {
			return nil
		}
		key := [2]string{rc.Name, ref}
		parent, ok := v.cache[key]
		if !ok {
			var err error
			if parent, _, _, err = v.doc(rc, ref); err != nil {
				return err
			}
			v.cache[key] = parent
		}
		if err := v.fillArea(rc, &parent, depth+1); err != nil {
			return err
		}
		st.Area = parent.Area
	}
	return nil
}

func stringValue(st syncproto.DocState, field string) string {
	raw, _ := st.Value(field)
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// liveTags returns the add tags of a set element that no remove covers:
// what a remove made now must name.
func liveTags(e syncproto.Elem) []syncproto.OpID {
	var out []syncproto.OpID
	for _, a := range e.Adds {
		if !slices.ContainsFunc(e.Removes, func(r syncproto.OpID) bool { return r == a }) {
			out = append(out, a)
		}
	}
	return out
}
