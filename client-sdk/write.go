package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"

	"github.com/gridsync/gridsync/syncproto"
)

// Fields are the initial values of a new document, by field name: a
// scalar field takes any JSON-encodable value (json.RawMessage as is), a
// set field a []string (or one string), a workflow field the name of its
// first stage.
type Fields map[string]any

// Change is an edit of an existing document. Each field appears in one
// member only.
type Change struct {
	// Set writes scalar fields (nil clears one).
	Set map[string]any
	// Add adds elements to set fields.
	Add map[string][]string
	// Remove removes elements from set fields; an element the device does
	// not see is an error. A concurrent add that the device has not seen
	// survives (add wins).
	Remove map[string][]string
	// Flow moves workflow fields to a stage within the current round.
	Flow map[string]string
	// Reopen moves workflow fields to a stage in a new round (a reopen,
	// e.g. of a hazard whose rectification failed verification).
	Reopen map[string]string
}

// Create makes a new document with an id made on the device (a UUIDv7)
// and returns the id. The op is checked like the server would check it
// (schema and role; *syncproto.RejectError with the server's code) and
// stored in the outbox; it reaches the server with the next Sync.
func (c *Client) Create(collection string, fields Fields) (string, error) {
	doc, err := newDocID()
	if err != nil {
		return "", err
	}
	if err := c.write(collection, doc, createOp(fields)); err != nil {
		return "", err
	}
	return doc, nil
}

func newDocID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// createOp returns the builder of the op that creates a document with
// fields.
func createOp(fields Fields) opBuilder {
	return func(col *syncproto.Collection, _ syncproto.DocState, _ bool) (*syncproto.Op, error) {
		op := &syncproto.Op{}
		for _, name := range slices.Sorted(maps.Keys(fields)) {
			v := fields[name]
			f, ok := col.Field(name)
			if !ok {
				return nil, reject(syncproto.CodeUnknownField, "collection %q has no field %q", col.Name, name)
			}
			switch f.Kind {
			case syncproto.KindLWW:
				raw, err := toJSON(name, v)
				if err != nil {
					return nil, err
				}
				setField(op, name, raw, syncproto.Stamp{})
			case syncproto.KindSet:
				elems, err := toStrings(name, v)
				if err != nil {
					return nil, err
				}
				if len(elems) > 0 {
					addElems(op, name, elems)
				}
			case syncproto.KindFlow:
				stage, ok := v.(string)
				if !ok {
					return nil, reject(syncproto.CodeInvalidValue, "workflow %q: want a stage name", name)
				}
				flow(op, name, stage, 1)
			}
		}
		return op, nil
	}
}

// Update edits a document of the local view. Each scalar write records the
// stamp of the value the device saw (Op.Base), so that the server can tell
// a concurrent edit from a later one and keep the losing value.
func (c *Client) Update(collection, id string, ch Change) error {
	return c.write(collection, id, changeOp(id, ch))
}

