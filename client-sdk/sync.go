package client

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/gridsync/gridsync/syncproto"
)

// SyncReport says what one Sync did.
type SyncReport struct {
	// Pushed counts ops sent (an op sent again after a lost reply counts
	// again); Accepted and Rejected count the verdicts recorded.
	Pushed, Accepted, Rejected int
	// Renumbered counts ops given a new seq because the server held
	// another op under theirs (seq_reused: the app's data was restored
	// from an old backup).
	Renumbered int
	// Pulled counts changes applied from pulls.
	Pulled int
	// SnapshotDocs counts documents received from snapshots.
	SnapshotDocs int
	// Rescoped: the user's area or role changed; the replica was dropped
	// and rebuilt from a snapshot.
	Rescoped bool
	// Skipped counts pulled changes this SDK could not apply (a collection
	// or field it does not know: update the app).
	Skipped int
	// Lost lists seqs of this device that the server never received and
	// that this file no longer holds (PushResponse.Missing): ops lost on the
	// device, which the station sees as a gap too. Empty unless the file
	// was damaged.
	Lost []uint64
	// ListsRefreshed: the checklists and the task list were fetched (they
	// were older than Options.ListsMaxAge).
	ListsRefreshed bool
	// Photos is what the photo queue did after push and pull.
	Photos PhotoReport
}

// pushOverhead is room in a push body for everything but the ops.
const pushOverhead = 4096

// maxRenumbers bounds how often one Sync renumbers ops, in case a server
// keeps answering seq_reused.
const maxRenumbers = 10 * syncproto.MaxOpsPerPush

// Sync pushes the outbox and pulls what changed, bootstrapping from a
// snapshot when the device has no cursor or its user's scope changed;
// refreshes the checklists and the task list when they are older than
// Options.ListsMaxAge; then uploads the photos whose records were accepted
// (UploadPhotos with the zero UploadOptions). Every reply is committed
// locally in one transaction before the next request, so Sync can be
// interrupted at any point (lost connection, crash, ctx) and simply called
// again. Transient failures are retried
// within ctx and the retry options; a session that cannot be refreshed
// gives ErrLoginRequired, with the outbox untouched. The report is
// returned (partly filled) also with an error.
func (c *Client) Sync(ctx context.Context) (*SyncReport, error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	rep := &SyncReport{}
	if err := c.push(ctx, rep); err != nil {
		return rep, fmt.Errorf("sync: push: %w", err)
	}
	if err := c.pull(ctx, rep); err != nil {
		return rep, fmt.Errorf("sync: pull: %w", err)
	}
	if err := c.refreshListsIfOld(ctx, rep); err != nil {
		return rep, fmt.Errorf("sync: lists: %w", err)
	}
	if err := c.uploadPhotos(ctx, UploadOptions{}, &rep.Photos); err != nil {
		return rep, fmt.Errorf("sync: photos: %w", err)
	}
	return rep, nil
}

// push sends pending ops, highest priority first, in batches, until none
// is pending (ops made meanwhile are sent too).
func (c *Client) push(ctx context.Context, rep *SyncReport) error {
	for {
		batch, pending, oldest, err := c.pendingBatch()
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		if rep.Renumbered > maxRenumbers {
			return protocolError("the server keeps refusing op seqs as reused")
		}
		ops := make([]syncproto.Op, len(batch))
		for i := range batch {
			ops[i] = batch[i].op
		}
		req := syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: c.DeviceID(),
			DeviceTime: c.opt.Now().UnixMilli(), Ops: ops,
			Outbox: syncproto.OutboxReport{Pending: pending, OldestPendingMS: oldest, AppVersion: truncate(c.opt.AppVersion, syncproto.MaxStringLen)}}
		body, err := json.Marshal(&req)
		if err != nil {
			return err
		}
		var resp *syncproto.PushResponse
		err = c.call(ctx, request{method: http.MethodPost, path: "/v1/sync/push", body: body, auth: true}, func(b []byte) (err error) {
			resp, err = decodePushResponse(b, ops)
			return err
		})
		if err != nil {
			return err
		}
		rep.Pushed += len(ops)
		if err := c.crash("push"); err != nil {
			return err
		}
		if err := c.update(func(tx *sql.Tx) error { return c.applyVerdicts(tx, batch, resp, rep) }); err != nil {
			return err
		}
	}
}

