package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// patrolRule: a patrol does not end before it starts (CodeInvalidValue).
// Check-ins are never refused for their time or author: the view flags
// them. As a Recorder it keeps the clock offset of the device that set
// started_at and ended_at (device_times), so the view compares times on
// the server's clock.
type patrolRule struct{}

var (
	_ Rule     = patrolRule{}
	_ Recorder = patrolRule{}
)

// Check implements Rule.
func (patrolRule) Check(_ context.Context, _ *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("started_at", "ended_at") {
		return "", "", nil
	}
	started, _ := intValue(in.Next, "started_at")
	if ended, ok := intValue(in.Next, "ended_at"); ok && ended < started {
		return syncproto.CodeInvalidValue, "the patrol ends (ended_at) before it starts (started_at)", nil
	}
	return "", "", nil
}

// Record implements Recorder.
func (patrolRule) Record(ctx context.Context, tx *Tx, in *RuleInput, _ int64) error {
	return recordDeviceTimes(ctx, tx, in, "started_at", "ended_at")
}

// checkinRule records the clock offset of the device that set a check-in's
// time (at), like patrolRule.
type checkinRule struct{}

var (
	_ Rule     = checkinRule{}
	_ Recorder = checkinRule{}
)

// Check implements Rule: check-ins are flagged, never refused.
func (checkinRule) Check(context.Context, *Tx, *RuleInput) (string, string, error) {
	return "", "", nil
}

// Record implements Recorder.
func (checkinRule) Record(ctx context.Context, tx *Tx, in *RuleInput, _ int64) error {
	return recordDeviceTimes(ctx, tx, in, "at")
}