// changeOp returns the builder of the op that makes change ch to document
// id (Update's, and AttachPhoto's).
func changeOp(id string, ch Change) opBuilder {
	return func(col *syncproto.Collection, cur syncproto.DocState, exists bool) (*syncproto.Op, error) {
		collection := col.Name
		if !exists {
			return nil, reject(syncproto.CodeNotFound, "%s/%s does not exist on this device", collection, id)
		}
		op := &syncproto.Op{}
		for _, name := range slices.Sorted(maps.Keys(ch.Set)) {
			raw, err := toJSON(name, ch.Set[name])
			if err != nil {
				return nil, err
			}
			setField(op, name, raw, cur.Fields[name].Stamp)
		}
		for _, name := range slices.Sorted(maps.Keys(ch.Add)) {
			addElems(op, name, ch.Add[name])
		}
		for _, name := range slices.Sorted(maps.Keys(ch.Remove)) {
			for _, e := range ch.Remove[name] {
				tags := liveTags(cur.Sets[name][e])
				if len(tags) == 0 {
					return nil, reject(syncproto.CodeInvalidValue, "%s.%s has no element %q", collection, name, e)
				}
				if op.Remove == nil {
					op.Remove = map[string]map[string][]syncproto.OpID{}
				}
				if op.Remove[name] == nil {
					op.Remove[name] = map[string][]syncproto.OpID{}
				}
				op.Remove[name][e] = tags
			}
		}
		for _, name := range slices.Sorted(maps.Keys(ch.Flow)) {
			if _, twice := ch.Reopen[name]; twice {
				return nil, reject(syncproto.CodeInvalidOp, "workflow %q both moved and reopened", name)
			}
			round := uint32(1)
			if r, ok := cur.Status(name); ok {
				round = r.Round
			}
			flow(op, name, ch.Flow[name], round)
		}
		for _, name := range slices.Sorted(maps.Keys(ch.Reopen)) {
			r, _ := cur.Status(name)
			flow(op, name, ch.Reopen[name], r.Round+1)
		}
		return op, nil
	}
}

// Delete deletes a document (a tombstone: the delete wins over concurrent
// edits, and later edits are refused).
func (c *Client) Delete(collection, id string) error {
	return c.write(collection, id, func(_ *syncproto.Collection, _ syncproto.DocState, exists bool) (*syncproto.Op, error) {
		if !exists {
			return nil, reject(syncproto.CodeNotFound, "%s/%s does not exist on this device", collection, id)
		}
		return &syncproto.Op{Delete: true}, nil
	})
}

// opBuilder builds the op of one write from the document's local view.
type opBuilder func(col *syncproto.Collection, cur syncproto.DocState, exists bool) (*syncproto.Op, error)

// write makes one op on a document and appends it to the outbox in one
// transaction.
func (c *Client) write(collection, id string, build opBuilder) error {
	user := c.User()
	if user == nil {
		return fmt.Errorf("write %s/%s: %w", collection, id, ErrLoginRequired)
	}
	return c.update(func(tx *sql.Tx) error {
		return c.writeTx(tx, user, collection, id, build)
	})
}

// writeTx makes one op in tx: it reads the document's local view, builds
// the op, gives it the next seq and a stamp of the persisted clock, checks
// it with the schema and the user's role, and stores op, seq and clock
// together, with the op's references to photos queued on this device.
func (c *Client) writeTx(tx *sql.Tx, user *User, collection, id string, build opBuilder) error {
	col, ok := c.schema.Collection(collection)
	if !ok {
		return unknownCollection(collection)
	}
	v := newViewer(c, tx)
	cur, exists, _, err := v.doc(col, id)
	if err != nil {
		return err
	}
	op, err := build(col, cur, exists)
	if err != nil {
		return err
	}
	seq, err := getMetaInt(tx, metaNextSeq)
	if err != nil {
		return err
	}
	op.Device, op.Seq, op.Collection, op.Doc = c.DeviceID(), uint64(seq), collection, id
	op.HLC = c.clock.Now()
	if err := c.schema.ValidateOp(op); err != nil {
		return err
	}
	var current *syncproto.DocState
	if exists {
		current = &cur
	}
	if err := col.Authorize(syncproto.Role(user.Role), op, current); err != nil {
		return err
	}
	if !exists && col.Area.Ref != "" {
		if err := v.checkRef(col, op); err != nil {
			return err
		}
	}
	body, err := json.Marshal(op)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO outbox (seq, ord, collection, doc_id, priority, op, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		op.Seq, seq, collection, id, col.Priority, string(body), c.opt.Now().UnixMilli()); err != nil {
		return fmt.Errorf("append to outbox: %w", err)
	}
	if err := setMetaInt(tx, metaNextSeq, seq+1); err != nil {
		return err
	}
	if err := linkPhotos(tx, col, op); err != nil {
		return err
	}
	return setMeta(tx, metaClock, c.clock.Last().String())
}

