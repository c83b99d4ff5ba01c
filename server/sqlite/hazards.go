package sqlite

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// hazardRule carries the county policy into the hazard loop:
//
//   - a dispatch (a step to dispatched) that leaves the hazard without a
//     deadline gets the policy's default for its severity (派单督办 always
//     has a deadline);
//   - a hazard from a covert visit (covert) must have its deadline within
//     the policy's covert limit after its report (暗访督办15日办结):
//     CodeCovertDeadline. The default deadline of a covert hazard is
//     capped at that limit.
type hazardRule struct{}

var (
	_ Rule      = hazardRule{}
	_ Defaulter = hazardRule{}
)

// Defaults implements Defaulter.
func (hazardRule) Defaults(ctx context.Context, tx *Tx, in *RuleInput) (map[string]json.RawMessage, error) {
	step, ok := in.Op.Flow["status"]
	if !ok || step.To != syncproto.StageDispatched {
		return nil, nil
	}
	if _, has := in.Next.Value("deadline"); has {
		return nil, nil
	}
	p, err := policyFor(ctx, tx, in.Area.Path)
	if err != nil {
		return nil, err
	}
	deadline := in.Now.Add(p.HazardDeadline(strValue(in.Next, "severity")))
	if boolValue(in.Next, "covert") {
		reported, err := reportedAt(ctx, tx, in)
		if err != nil {
			return nil, err
		}
		if limit := reported.Add(p.CovertDeadline()); limit.Before(deadline) {
			deadline = limit
		}
	}
	return map[string]json.RawMessage{"deadline": json.RawMessage(strconv.FormatInt(deadline.UnixMilli(), 10))}, nil
}

// Check implements Rule.
func (hazardRule) Check(ctx context.Context, tx *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("deadline", "covert") || !boolValue(in.Next, "covert") {
		return "", "", nil
	}
	deadline, ok := intValue(in.Next, "deadline")
	if !ok {
		return "", "", nil
	}
	p, err := policyFor(ctx, tx, in.Area.Path)
	if err != nil {
		return "", "", err
	}
	reported, err := reportedAt(ctx, tx, in)
	if err != nil {
		return "", "", err
	}
	if limit := reported.Add(p.CovertDeadline()); fromMS(deadline).After(limit) {
		return syncproto.CodeCovertDeadline, fmt.Sprintf("a hazard from a covert visit closes within %d days of its report (暗访督办%d日办结): deadline %s is after %s",
			p.CovertVisitDeadlineDays, p.CovertVisitDeadlineDays, fromMS(deadline).Format(time.DateOnly), limit.Format(time.DateOnly)), nil
	}
	return "", "", nil
}

// reportedAt is when the server received the op that created the
// document: the hazard's report.
func reportedAt(ctx context.Context, tx *Tx, in *RuleInput) (time.Time, error) {
	if in.Creates() {
		return in.Now, nil
	}
	var at int64
	err := tx.QueryRowContext(ctx, `SELECT o.received_at FROM docs d JOIN ops o ON o.seq = d.created_seq
		WHERE d.collection = ? AND d.id = ?`, in.Op.Collection, in.Op.Doc).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("report time of %s: %w", in.Op.Doc, err)
	}
	return fromMS(at), nil
}

// openStages are the stages in which a passed deadline makes a hazard
// overdue: rectification not yet submitted.
var openStages = []string{syncproto.StageReported, syncproto.StageDispatched, syncproto.StageRectifying}

// OverdueHazards implements server.HazardService.
func (s *DomainService) OverdueHazards(ctx context.Context, q server.HazardQuery) ([]*server.OverdueHazard, error) {
	_, area, err := s.scope(ctx, q.AreaID)
	if err != nil {
		return nil, err
	}
	now := s.now(q.At)
	rows, err := s.db.read.QueryContext(ctx, `SELECT h.area_id, h.state, COALESCE(json_extract(s.state, '$.fields.name.v'), '')
		FROM docs h LEFT JOIN docs s ON s.collection = 'sites' AND s.id = json_extract(h.state, '$.fields.site.v')
		WHERE h.collection = 'hazards' AND h.deleted = 0 AND h.area_path LIKE ? ESCAPE '\'
		AND json_extract(h.state, '$.fields.deadline.v') < ? AND json_extract(h.state, '$.flows.status.stage') IN (?, ?, ?)`,
		likePrefix(area.Path), now.UnixMilli(), openStages[0], openStages[1], openStages[2])
	if err != nil {
		return nil, fmt.Errorf("overdue hazards: %w", err)
	}
	defer rows.Close()
	var out []*server.OverdueHazard
	for rows.Next() {
		var h server.OverdueHazard
		var state string
		if err := rows.Scan(&h.AreaID, &state, &h.SiteName); err != nil {
			return nil, err
		}
		var st syncproto.DocState
		if err := json.Unmarshal([]byte(state), &st); err != nil {
			return nil, fmt.Errorf("decode hazard: %w", err)
		}
		deadline, _ := intValue(&st, "deadline")
		flow, _ := st.Status("status")
		h.ID, h.Title, h.Severity, h.SiteID, h.Assignee = st.ID, strValue(&st, "title"), strValue(&st, "severity"), strValue(&st, "site"), strValue(&st, "assignee")
		h.Stage, h.Round = flow.Stage, int(flow.Round)
		h.Deadline, h.OverdueDays = fromMS(deadline), int(now.Sub(fromMS(deadline))/server.Day)
		h.Covert, h.Escalated, h.ReferredTo = boolValue(&st, "covert"), boolValue(&st, "escalated"), strValue(&st, "referred_to")
		out = append(out, &h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *server.OverdueHazard) int {
		return cmp.Or(a.Deadline.Compare(b.Deadline), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}