// pendingBatch returns the next ops to push, the number of pending ops and
// the creation time of the oldest.
func (c *Client) pendingBatch() (batch []outboxRow, pending int, oldest int64, err error) {
	err = c.view(func(tx *sql.Tx) error {
		all, err := c.pushOrder(tx)
		if err != nil {
			return err
		}
		pending = len(all)
		for _, r := range all {
			if oldest == 0 || r.createdAt < oldest {
				oldest = r.createdAt
			}
		}
		// Stay under the server's body limit (the decompressed JSON): one
		// op is at most ~1 MB by the protocol's limits, so one always fits.
		size := pushOverhead
		for _, r := range all {
			b, err := json.Marshal(&r.op)
			if err != nil {
				return err
			}
			if len(batch) == c.opt.PushBatch || len(batch) > 0 && size+len(b)+1 > syncproto.MaxPushBytes {
				break
			}
			size += len(b) + 1
			batch = append(batch, r)
		}
		return nil
	})
	return batch, pending, oldest, err
}

// pushOrder returns the pending ops in the order they are pushed: higher
// Collection.Priority first (an incident report before yesterday's
// checks), then in the order they were made; but never an op before an
// earlier op it depends on, which the server would otherwise refuse as
// not_found: an earlier op on the same document (its creation first of
// all), or on a document it references (a hazard on a site registered
// offline goes after the site). A dependency inherits the priority of the
// ops that depend on it.
func (c *Client) pushOrder(q queryer) ([]outboxRow, error) {
	rows, err := q.QueryContext(context.Background(), `SELECT `+outboxColumns+` FROM outbox WHERE server_seq IS NULL ORDER BY ord`)
	if err != nil {
		return nil, err
	}
	all, err := scanOutbox(rows)
	if err != nil {
		return nil, err
	}
	// last[doc] is the index in all of the latest op seen on doc.
	last := map[[2]string]int{}
	deps := make([][]int, len(all))
	for i, r := range all {
		key := [2]string{r.op.Collection, r.op.Doc}
		if j, ok := last[key]; ok {
			deps[i] = append(deps[i], j)
		}
		if col, ok := c.schema.Collection(r.op.Collection); ok {
			for name, raw := range r.op.Set {
				f, ok := col.Field(name)
				if !ok || f.Type != syncproto.TypeRef {
					continue
				}
				var ref string
				json.Unmarshal(raw, &ref)
				if j, ok := last[[2]string{f.RefCollection, ref}]; ok {
					deps[i] = append(deps[i], j)
				}
			}
		}
		last[key] = i
	}
	eff := make([]int, len(all))
	for i, r := range all {
		eff[i] = r.priority
	}
	for i := len(all) - 1; i >= 0; i-- {
		for _, j := range deps[i] {
			eff[j] = max(eff[j], eff[i])
		}
	}
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(eff[b], eff[a]) })
	out := make([]outboxRow, len(all))
	for i, j := range idx {
		out[i] = all[j]
	}
	return out, nil
}

