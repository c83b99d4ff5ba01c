package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// Group commit: the writer takes every push waiting in its queue, up to
// MaxGroupPushes, and applies them in one transaction (one fsync for all).
const (
	MaxGroupPushes = 64
	queueLength    = 1024
)

// SyncService implements server.SyncService. All pushes go through one
// writer goroutine (SQLite has one writer); reads run on the read pool.
type SyncService struct {
	db     *DB
	schema *syncproto.Schema
	clock  *syncproto.Clock
	log    *slog.Logger

	jobs      chan *pushJob
	done      chan struct{}
	closeOnce sync.Once
	// The log's head, owned by the writer goroutine: the last seq and its
	// chain hash. Assigning seq here (not by AUTOINCREMENT) lets one INSERT
	// write the op with its chain value.
	head logHead
	// chainVersion is the audit chain version new ops are linked with.
	chainVersion int
	// areas caches the area tree; areas are never moved or deleted, and a
	// miss (a newly imported area) reads the table.
	areasMu sync.RWMutex
	areas   map[string]*server.Area
	// rules are the domain rules per collection (Register); fixed before
	// the first push.
	rules map[string][]Rule
	// broadcast reports whether any collection is Broadcast, so that
	// pulls without broadcast collections stay one index range.
	broadcast bool

	// A pull is contact too: the station must not see a phone that pulls
	// every day but has nothing to push as "not synced for days". Pulls
	// note their device here; the toucher writes last_sync_at in batches,
	// at most once per device per touchEvery, off the pull's path.
	touchMu   sync.Mutex
	touched   map[string]time.Time // device → last time noted
	touches   chan touch
	touchDone chan struct{}
}

// touch is a device's contact time, unix ms.
type touch struct {
	device string
	at     int64
}

// Pull contacts are written at most this often per device, and in batches
// gathered for touchBatch.
const (
	touchEvery = time.Minute
	touchBatch = 2 * time.Second
)

// logHead is the end of the op log: last seq and its audit chain value.
type logHead struct {
	seq   int64
	chain []byte
}

var _ server.SyncService = (*SyncService)(nil)

type pushJob struct {
	ctx   context.Context
	p     *server.Principal
	req   *syncproto.PushRequest
	resp  *syncproto.PushResponse
	err   error
	ready chan struct{}
}

// NewSyncService starts the writer. Close stops it.
func NewSyncService(ctx context.Context, db *DB, schema *syncproto.Schema, log *slog.Logger) (*SyncService, error) {
	s := &SyncService{db: db, schema: schema, log: log, jobs: make(chan *pushJob, queueLength), done: make(chan struct{}),
		areas: map[string]*server.Area{}, rules: map[string][]Rule{},
		touched: map[string]time.Time{}, touches: make(chan touch, queueLength), touchDone: make(chan struct{})}
	for _, c := range schema.Collections() {
		s.broadcast = s.broadcast || c.Broadcast
	}
	for name, rules := range domainRules(log) {
		if _, ok := schema.Collection(name); ok {
			s.rules[name] = append(s.rules[name], rules...)
		}
	}
	var last string
	err := db.read.QueryRowContext(ctx, `SELECT hlc FROM server_clock WHERE id = 1`).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("load server clock: %w", err)
	}
	var lastHLC syncproto.HLC
	if last != "" {
		if lastHLC, err = syncproto.ParseHLC(last); err != nil {
			return nil, fmt.Errorf("server clock: %w", err)
		}
	}
	s.clock = syncproto.NewClock(db.Now, lastHLC)
	versions, err := loadChainVersions(ctx, db.read)
	if err != nil {
		return nil, err
	}
	s.chainVersion = versions.latest()
	err = db.read.QueryRowContext(ctx, `SELECT seq, chain FROM ops ORDER BY seq DESC LIMIT 1`).Scan(&s.head.seq, &s.head.chain)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("load log head: %w", err)
	}
	go s.writer()
	go s.toucher(s.touches)
	return s, nil
}

// Close stops accepting pushes, finishes the queued ones and stops the
// writer; pull contacts not yet written are written.
func (s *SyncService) Close() error {
	s.closeOnce.Do(func() {
		close(s.jobs)
		s.touchMu.Lock()
		close(s.touches)
		s.touches = nil
		s.touchMu.Unlock()
	})
	<-s.done
	<-s.touchDone
	return nil
}