// recordDeviceTimes stores the pushing device's clock offset for each of
// the time fields the op sets and wins (a write that loses to a later one
// leaves the winner's offset in place).
func recordDeviceTimes(ctx context.Context, tx *Tx, in *RuleInput, fields ...string) error {
	for _, f := range fields {
		if _, set := in.Op.Set[f]; !set {
			continue
		}
		reg, ok := in.Next.Fields[f]
		v, has := intValue(in.Next, f)
		if !ok || reg.Stamp != in.Op.Stamp() || !has {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_times (collection, doc_id, field, device_ms, clock_offset_ms) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (collection, doc_id, field) DO UPDATE SET device_ms = excluded.device_ms, clock_offset_ms = excluded.clock_offset_ms`,
			in.Op.Collection, in.Op.Doc, f, v, in.ClockOffsetMS); err != nil {
			return fmt.Errorf("device time %s.%s: %w", in.Op.Collection, f, err)
		}
	}
	return nil
}

// serverTime is the SQL for a time field of docs row d on the server's
// clock: the device's value minus the clock offset of the device that set
// it (0 if unknown).
func serverTime(d, collection, field string) string {
	return fmt.Sprintf(`(json_extract(%[1]s.state, '$.fields.%[3]s.v') - COALESCE((SELECT t.clock_offset_ms FROM device_times t
		WHERE t.collection = '%[2]s' AND t.doc_id = %[1]s.id AND t.field = '%[3]s'
		AND t.device_ms = json_extract(%[1]s.state, '$.fields.%[3]s.v')), 0))`, d, collection, field)
}

// nightOf is the night a moment belongs to: the local date 12 hours
// earlier (22:00 on the 1st and 03:00 on the 2nd are the night of the 1st).
func nightOf(t time.Time) time.Time {
	y, m, d := t.Add(-12 * time.Hour).In(server.CountyTime).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, server.CountyTime)
}

// noonOf is 12:00 local on the date of night: where its night begins.
func noonOf(night time.Time) time.Time { return night.Add(12 * time.Hour) }

// patrolRow is a patrol read for the view.
type patrolRow struct {
	p        *server.Patrol
	areaPath string
	// end is the end of the session on the server's clock, or its start
	// while it is open.
	end time.Time
}

// Patrols implements server.PatrolService.
func (s *DomainService) Patrols(ctx context.Context, q server.PatrolQuery) (*server.PatrolReport, error) {
	area, tx, err := s.view(ctx, q.AreaID)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	from, to, err := patrolRange(q, s.now(q.At))
	if err != nil {
		return nil, err
	}
	rep := &server.PatrolReport{AreaID: area.ID, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Patrols: []*server.Patrol{}, KeyNights: []*server.KeyNight{}}
	all, err := readPatrols(ctx, tx, area.Path, noonOf(from), noonOf(to.AddDate(0, 0, 1)))
	if err != nil {
		return nil, err
	}
	pol := newPolicies(tx)
	if rep.KeyNights, err = keyNights(ctx, tx, pol, area, from, to, all); err != nil {
		return nil, err
	}
	if len(all) > server.MaxPatrols {
		all, rep.Truncated = all[:server.MaxPatrols], true
	}
	for _, r := range all {
		rep.Patrols = append(rep.Patrols, r.p)
	}
	return rep, addCheckins(ctx, tx, pol, area.Path, all)
}

// patrolRange resolves a query's nights: From..To as local dates, by
// default the 7 nights up to the latest one that has begun.
func patrolRange(q server.PatrolQuery, now time.Time) (time.Time, time.Time, error) {
	def := server.DefaultPolicy()
	to := nightOf(now)
	if start, _ := def.NightWindow(to); now.Before(start) {
		to = to.AddDate(0, 0, -1)
	}
	from := to.AddDate(0, 0, -6)
	var err error
	if q.To != "" {
		if to, err = time.ParseInLocation(time.DateOnly, q.To, server.CountyTime); err != nil {
			return from, to, server.Errorf(server.EINVALID, "to %q is not a date YYYY-MM-DD", q.To)
		}
		if q.From == "" {
			from = to.AddDate(0, 0, -6)
		}
	}
	if q.From != "" {
		if from, err = time.ParseInLocation(time.DateOnly, q.From, server.CountyTime); err != nil {
			return from, to, server.Errorf(server.EINVALID, "from %q is not a date YYYY-MM-DD", q.From)
		}
	}
	if to.Before(from) {
		return from, to, server.Errorf(server.EINVALID, "from %s is after to %s", q.From, q.To)
	}
	if nights := int(to.Sub(from).Round(time.Hour)/server.Day) + 1; nights > server.MaxPatrolNights {
		return from, to, server.Errorf(server.EINVALID, "%d nights, at most %d", nights, server.MaxPatrolNights)
	}
	return from, to, nil
}

// readPatrols reads the live patrols at or below path that started in
// [from, to) on the server's clock, in order of start.
func readPatrols(ctx context.Context, tx *sql.Tx, path string, from, to time.Time) ([]*patrolRow, error) {
	start, end := serverTime("p", "patrols", "started_at"), serverTime("p", "patrols", "ended_at")
	rows, err := tx.QueryContext(ctx, `SELECT p.id, p.area_id, p.area_path, p.state, u.username, `+start+`, `+end+`
		FROM docs p JOIN ops o ON o.seq = p.created_seq JOIN users u ON u.id = o.user_id
		WHERE p.collection = 'patrols' AND p.deleted = 0 AND p.area_path LIKE ? ESCAPE '\'
		AND `+start+` >= ? AND `+start+` < ? ORDER BY 6, p.id`, likePrefix(path), from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("patrols: %w", err)
	}
	defer rows.Close()
	var out []*patrolRow
	for rows.Next() {
		r := &patrolRow{p: &server.Patrol{Checkins: []*server.Checkin{}}}
		var state string
		var started int64
		var ended sql.NullInt64
		if err := rows.Scan(&r.p.ID, &r.p.AreaID, &r.areaPath, &state, &r.p.StartedBy, &started, &ended); err != nil {
			return nil, err
		}
		var st syncproto.DocState
		if err := json.Unmarshal([]byte(state), &st); err != nil {
			return nil, fmt.Errorf("decode patrol: %w", err)
		}
		p := r.p
		p.Kind, p.Level, p.Leader, p.Members = strValue(&st, "kind"), strValue(&st, "level"), strValue(&st, "leader"), st.Elements("members")
		if p.Members == nil {
			p.Members = []string{}
		}
		p.StartedAt, r.end = fromMS(started), fromMS(started)
		p.Night = nightOf(p.StartedAt).Format(time.DateOnly)
		if ended.Valid {
			e := fromMS(ended.Int64)
			d := ended.Int64 - started
			p.EndedAt, p.DurationMS, r.end = &e, &d, e
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// addCheckins reads the check-ins of the patrols and flags them.
func addCheckins(ctx context.Context, tx *sql.Tx, pol *policies, path string, patrols []*patrolRow) error {
	if len(patrols) == 0 {
		return nil
	}
	byID := make(map[string]*patrolRow, len(patrols))
	args := []any{likePrefix(path)}
	for _, r := range patrols {
		byID[r.p.ID] = r
		args = append(args, r.p.ID)
	}
	at := serverTime("c", "patrol_checkins", "at")
	rows, err := tx.QueryContext(ctx, `SELECT c.id, json_extract(c.state, '$.fields.patrol.v'), u.username, `+at+`,
		COALESCE(json_extract(c.state, '$.fields.site.v'), ''), COALESCE(json_extract(c.state, '$.fields.note.v'), '')
		FROM docs c JOIN ops o ON o.seq = c.created_seq JOIN users u ON u.id = o.user_id
		WHERE c.collection = 'patrol_checkins' AND c.deleted = 0 AND c.area_path LIKE ? ESCAPE '\'
		AND json_extract(c.state, '$.fields.patrol.v') IN (?`+strings.Repeat(", ?", len(patrols)-1)+`)
		ORDER BY 4, c.id`, args...)
	if err != nil {
		return fmt.Errorf("check-ins: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c := &server.Checkin{Flags: []string{}}
		var patrol string
		var ms int64
		if err := rows.Scan(&c.ID, &patrol, &c.By, &ms, &c.SiteID, &c.Note); err != nil {
			return err
		}
		c.At = fromMS(ms)
		r := byID[patrol]
		p, err := pol.of(ctx, r.areaPath)
		if err != nil {
			return err
		}
		c.Flags = checkinFlags(p, r, c)
		if len(c.Flags) > 0 {
			r.p.Flagged++
		}
		r.p.Checkins = append(r.p.Checkins, c)
	}
	return rows.Err()
}

// checkinFlags says what is wrong with a check-in of patrol r: outside the
// night window, outside the session, or by someone not on the patrol.
func checkinFlags(p server.Policy, r *patrolRow, c *server.Checkin) []string {
	flags := []string{}
	if !p.InNightWindow(c.At) {
		flags = append(flags, server.FlagOutsideNight)
	}
	if c.At.Before(r.p.StartedAt) || r.p.EndedAt != nil && c.At.After(*r.p.EndedAt) {
		flags = append(flags, server.FlagOutsideSession)
	}
	if c.By != r.p.StartedBy && c.By != r.p.Leader && !slices.Contains(r.p.Members, c.By) {
		flags = append(flags, server.FlagNotMember)
	}
	return flags
}

// keyNights lists, for every night from..to in a key period (重点时段) of
// the area's policy or of a village's, the villages at or below the area
// without a patrol that night: none of the village or below it whose
// session overlaps the night window.
func keyNights(ctx context.Context, tx *sql.Tx, pol *policies, area *server.Area, from, to time.Time, patrols []*patrolRow) ([]*server.KeyNight, error) {
	villages, err := areasAt(ctx, tx, area.Path, server.LevelVillage)
	if err != nil {
		return nil, err
	}
	out := []*server.KeyNight{}
	byKey := map[string]*server.KeyNight{}
	night := func(d time.Time, period string) *server.KeyNight {
		k := d.Format(time.DateOnly) + "\x00" + period
		if byKey[k] == nil {
			byKey[k] = &server.KeyNight{Night: d.Format(time.DateOnly), Period: period, Unpatrolled: []*server.AreaRef{}}
			out = append(out, byKey[k])
		}
		return byKey[k]
	}
	own, err := pol.of(ctx, area.Path)
	if err != nil {
		return nil, err
	}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if k, ok := own.KeyPeriodOn(d); ok {
			night(d, k.Name)
		}
		for _, v := range villages {
			p, err := pol.of(ctx, v.Path)
			if err != nil {
				return nil, err
			}
			k, ok := p.KeyPeriodOn(d)
			if !ok {
				continue
			}
			kn := night(d, k.Name)
			if !patrolled(p, d, v.Path, patrols) {
				kn.Unpatrolled = append(kn.Unpatrolled, &server.AreaRef{AreaID: v.ID, Name: v.Name})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *server.KeyNight) int { return cmp.Compare(a.Night, b.Night) })
	return out, nil
}

// patrolled reports whether a patrol at or below the area at path overlaps
// the night window that starts on day.
func patrolled(p server.Policy, day time.Time, path string, patrols []*patrolRow) bool {
	start, end := p.NightWindow(day)
	for _, r := range patrols {
		if server.Covers(path, r.areaPath) && r.p.StartedAt.Before(end) && !r.end.Before(start) {
			return true
		}
	}
	return false
}