// applyVerdicts records a push's verdicts: an accepted op keeps its row
// (now with its server seq, and the server's stamp if it re-stamped it)
// until a pull brings it into the replica; a rejected op moves to the
// rejected list; an op whose seq the server holds for another op gets a
// new seq above everything the server and this device have used.
func (c *Client) applyVerdicts(tx *sql.Tx, batch []outboxRow, resp *syncproto.PushResponse, rep *SyncReport) error {
	next, err := getMetaInt(tx, metaNextSeq)
	if err != nil {
		return err
	}
	next = max(next, int64(resp.LastSeq)+1)
	var reused []uint64
	refsChanged := false // a photo reference got its verdict
	for i, v := range resp.Verdicts {
		row := batch[i]
		op := row.op
		switch {
		case v.Status == syncproto.StatusAccepted:
			if v.HLC != nil && *v.HLC != op.HLC {
				old := op.Stamp()
				op.HLC = *v.HLC
				if err := updateOp(tx, op.Seq, &op); err != nil {
					return err
				}
				if err := c.rewritePending(tx, func(p *syncproto.Op) bool { return rebase(p, old, op.Stamp()) }); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(`UPDATE outbox SET server_seq = ? WHERE seq = ?`, v.ServerSeq, op.Seq); err != nil {
				return err
			}
			changed, err := refVerdict(tx, op.Seq, RefAccepted)
			if err != nil {
				return err
			}
			refsChanged = refsChanged || changed
			rep.Accepted++
		case v.Code == syncproto.CodeSeqReused:
			reused = append(reused, op.Seq)
		default:
			body, _ := json.Marshal(op)
			if _, err := tx.Exec(`INSERT INTO rejected (seq, collection, doc_id, code, reason, op, created_at, rejected_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, op.Seq, op.Collection, op.Doc, v.Code, v.Reason, string(body),
				row.createdAt, c.opt.Now().UnixMilli()); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM outbox WHERE seq = ?`, op.Seq); err != nil {
				return err
			}
			changed, err := refVerdict(tx, op.Seq, RefRejected)
			if err != nil {
				return err
			}
			refsChanged = refsChanged || changed
			c.log.Info("op rejected", slog.String("op", op.ID().String()), slog.String("code", v.Code), slog.String("reason", v.Reason))
			rep.Rejected++
		}
	}
	slices.Sort(reused)
	for _, seq := range reused {
		// Read the row again: renumbering an earlier op may have retagged it.
		rows, err := tx.Query(`SELECT `+outboxColumns+` FROM outbox WHERE seq = ?`, seq)
		if err != nil {
			return err
		}
		got, err := scanOutbox(rows)
		if err != nil || len(got) == 0 {
			return err
		}
		op := got[0].op
		old := op.ID()
		op.Seq = uint64(next)
		next++
		if err := updateOp(tx, old.Seq, &op); err != nil {
			return err
		}
		if err := c.rewritePending(tx, func(p *syncproto.Op) bool { return retag(p, old, op.ID()) }); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE photo_refs SET seq = ? WHERE seq = ? AND state = ?`, op.Seq, old.Seq, RefPending); err != nil {
			return err
		}
		c.log.Warn("op renumbered: the server holds another op under its seq", slog.Uint64("old", old.Seq), slog.Uint64("new", op.Seq))
		rep.Renumbered++
	}
	// A seq the server says it never received, that this file holds
	// neither in the outbox nor among the rejected ops, is an op lost on
	// the device (a damaged file): say so, it cannot be sent again.
	for _, seq := range resp.Missing {
		var held bool
		if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM outbox WHERE seq = ?1) OR EXISTS (SELECT 1 FROM rejected WHERE seq = ?1)`, seq).Scan(&held); err != nil {
			return err
		}
		if !held && !slices.Contains(rep.Lost, seq) {
			c.log.Error("op lost on this device: the server never received it", slog.Uint64("seq", seq))
			rep.Lost = append(rep.Lost, seq)
		}
	}
	if err := setMetaInt(tx, metaNextSeq, next); err != nil {
		return err
	}
	if refsChanged {
		if err := refreshPhotoStates(tx); err != nil {
			return err
		}
	}
	return c.learnClock(tx, resp.ServerHLC)
}

// rewritePending applies fix to every pending op and stores those it
// changed. Used when an op's stamp or id changed after later ops referred
// to it (a Base stamp, a removed tag).
func (c *Client) rewritePending(tx *sql.Tx, fix func(*syncproto.Op) bool) error {
	rows, err := tx.Query(`SELECT ` + outboxColumns + ` FROM outbox WHERE server_seq IS NULL`)
	if err != nil {
		return err
	}
	ops, err := scanOutbox(rows)
	if err != nil {
		return err
	}
	for _, r := range ops {
		if fix(&r.op) {
			if err := updateOp(tx, r.op.Seq, &r.op); err != nil {
				return err
			}
		}
	}
	return nil
}

// rebase replaces the Base stamp old by new.
func rebase(op *syncproto.Op, old, new syncproto.Stamp) bool {
	changed := false
	for f, b := range op.Base {
		if b == old {
			op.Base[f] = new
			changed = true
		}
	}
	return changed
}

// retag replaces the removed tag old by new.
func retag(op *syncproto.Op, old, new syncproto.OpID) bool {
	changed := false
	for _, elems := range op.Remove {
		for _, tags := range elems {
			for i, t := range tags {
				if t == old {
					tags[i] = new
					changed = true
				}
			}
		}
	}
	return changed
}