// notePull records that device pulled, for the toucher. It never blocks:
// when the queue is full the contact is dropped (the next pull notes it).
func (s *SyncService) notePull(device string) {
	now := s.db.Now()
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if s.touches == nil || now.Sub(s.touched[device]) < touchEvery {
		return
	}
	select {
	case s.touches <- touch{device: device, at: now.UnixMilli()}:
		s.touched[device] = now
	default:
	}
}

// toucher writes pull contacts into devices.last_sync_at, a batch per
// transaction.
func (s *SyncService) toucher(touches <-chan touch) {
	defer close(s.touchDone)
	for t := range touches {
		batch := map[string]int64{t.device: t.at}
		timer := time.NewTimer(touchBatch)
	gather:
		for {
			select {
			case t, ok := <-touches:
				if !ok {
					break gather
				}
				batch[t.device] = t.at
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		if err := s.writeTouches(batch); err != nil {
			s.log.Error("record pull contacts", slog.Any("err", err))
		}
	}
}

func (s *SyncService) writeTouches(batch map[string]int64) error {
	ctx := context.Background()
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for device, at := range batch {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET last_sync_at = max(COALESCE(last_sync_at, 0), ?) WHERE id = ?`, at, device); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Push implements server.SyncService. It queues the push for the writer
// and waits for the durable result.
func (s *SyncService) Push(ctx context.Context, req *syncproto.PushRequest) (resp *syncproto.PushResponse, err error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	if req.Device != p.DeviceID {
		return nil, server.Errorf(server.EFORBIDDEN, "push for device %q with a token of device %q", req.Device, p.DeviceID)
	}
	job := &pushJob{ctx: ctx, p: p, req: req, ready: make(chan struct{})}
	defer func() {
		if recover() != nil { // send on a closed queue: shutting down
			resp, err = nil, server.Errorf(server.EUNAVAILABLE, "server is shutting down: retry")
		}
	}()
	select {
	case s.jobs <- job:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Wait even if ctx ends: the job may be in a transaction now, and the
	// device learns its verdicts by pushing again (a replay).
	<-job.ready
	return job.resp, job.err
}

func (s *SyncService) writer() {
	defer close(s.done)
	for job := range s.jobs {
		batch := []*pushJob{job}
	drain:
		for len(batch) < MaxGroupPushes {
			select {
			case j, ok := <-s.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		s.commitGroup(batch)
	}
}

// commitGroup applies a group of pushes in one transaction. Each push runs
// in its own savepoint, so one failing push (an internal error) does not
// take the others down; a failed commit fails them all, and nothing of
// theirs is applied.
func (s *SyncService) commitGroup(batch []*pushJob) {
	defer func() {
		for _, j := range batch {
			close(j.ready)
		}
	}()
	fail := func(err error) {
		for _, j := range batch {
			if j.err == nil {
				j.resp, j.err = nil, err
			}
		}
	}
	ctx := context.Background() // jobs outlive their callers' contexts, see Push
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		fail(err)
		return
	}
	defer tx.Rollback()
	head := s.head
	for _, j := range batch {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT push`); err != nil {
			fail(err)
			return
		}
		jobHead := head
		j.resp, j.err = s.applyPush(ctx, tx, j.p, j.req, &jobHead)
		if j.err != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO push`); err != nil {
				fail(err)
				return
			}
		} else {
			head = jobHead
		}
		if _, err := tx.ExecContext(ctx, `RELEASE push`); err != nil {
			fail(err)
			return
		}
	}
	now := s.clock.Now()
	if _, err := tx.ExecContext(ctx, `INSERT INTO server_clock (id, hlc) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET hlc = excluded.hlc`, now.String()); err != nil {
		fail(err)
		return
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("commit push group: %w", err))
		return
	}
	s.head = head
	for _, j := range batch {
		if j.resp != nil {
			j.resp.ServerHLC = now
		}
	}
}

// device is the sync row of the pushing device.
type device struct {
	lastSeq uint64
	// ackedSeq is the gap-free watermark: every seq up to it has a verdict.
	ackedSeq uint64
	// clockOffset is the device's clock minus the server's at this push
	// (0 when the push did not say): domain rules correct device times
	// with it.
	clockOffset int64
}

// applyPush applies one push inside the group transaction.
func (s *SyncService) applyPush(ctx context.Context, tx *Tx, p *server.Principal, req *syncproto.PushRequest, head *logHead) (*syncproto.PushResponse, error) {
	var dev device
	if err := tx.QueryRowContext(ctx, `SELECT last_seq, acked_seq FROM devices WHERE id = ? AND user_id = ?`, p.DeviceID, p.UserID).
		Scan(&dev.lastSeq, &dev.ackedSeq); errors.Is(err, sql.ErrNoRows) {
		return nil, server.Errorf(server.EUNAUTHORIZED, "unknown device")
	} else if err != nil {
		return nil, fmt.Errorf("load device: %w", err)
	}
	resp := &syncproto.PushResponse{Protocol: syncproto.ProtocolVersion, Verdicts: make([]syncproto.Verdict, 0, len(req.Ops))}
	serverNow := tx.now.UnixMilli()
	if req.DeviceTime > 0 {
		dev.clockOffset = req.DeviceTime - serverNow
	}
	for i := range req.Ops {
		op := &req.Ops[i]
		v, err := s.applyOp(ctx, tx, p, op, &dev, head)
		if err != nil {
			return nil, fmt.Errorf("apply op %s: %w", op.ID(), err)
		}
		if v.HLC != nil && v.Code == "" {
			resp.ClockReset = true
		}
		resp.Verdicts = append(resp.Verdicts, v)
	}
	if req.DeviceTime > 0 && req.DeviceTime-serverNow > syncproto.MaxDrift.Milliseconds() {
		resp.ClockReset = true
	}
	missing, err := dev.advanceAcked(ctx, tx, p.DeviceID, req.Ops)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE devices SET last_seq = ?, acked_seq = ?, last_sync_at = ?, outbox_pending = ?,
		outbox_oldest_ms = ?, app_version = ?, clock_offset_ms = ? WHERE id = ?`,
		dev.lastSeq, dev.ackedSeq, serverNow, req.Outbox.Pending, oldestAge(req, serverNow), req.Outbox.AppVersion, dev.clockOffset, p.DeviceID); err != nil {
		return nil, fmt.Errorf("update device: %w", err)
	}
	resp.LastSeq, resp.AckedSeq, resp.Missing = dev.lastSeq, dev.ackedSeq, missing
	return resp, nil
}

// advanceAcked moves the device's gap-free watermark up past every seq
// that now has a verdict, and returns, in order, up to syncproto.MaxMissing
// seqs between it and last_seq that the device has not pushed. The seqs of
// this push need no query (each op of the device with a seq >= 1 has a
// verdict now: accepted, rejected or already held), so an in-order push
// reads nothing. When a gap remains, one ordered scan of the seqs held
// above the watermark (this push's and those of earlier pushes sent out of
// order) moves it over their consecutive run, then lists the gaps after
// it; the scan stops once MaxMissing seqs are listed, however many held
// seqs lie between them.
func (dev *device) advanceAcked(ctx context.Context, tx *Tx, deviceID string, ops []syncproto.Op) ([]uint64, error) {
	pushed := make(map[uint64]bool, len(ops))
	for i := range ops {
		if ops[i].Device == deviceID && ops[i].Seq > 0 {
			pushed[ops[i].Seq] = true
		}
	}
	for dev.ackedSeq < dev.lastSeq && pushed[dev.ackedSeq+1] {
		dev.ackedSeq++
	}
	if dev.ackedSeq >= dev.lastSeq {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT dev_seq FROM ops WHERE device = ?1 AND dev_seq > ?2
		UNION SELECT dev_seq FROM rejected_ops WHERE device = ?1 AND dev_seq > ?2
		ORDER BY dev_seq`, deviceID, dev.ackedSeq)
	if err != nil {
		return nil, fmt.Errorf("held seqs: %w", err)
	}
	defer rows.Close()
	var missing []uint64
	prev := dev.ackedSeq
	for len(missing) < syncproto.MaxMissing && rows.Next() {
		var held uint64
		if err := rows.Scan(&held); err != nil {
			return nil, fmt.Errorf("held seqs: %w", err)
		}
		if prev == dev.ackedSeq && held == prev+1 {
			dev.ackedSeq = held
		}
		for s := prev + 1; s < held && len(missing) < syncproto.MaxMissing; s++ {
			missing = append(missing, s)
		}
		prev = held
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("held seqs: %w", err)
	}
	return missing, nil
}

// oldestAge converts the device's oldest pending time into an age by the
// device's own clock, so a wrong device clock does not distort it.
func oldestAge(req *syncproto.PushRequest, serverNow int64) int64 {
	if req.Outbox.OldestPendingMS <= 0 {
		return 0
	}
	now := req.DeviceTime
	if now <= 0 {
		now = serverNow
	}
	return max(0, now-req.Outbox.OldestPendingMS)
}

func opHash(op *syncproto.Op) ([]byte, []byte, error) {
	body, err := json.Marshal(op)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.Sum256(body)
	return body, h[:], nil
}

// applyOp decides and records one op: a replay returns the stored verdict; a
// new op is validated, authorized against role and area, merged, and stored
// as accepted or rejected.
func (s *SyncService) applyOp(ctx context.Context, tx *Tx, p *server.Principal, op *syncproto.Op, dev *device, head *logHead) (syncproto.Verdict, error) {
	v := syncproto.Verdict{Seq: op.Seq}
	body, hash, err := opHash(op)
	if err != nil {
		return v, err
	}
	if op.Device != p.DeviceID {
		// Not stored: the (device, seq) key belongs to another device.
		return rejectVerdict(v, syncproto.CodeWrongDevice, fmt.Sprintf("op of device %q pushed by device %q", op.Device, p.DeviceID)), nil
	}
	if op.Seq == 0 {
		return rejectVerdict(v, syncproto.CodeInvalidOp, "seq must be >= 1"), nil
	}
	if op.Seq <= dev.lastSeq {
		replay, found, err := storedVerdict(ctx, tx, op, hash)
		if err != nil || found {
			return replay, err
		}
		// A seq below last_seq that the server never saw: the device sent
		// higher-priority ops first. Apply it now.
	} else {
		dev.lastSeq = op.Seq
	}

	reject := func(code, reason string) (syncproto.Verdict, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO rejected_ops (device, dev_seq, user_id, area_id, collection, doc_id, code, reason, body, op_hash, received_at, clock_offset_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, op.Device, op.Seq, p.UserID, p.AreaID, op.Collection, op.Doc,
			code, reason, string(body), hash, ms(tx.now), dev.clockOffset)
		if err != nil {
			return v, fmt.Errorf("store rejected op: %w", err)
		}
		return rejectVerdict(v, code, reason), nil
	}

	col, ok := s.schema.Collection(op.Collection)
	if !ok {
		return reject(syncproto.CodeUnknownCollection, fmt.Sprintf("no collection %q", op.Collection))
	}
	if err := col.ValidateOp(op); err != nil {
		return reject(syncproto.ErrorCode(err), err.Error())
	}

	// Trusted time: a stamp beyond the drift bound is re-stamped with the
	// server's clock (and the device's own stamp kept), so a phone with a
	// clock in the future cannot win every conflict.
	var deviceHLC any
	if op.HLC.Wall > tx.now.UnixMilli()+syncproto.MaxDrift.Milliseconds() {
		deviceHLC = op.HLC.String()
		op.HLC = s.clock.Now()
		stamped := op.HLC
		v.HLC = &stamped
		if body, _, err = opHash(op); err != nil {
			return v, err
		}
	} else if _, err := s.clock.Update(op.HLC); err != nil {
		return v, fmt.Errorf("clock: %w", err)
	}

	cur, err := loadDoc(ctx, tx, op.Collection, op.Doc)
	if err != nil {
		return v, err
	}
	var area *server.Area
	if cur != nil {
		if area, err = s.area(ctx, tx, cur.areaID); err != nil {
			return v, err
		}
	} else {
		var code, reason string
		if area, code, reason, err = s.newDocArea(ctx, tx, p, col, op); err != nil {
			return v, err
		} else if code != "" {
			return reject(code, reason)
		}
	}
	// The area check comes before anything that reads the document: a
	// document outside the caller's area is refused with a reason that
	// says nothing of it (not its area, not its fields).
	if !server.Covers(p.AreaPath, area.Path) {
		return reject(syncproto.CodeForbiddenArea, fmt.Sprintf("%s/%s is outside your area", op.Collection, op.Doc))
	}
	if cur != nil {
		if reason := areaChange(col, op, cur); reason != "" {
			return reject(syncproto.CodeForbiddenArea, reason)
		}
	}
	var state syncproto.DocState
	if cur != nil {
		state = cur.state
	}
	if err := col.Authorize(syncproto.Role(p.Role), op, cur.stateOrNil()); err != nil {
		return reject(syncproto.ErrorCode(err), err.Error())
	}
	next, conflicts, err := syncproto.Apply(col, state, op)
	if err != nil {
		return reject(syncproto.ErrorCode(err), err.Error())
	}
	next.Area = area.ID

	in := &RuleInput{Principal: p, Op: op, Current: cur.stateOrNil(), Next: &next, Area: area, Now: tx.now, ClockOffsetMS: dev.clockOffset}
	rules := s.rules[op.Collection]
	if amended, err := s.applyDefaults(ctx, tx, col, rules, in); err != nil {
		return v, err
	} else if amended {
		if next, conflicts, err = syncproto.Apply(col, state, op); err != nil {
			return v, fmt.Errorf("apply defaults: %w", err)
		}
		next.Area = area.ID
		if body, _, err = opHash(op); err != nil {
			return v, err
		}
	}
	for _, r := range rules {
		code, reason, err := r.Check(ctx, tx, in)
		if err != nil {
			return v, fmt.Errorf("rule on %s: %w", op.Collection, err)
		}
		if code != "" {
			return reject(code, reason)
		}
	}

	seq := head.seq + 1
	chain := chainNext(head.chain, chainLink{version: s.chainVersion, seq: seq, receivedAt: ms(tx.now), user: p.Username, area: area.ID, body: body})
	if _, err := tx.ExecContext(ctx, `INSERT INTO ops (seq, device, dev_seq, user_id, collection, doc_id, area_id, hlc, device_hlc, body, op_hash, received_at, chain, clock_offset_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, seq, op.Device, op.Seq, p.UserID, op.Collection, op.Doc, area.ID,
		op.HLC.String(), deviceHLC, string(body), hash, ms(tx.now), chain, dev.clockOffset); err != nil {
		return v, fmt.Errorf("insert op: %w", err)
	}
	*head = logHead{seq: seq, chain: chain}
	if err := insertScopes(ctx, tx, seq, area, col.Broadcast); err != nil {
		return v, err
	}
	if err := saveDoc(ctx, tx, next, area, seq, cur == nil); err != nil {
		return v, err
	}
	if err := savePhotoRefs(ctx, tx, col, op, cur.stateOrNil(), next, area, seq); err != nil {
		return v, err
	}
	for _, c := range conflicts {
		if err := saveConflict(ctx, tx, seq, next, area, c); err != nil {
			return v, err
		}
	}
	for _, r := range rules {
		if rec, ok := r.(Recorder); ok {
			if err := rec.Record(ctx, tx, in, seq); err != nil {
				return v, fmt.Errorf("record %s: %w", op.Collection, err)
			}
		}
	}
	v.Status, v.ServerSeq = syncproto.StatusAccepted, seq
	return v, nil
}

// applyDefaults lets the rules that are Defaulters fill fields the op
// leaves unset; it reports whether the op changed. The amended op is
// validated again: a default that does not fit the schema is a bug.
func (s *SyncService) applyDefaults(ctx context.Context, tx *Tx, col *syncproto.Collection, rules []Rule, in *RuleInput) (bool, error) {
	amended := false
	for _, r := range rules {
		d, ok := r.(Defaulter)
		if !ok {
			continue
		}
		set, err := d.Defaults(ctx, tx, in)
		if err != nil {
			return false, fmt.Errorf("defaults of %s: %w", col.Name, err)
		}
		for name, v := range set {
			if _, given := in.Op.Set[name]; given {
				continue
			}
			if !amended {
				// A new map: the caller's op (an in-process push) keeps
				// its own, so resending it is still a replay.
				in.Op.Set = maps.Clone(in.Op.Set)
				if in.Op.Set == nil {
					in.Op.Set = map[string]json.RawMessage{}
				}
			}
			in.Op.Set[name] = v
			amended = true
		}
	}
	if amended {
		if err := col.ValidateOp(in.Op); err != nil {
			return false, fmt.Errorf("defaults of %s: %w", col.Name, err)
		}
	}
	return amended, nil
}

func rejectVerdict(v syncproto.Verdict, code, reason string) syncproto.Verdict {
	v.Status, v.Code, v.Reason, v.HLC = syncproto.StatusRejected, code, reason, nil
	return v
}

// storedVerdict finds an op the server already holds under (device, seq).
// Same content: a replay, answered with the original verdict. Different
// content: the device reused a counter (e.g. restored an old backup); the op
// is refused and not stored, and the device renumbers it above last_seq.
func storedVerdict(ctx context.Context, tx *Tx, op *syncproto.Op, hash []byte) (syncproto.Verdict, bool, error) {
	v := syncproto.Verdict{Seq: op.Seq}
	var stored []byte
	var seq int64
	var hlc string
	var deviceHLC sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT op_hash, seq, hlc, device_hlc FROM ops WHERE device = ? AND dev_seq = ?`, op.Device, op.Seq).
		Scan(&stored, &seq, &hlc, &deviceHLC)
	if err == nil {
		if string(stored) != string(hash) {
			return rejectVerdict(v, syncproto.CodeSeqReused, "this device already used seq "+fmt.Sprint(op.Seq)+" for another op: renumber it above last_seq"), true, nil
		}
		v.Status, v.ServerSeq = syncproto.StatusAccepted, seq
		if deviceHLC.Valid {
			h, err := syncproto.ParseHLC(hlc)
			if err != nil {
				return v, false, err
			}
			v.HLC = &h
		}
		return v, true, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return v, false, fmt.Errorf("find op: %w", err)
	}
	var code, reason string
	err = tx.QueryRowContext(ctx, `SELECT op_hash, code, reason FROM rejected_ops WHERE device = ? AND dev_seq = ?`, op.Device, op.Seq).
		Scan(&stored, &code, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return v, false, nil
	} else if err != nil {
		return v, false, fmt.Errorf("find rejected op: %w", err)
	}
	if string(stored) != string(hash) {
		return rejectVerdict(v, syncproto.CodeSeqReused, "this device already used seq "+fmt.Sprint(op.Seq)+" for another op: renumber it above last_seq"), true, nil
	}
	return rejectVerdict(v, code, reason), true, nil
}

// insertScopes records which areas may pull the op: its area and every
// ancestor (the ids along the path), and for a broadcast collection also
// "^<area>", which users below the area read; in one statement.
func insertScopes(ctx context.Context, tx *Tx, seq int64, area *server.Area, broadcast bool) error {
	ids := pathIDs(area.Path)
	if broadcast {
		ids = append(ids, broadcastScope(area.ID))
	}
	args := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		args = append(args, id, seq)
	}
	q := `INSERT INTO op_scopes (scope, seq) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, len(ids)-1)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("insert scopes: %w", err)
	}
	return nil
}

