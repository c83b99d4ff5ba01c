package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// incidentRule records how long an incident report (30分钟以内上报) took
// from the incident to the server, when the report is created: the delay
// is the server's receive time minus occurred_at converted to server time
// with the pushing device's clock offset (a phone whose clock is an hour
// slow does not make a report look an hour early). A report later than the
// county's limit is flagged late; it is never refused for it. An
// occurred_at in the future (beyond the drift bound, after correction) is
// CodeInvalidValue.
type incidentRule struct{ pol *rulePolicies }

var (
	_ Rule     = incidentRule{}
	_ Recorder = incidentRule{}
)

// occurredServerMS is occurred_at on the server's clock.
func occurredServerMS(in *RuleInput) (int64, bool) {
	occurred, ok := intValue(in.Next, "occurred_at")
	return occurred - in.ClockOffsetMS, ok
}

// Check implements Rule.
func (incidentRule) Check(_ context.Context, _ *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("occurred_at") {
		return "", "", nil
	}
	if at, ok := occurredServerMS(in); ok && at > in.Now.UnixMilli()+syncproto.MaxDrift.Milliseconds() {
		return syncproto.CodeInvalidValue, "occurred_at is in the future (check the phone's clock)", nil
	}
	return "", "", nil
}

// Record implements Recorder.
func (r incidentRule) Record(ctx context.Context, tx *Tx, in *RuleInput, seq int64) error {
	if !in.Creates() {
		return nil
	}
	occurred, _ := intValue(in.Next, "occurred_at")
	corrected, _ := occurredServerMS(in)
	var reported any
	if v, ok := intValue(in.Next, "reported_at"); ok {
		reported = v
	}
	p, err := r.pol.of(ctx, tx, in)
	if err != nil {
		return err
	}
	delay, limit := in.Now.UnixMilli()-corrected, p.IncidentLimit().Milliseconds()
	_, err = tx.ExecContext(ctx, `INSERT INTO incident_reports (doc_id, area_path, seq, occurred_at, reported_at, received_at,
		clock_offset_ms, delay_ms, limit_ms, late) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		in.Op.Doc, in.Area.Path, seq, occurred, reported, in.Now.UnixMilli(), in.ClockOffsetMS, delay, limit, delay > limit)
	if err != nil {
		return fmt.Errorf("incident report: %w", err)
	}
	return nil
}

// Incidents implements server.IncidentService.
func (s *DomainService) Incidents(ctx context.Context, limit int) ([]*server.Incident, error) {
	_, area, err := s.scope(ctx, "")
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > server.MaxIncidents {
		limit = server.MaxIncidents
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT r.doc_id, d.area_id, COALESCE(json_extract(d.state, '$.fields.title.v'), ''),
		u.username, r.occurred_at, r.reported_at, r.received_at, r.clock_offset_ms, r.delay_ms, r.limit_ms, r.late
		FROM incident_reports r JOIN docs d ON d.collection = 'incidents' AND d.id = r.doc_id
		JOIN ops o ON o.seq = r.seq JOIN users u ON u.id = o.user_id
		WHERE r.area_path LIKE ? ESCAPE '\' AND d.deleted = 0 ORDER BY r.received_at DESC LIMIT ?`, likePrefix(area.Path), limit)
	if err != nil {
		return nil, fmt.Errorf("incidents: %w", err)
	}
	defer rows.Close()
	var out []*server.Incident
	for rows.Next() {
		var in server.Incident
		var occurred, received int64
		var reported sql.NullInt64
		if err := rows.Scan(&in.ID, &in.AreaID, &in.Title, &in.ReportedBy, &occurred, &reported, &received,
			&in.ClockOffsetMS, &in.DelayMS, &in.LimitMS, &in.Late); err != nil {
			return nil, err
		}
		in.OccurredAt, in.ReceivedAt = fromMS(occurred), fromMS(received)
		if reported.Valid {
			t := fromMS(reported.Int64)
			in.ReportedAt = &t
		}
		out = append(out, &in)
	}
	return out, rows.Err()
}