// pull brings the replica up to date: from a snapshot when there is no
// cursor (or a snapshot is half done), then page by page of changes.
func (c *Client) pull(ctx context.Context, rep *SyncReport) error {
	for {
		cursor, err := getMeta(c.r, metaCursor)
		if err != nil {
			return err
		}
		active, err := getMeta(c.r, metaSnapActive)
		if err != nil {
			return err
		}
		if cursor == "" || active != "" {
			if err := c.snapshot(ctx, rep); err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
			continue
		}
		q := url.Values{"cursor": {cursor}, "limit": {strconv.Itoa(c.opt.PageSize)}}
		var resp *syncproto.PullResponse
		err = c.call(ctx, request{method: http.MethodGet, path: "/v1/sync/pull", query: q, auth: true}, func(b []byte) (err error) {
			resp, err = decodePullResponse(b)
			return err
		})
		if err != nil {
			return err
		}
		if err := c.crash("pull"); err != nil {
			return err
		}
		if resp.Rescope {
			if rep.Rescoped {
				return protocolError("rescoped twice in one sync")
			}
			rep.Rescoped = true
			c.log.Warn("user's area or role changed: dropping the replica, keeping the outbox")
			err = c.update(func(tx *sql.Tx) error {
				if _, err := tx.Exec(`DELETE FROM docs`); err != nil {
					return err
				}
				if err := setMeta(tx, metaCursor, ""); err != nil {
					return err
				}
				return c.learnClock(tx, resp.ServerHLC)
			})
			if err != nil {
				return err
			}
			continue
		}
		err = c.update(func(tx *sql.Tx) error {
			if err := c.applyChanges(tx, resp.Changes, rep); err != nil {
				return err
			}
			if err := setMeta(tx, metaCursor, resp.Cursor); err != nil {
				return err
			}
			return c.learnClock(tx, resp.ServerHLC)
		})
		if err != nil {
			return err
		}
		if !resp.HasMore {
			return nil
		}
	}
}

// applyChanges joins pulled changes into the replica and drops from the
// outbox the ops of this device that are now in it: every accepted op up
// to the last change (pulls are ordered by server seq and include all of
// this user's accepted ops), and a pending op the pull shows the server
// accepted although its verdict was lost.
func (c *Client) applyChanges(tx *sql.Tx, changes []syncproto.Change, rep *SyncReport) error {
	v := newViewer(c, tx)
	v.confirmed = true
	dev := c.DeviceID()
	var last int64
	refsChanged := false // a photo reference got its verdict
	for i := range changes {
		ch := &changes[i]
		last = ch.ServerSeq
		col, ok := c.schema.Collection(ch.Op.Collection)
		if !ok {
			c.log.Warn("pulled change of an unknown collection", slog.String("collection", ch.Op.Collection))
			rep.Skipped++
			continue
		}
		st, _, err := loadState(tx, "docs", col.Name, ch.Op.Doc)
		if err != nil {
			return err
		}
		next, _, err := syncproto.Apply(col, st, &ch.Op)
		if err != nil {
			c.log.Warn("pulled change does not apply", slog.Int64("server_seq", ch.ServerSeq), slog.Any("err", err))
			rep.Skipped++
			continue
		}
		if next.Area == "" {
			next.Area = ch.Area
		}
		if err := v.fillArea(col, &next, 0); err != nil {
			return err
		}
		if err := saveState(tx, "docs", next); err != nil {
			return err
		}
		delete(v.cache, [2]string{col.Name, ch.Op.Doc})
		if ch.Op.Device == dev {
			changed, err := ackPulled(tx, ch)
			if err != nil {
				return err
			}
			refsChanged = refsChanged || changed
		}
		rep.Pulled++
	}
	if last > 0 {
		if _, err := tx.Exec(`DELETE FROM outbox WHERE server_seq IS NOT NULL AND server_seq <= ?`, last); err != nil {
			return err
		}
	}
	if !refsChanged {
		return nil
	}
	return refreshPhotoStates(tx)
}

// ackPulled drops this device's outbox row for a pulled op of its own when
// the row holds that op (a row under the same seq with another content is
// an op the server refused as seq_reused and must keep), and reports
// whether a photo reference got its verdict.
func ackPulled(tx *sql.Tx, ch *syncproto.Change) (bool, error) {
	rows, err := tx.Query(`SELECT `+outboxColumns+` FROM outbox WHERE seq = ?`, ch.Op.Seq)
	if err != nil {
		return false, err
	}
	got, err := scanOutbox(rows)
	if err != nil || len(got) == 0 {
		return false, err
	}
	if got[0].serverSeq == ch.ServerSeq || got[0].serverSeq == 0 && sameOp(&got[0].op, &ch.Op) {
		if _, err := tx.Exec(`DELETE FROM outbox WHERE seq = ?`, ch.Op.Seq); err != nil {
			return false, err
		}
		// Accepted although its verdict was lost: its photos may upload.
		return refVerdict(tx, ch.Op.Seq, RefAccepted)
	}
	return false, nil
}