// Batch is several writes recorded as one: either every op is in the
// outbox after Commit, or none is (an inspection with its items and the
// hazards of the failed ones). Later writes see earlier ones (an item may
// reference the inspection created before it). A Batch holds the device
// file's write lock until Commit or Rollback: build it and end it at once.
type Batch struct {
	c    *Client
	tx   *sql.Tx
	user *User
}

// BeginBatch starts a Batch.
func (c *Client) BeginBatch() (*Batch, error) {
	user := c.User()
	if user == nil {
		return nil, fmt.Errorf("batch: %w", ErrLoginRequired)
	}
	tx, err := c.w.BeginTx(context.Background(), nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &Batch{c: c, tx: tx, user: user}, nil
}

// Create is Client.Create inside the batch.
func (b *Batch) Create(collection string, fields Fields) (string, error) {
	doc, err := newDocID()
	if err != nil {
		return "", err
	}
	if err := b.c.writeTx(b.tx, b.user, collection, doc, createOp(fields)); err != nil {
		return "", err
	}
	return doc, nil
}

// Update is Client.Update inside the batch.
func (b *Batch) Update(collection, id string, ch Change) error {
	return b.c.writeTx(b.tx, b.user, collection, id, changeOp(id, ch))
}

// Commit stores every write of the batch.
func (b *Batch) Commit() error {
	if err := b.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Rollback drops every write of the batch; after Commit it does nothing.
func (b *Batch) Rollback() error {
	if err := b.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

// checkRef refuses to create a document whose area comes from a document
// this device does not have: the server would refuse it too (not_found).
func (v *viewer) checkRef(col *syncproto.Collection, op *syncproto.Op) error {
	f, _ := col.Field(col.Area.Ref)
	var ref string
	json.Unmarshal(op.Set[col.Area.Ref], &ref)
	rc, _ := v.c.schema.Collection(f.RefCollection)
	st, exists, _, err := v.doc(rc, ref)
	if err != nil {
		return err
	}
	if !exists || st.IsDeleted() {
		return reject(syncproto.CodeNotFound, "%s/%s does not exist on this device", f.RefCollection, ref)
	}
	return nil
}

func setField(op *syncproto.Op, name string, raw json.RawMessage, base syncproto.Stamp) {
	if op.Set == nil {
		op.Set = map[string]json.RawMessage{}
	}
	op.Set[name] = raw
	if !base.IsZero() {
		if op.Base == nil {
			op.Base = map[string]syncproto.Stamp{}
		}
		op.Base[name] = base
	}
}

func addElems(op *syncproto.Op, name string, elems []string) {
	if op.Add == nil {
		op.Add = map[string][]string{}
	}
	op.Add[name] = slices.Compact(slices.Sorted(slices.Values(elems)))
}

func flow(op *syncproto.Op, name, stage string, round uint32) {
	if op.Flow == nil {
		op.Flow = map[string]syncproto.FlowStep{}
	}
	op.Flow[name] = syncproto.FlowStep{To: stage, Round: round}
}

// toJSON encodes a scalar value.
func toJSON(field string, v any) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, reject(syncproto.CodeInvalidValue, "field %q: value is not JSON", field)
		}
		return slices.Clone(raw), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, reject(syncproto.CodeInvalidValue, "field %q: %v", field, err)
	}
	return b, nil
}

// toStrings reads set elements: a []string, a []any of strings, or one
// string.
func toStrings(field string, v any) ([]string, error) {
	switch x := v.(type) {
	case []string:
		return x, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, reject(syncproto.CodeInvalidValue, "set %q: elements must be strings", field)
			}
			out = append(out, s)
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, reject(syncproto.CodeInvalidValue, "set %q: want a list of strings", field)
}

func reject(code, format string, args ...any) *syncproto.RejectError {
	return &syncproto.RejectError{Code: code, Reason: fmt.Sprintf(format, args...)}
}