// pathIDs returns the area ids along an area path, from the county down.
func pathIDs(path string) []string { return strings.Split(strings.Trim(path, "/"), "/") }

// broadcastScope is the op_scopes scope of broadcast documents of an area:
// read by the users below it. "^" is never part of an area id.
func broadcastScope(areaID string) string { return "^" + areaID }

// area returns an area from the cache, reading the table on a miss.
func (s *SyncService) area(ctx context.Context, q queryer, id string) (*server.Area, error) {
	s.areasMu.RLock()
	a, ok := s.areas[id]
	s.areasMu.RUnlock()
	if ok {
		return a, nil
	}
	a, err := findArea(ctx, q, id)
	if err != nil {
		return nil, err
	}
	s.areasMu.Lock()
	s.areas[id] = a
	s.areasMu.Unlock()
	return a, nil
}

// storedDoc is a document row.
type storedDoc struct {
	state  syncproto.DocState
	areaID string
}

func (d *storedDoc) stateOrNil() *syncproto.DocState {
	if d == nil {
		return nil
	}
	return &d.state
}

func loadDoc(ctx context.Context, q queryer, collection, id string) (*storedDoc, error) {
	var d storedDoc
	var state string
	err := q.QueryRowContext(ctx, `SELECT state, area_id FROM docs WHERE collection = ? AND id = ?`, collection, id).Scan(&state, &d.areaID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("load doc %s/%s: %w", collection, id, err)
	}
	if err := json.Unmarshal([]byte(state), &d.state); err != nil {
		return nil, fmt.Errorf("decode doc %s/%s: %w", collection, id, err)
	}
	return &d, nil
}