// sameOp compares two ops ignoring their HLC, which the server may have
// re-stamped.
func sameOp(a, b *syncproto.Op) bool {
	x, y := *a, *b
	x.HLC, y.HLC = syncproto.HLC{}, syncproto.HLC{}
	bx, err1 := json.Marshal(&x)
	by, err2 := json.Marshal(&y)
	return err1 == nil && err2 == nil && bytes.Equal(bx, by)
}

// snapshot bootstraps the replica page by page into snapshot_docs and
// swaps it in when the last page arrives; a snapshot interrupted by a crash
// resumes from its last stored page.
func (c *Client) snapshot(ctx context.Context, rep *SyncReport) error {
	for restarts := 0; ; {
		active, err := getMeta(c.r, metaSnapActive)
		if err != nil {
			return err
		}
		if active == "" {
			err := c.update(func(tx *sql.Tx) error {
				if _, err := tx.Exec(`DELETE FROM snapshot_docs`); err != nil {
					return err
				}
				// Ops accepted before the snapshot starts are in the log
				// below the snapshot's cursor, so pulls after it will not
				// bring them back: the snapshot itself confirms them.
				var bound int64
				if err := tx.QueryRow(`SELECT COALESCE(max(server_seq), 0) FROM outbox`).Scan(&bound); err != nil {
					return err
				}
				for k, v := range map[string]string{metaSnapActive: "1", metaSnapNext: "", metaSnapCursor: "", metaSnapBound: strconv.FormatInt(bound, 10)} {
					if err := setMeta(tx, k, v); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		page, err := getMeta(c.r, metaSnapNext)
		if err != nil {
			return err
		}
		q := url.Values{"limit": {strconv.Itoa(c.opt.PageSize)}}
		if page != "" {
			q.Set("page", page)
		}
		var resp *syncproto.SnapshotResponse
		err = c.call(ctx, request{method: http.MethodGet, path: "/v1/sync/snapshot", query: q, auth: true}, func(b []byte) (err error) {
			resp, err = decodeSnapshotResponse(b)
			return err
		})
		if err != nil && page != "" && restarts < 2 && (errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid)) {
			// The page token is stale (the user's scope changed, or the
			// server no longer reads it): start over.
			restarts++
			if err := c.update(func(tx *sql.Tx) error { return setMeta(tx, metaSnapActive, "") }); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := c.crash("snapshot"); err != nil {
			return err
		}
		err = c.update(func(tx *sql.Tx) error {
			for _, d := range resp.Docs {
				if err := saveState(tx, "snapshot_docs", d); err != nil {
					return err
				}
			}
			if page == "" {
				if err := setMeta(tx, metaSnapCursor, resp.Cursor); err != nil {
					return err
				}
			}
			if resp.HasMore {
				if err := setMeta(tx, metaSnapNext, resp.Next); err != nil {
					return err
				}
			} else if err := c.finishSnapshot(tx); err != nil {
				return err
			}
			return c.learnClock(tx, resp.ServerHLC)
		})
		if err != nil {
			return err
		}
		rep.SnapshotDocs += len(resp.Docs)
		if !resp.HasMore {
			return nil
		}
	}
}

// finishSnapshot swaps the received documents in as the replica and sets
// the cursor to pull from.
func (c *Client) finishSnapshot(tx *sql.Tx) error {
	cursor, err := getMeta(tx, metaSnapCursor)
	if err != nil {
		return err
	}
	bound, err := getMetaInt(tx, metaSnapBound)
	if err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM docs`, `INSERT INTO docs (collection, id, state) SELECT collection, id, state FROM snapshot_docs`,
		`DELETE FROM snapshot_docs`} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`DELETE FROM outbox WHERE server_seq IS NOT NULL AND server_seq <= ?`, bound); err != nil {
		return err
	}
	for _, k := range []string{metaSnapActive, metaSnapNext, metaSnapCursor, metaSnapBound} {
		if err := setMeta(tx, k, ""); err != nil {
			return err
		}
	}
	return setMeta(tx, metaCursor, cursor)
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