func saveDoc(ctx context.Context, tx *Tx, st syncproto.DocState, area *server.Area, seq int64, created bool) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if created {
		_, err = tx.ExecContext(ctx, `INSERT INTO docs (collection, id, area_id, area_path, state, deleted, created_seq, updated_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, st.Collection, st.ID, area.ID, area.Path, string(b), st.IsDeleted(), seq, seq)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE docs SET state = ?, deleted = ?, updated_seq = ? WHERE collection = ? AND id = ?`,
			string(b), st.IsDeleted(), seq, st.Collection, st.ID)
	}
	if err != nil {
		return fmt.Errorf("save doc %s/%s: %w", st.Collection, st.ID, err)
	}
	return nil
}

// savePhotoRefs records the photos a document references, so the server
// knows which evidence is still missing and who may read each photo: the
// elements an op adds to or removes from a TypeSHA256 set field, and the
// value of a TypeSHA256 scalar field (a resident's signature) as the merge
// leaves it. prev is the document before the op (nil: created by it).
func savePhotoRefs(ctx context.Context, tx *Tx, col *syncproto.Collection, op *syncproto.Op, prev *syncproto.DocState, st syncproto.DocState, area *server.Area, seq int64) error {
	live := func(field, sha string) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO doc_photos (sha256, collection, doc_id, field, area_path, live, added_seq)
			VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO UPDATE SET live = 1`, sha, st.Collection, st.ID, field, area.Path, seq); err != nil {
			return fmt.Errorf("photo ref: %w", err)
		}
		return nil
	}
	dead := func(field, sha string) error {
		if _, err := tx.ExecContext(ctx, `UPDATE doc_photos SET live = 0 WHERE sha256 = ? AND collection = ? AND doc_id = ? AND field = ?`,
			sha, st.Collection, st.ID, field); err != nil {
			return fmt.Errorf("photo ref: %w", err)
		}
		return nil
	}
	for field := range op.Add {
		if f, ok := col.Field(field); !ok || f.Type != syncproto.TypeSHA256 {
			continue
		}
		for _, sha := range op.Add[field] {
			if err := live(field, sha); err != nil {
				return err
			}
		}
	}
	for field, elems := range op.Remove {
		if f, ok := col.Field(field); !ok || f.Type != syncproto.TypeSHA256 {
			continue
		}
		present := map[string]bool{}
		for _, e := range st.Elements(field) {
			present[e] = true
		}
		for sha := range elems {
			if !present[sha] { // add-wins: a concurrent add keeps it live
				if err := dead(field, sha); err != nil {
					return err
				}
			}
		}
	}
	for field := range op.Set {
		if f, ok := col.Field(field); !ok || f.Kind != syncproto.KindLWW || f.Type != syncproto.TypeSHA256 {
			continue
		}
		was, now := "", strValue(&st, field)
		if prev != nil {
			was = strValue(prev, field)
		}
		if was != "" && was != now {
			if err := dead(field, was); err != nil {
				return err
			}
		}
		if now != "" {
			if err := live(field, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func saveConflict(ctx context.Context, tx *Tx, seq int64, st syncproto.DocState, area *server.Area, c syncproto.Conflict) error {
	w, err := json.Marshal(c.Winner)
	if err != nil {
		return err
	}
	l, err := json.Marshal(c.Loser)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO conflicts (seq, collection, doc_id, area_id, area_path, field, winner, loser, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, seq, st.Collection, st.ID, area.ID, area.Path, c.Field, string(w), string(l), ms(tx.now))
	if err != nil {
		return fmt.Errorf("save conflict: %w", err)
	}
	return nil
}

// newDocArea finds the area of a document an op creates, by the
// collection's area rule. A code is returned for a refusal.
func (s *SyncService) newDocArea(ctx context.Context, tx *Tx, p *server.Principal, col *syncproto.Collection, op *syncproto.Op) (*server.Area, string, string, error) {
	switch {
	case col.Area.Author:
		a, err := s.area(ctx, tx, p.AreaID)
		return a, "", "", err
	case col.Area.Field != "":
		id, ok := stringField(op, col.Area.Field)
		if !ok {
			return nil, syncproto.CodeInvalidValue, fmt.Sprintf("field %q (the document's area) is required", col.Area.Field), nil
		}
		a, err := s.area(ctx, tx, id)
		if server.ErrorCode(err) == server.ENOTFOUND {
			return nil, syncproto.CodeForbiddenArea, fmt.Sprintf("area %q is outside your area", id), nil
		}
		return a, "", "", err
	case col.Area.Ref != "":
		f, _ := col.Field(col.Area.Ref)
		ref, ok := stringField(op, col.Area.Ref)
		if !ok {
			return nil, syncproto.CodeInvalidValue, fmt.Sprintf("field %q (the document the area comes from) is required", col.Area.Ref), nil
		}
		d, err := loadDoc(ctx, tx, f.RefCollection, ref)
		if err != nil {
			return nil, "", "", err
		}
		if d == nil {
			return nil, syncproto.CodeNotFound, fmt.Sprintf("%s/%s does not exist (sync it first)", f.RefCollection, ref), nil
		}
		a, err := s.area(ctx, tx, d.areaID)
		return a, "", "", err
	}
	return nil, "", "", fmt.Errorf("collection %s has no area rule", col.Name)
}

// areaChange refuses an op that would move an existing document to
// another area: scopes of its past changes could not follow it.
func areaChange(col *syncproto.Collection, op *syncproto.Op, cur *storedDoc) string {
	field := col.Area.Field
	if field == "" {
		field = col.Area.Ref
	}
	if field == "" {
		return ""
	}
	v, ok := stringField(op, field)
	if !ok {
		if _, set := op.Set[field]; set {
			return fmt.Sprintf("field %q cannot be cleared: it fixes the document's area", field)
		}
		return ""
	}
	old, _ := cur.state.Value(field)
	var oldV string
	json.Unmarshal(old, &oldV)
	if v != oldV {
		return fmt.Sprintf("field %q fixes the document's area and cannot change (%q → %q)", field, oldV, v)
	}
	return ""
}

// stringField returns a string value the op sets.
func stringField(op *syncproto.Op, name string) (string, bool) {
	raw, ok := op.Set[name]
	if !ok {
		return "", false
	}
	var v string
	if json.Unmarshal(raw, &v) != nil || v == "" {
		return "", false
	}
	return v, true
}

// Rule is a domain rule (docs/DOMAIN.md) that the engine runs on every op
// of the collections it is registered for, after the op passed the schema,
// Authorize and the area check, and before it is stored. A refusal is a
// stable code (a syncproto code) and a reason for the user; the op is then
// kept as rejected like any other. err is for failures, not refusals.
// Rules see the transaction, so they may read other documents and tables,
// but they must not write: that is Recorder's job, once every rule passed.
type Rule interface {
	Check(ctx context.Context, tx *Tx, in *RuleInput) (code, reason string, err error)
}

// Defaulter is a Rule that also fills fields an op leaves unset (a
// hazard's deadline from the county policy). The engine adds them to the
// op before any Check runs, so the op stored, chained and pulled is the op
// as applied; the device's own op (its hash) still answers its replays.
// Fields the op sets are never overridden.
type Defaulter interface {
	Defaults(ctx context.Context, tx *Tx, in *RuleInput) (map[string]json.RawMessage, error)
}

// Recorder is a Rule that keeps derived rows for an accepted op (an
// incident's arrival delay), in the same transaction.
type Recorder interface {
	Record(ctx context.Context, tx *Tx, in *RuleInput, seq int64) error
}

// RuleInput is what a Rule sees of an op.
type RuleInput struct {
	Principal *server.Principal
	Op        *syncproto.Op
	// Current is the document before the op; nil if the op creates it.
	Current *syncproto.DocState
	// Next is the document as the op would leave it.
	Next *syncproto.DocState
	// Area is the document's area.
	Area *server.Area
	// Now is the server time the op is received at.
	Now time.Time
	// ClockOffsetMS is the pushing device's clock minus the server's.
	ClockOffsetMS int64
}

// Creates reports whether the op creates its document.
func (in *RuleInput) Creates() bool { return in.Current == nil }

// Sets reports whether the op writes one of the named fields (by Set,
// Add or Remove).
func (in *RuleInput) Sets(names ...string) bool {
	for _, n := range names {
		_, s := in.Op.Set[n]
		_, a := in.Op.Add[n]
		_, r := in.Op.Remove[n]
		if s || a || r {
			return true
		}
	}
	return false
}

// Register adds a rule for a collection's ops. Call it before the first
// push; NewSyncService registers the domain's rules (domainRules).
func (s *SyncService) Register(collection string, r Rule) {
	s.rules[collection] = append(s.rules[collection], r)
}

// domainRules are the rules of the inspection domain, per collection.
// Rules that read the policy log a stored policy that does not parse to
// log (and apply the defaults) instead of failing the push.
func domainRules(log *slog.Logger) map[string][]Rule {
	pol, items := newRulePolicies(log), newChecklistItems()
	return map[string][]Rule{
		"sites":               {siteRule{}},
		"inspections":         {checklistRule{items}, referralRule{inspection: true}},
		"inspection_items":    {itemRule{items}},
		"hazards":             {hazardRule{pol}, referralRule{}},
		"warnings":            {warningRule{}},
		"warning_acks":        {warningAckRule{}},
		"patrols":             {patrolRule{}},
		"patrol_checkins":     {checkinRule{}},
		"incidents":           {incidentRule{pol}},
		"enforcement_records": {officersRule{}},
		"enforcement_steps":   {stepAuthorRule{}},
	}
}
