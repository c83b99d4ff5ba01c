package sqlite

import (
	"cmp"
	"context"
	"database/sql"
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
//     deadline, and a reopen (a step into a new round, back to reported,
//     dispatched or rectifying) that sets none, get the policy's default
//     for the severity from now (派单督办 always has a deadline; a failed
//     verification 复核不通过 gets a new rectification time);
//   - a hazard linked to a covert inspection (暗访) is covert: the server
//     fills covert into an op that leaves it unset and links one, touches
//     the deadline or gets a default deadline (the inspection may have
//     arrived after the hazard), and refuses covert = false
//     (CodeCovertRequired);
//   - a covert hazard's deadline is within the policy's covert limit after
//     its report (暗访督办15日办结): CodeCovertDeadline. Default deadlines
//     of covert hazards are capped at that limit, even when the limit has
//     passed (a reopened covert hazard is then overdue at once, as the
//     15-day rule means).
type hazardRule struct{ pol *rulePolicies }

var (
	_ Rule      = hazardRule{}
	_ Defaulter = hazardRule{}
)

// Defaults implements Defaulter.
func (r hazardRule) Defaults(ctx context.Context, tx *Tx, in *RuleInput) (map[string]json.RawMessage, error) {
	set := map[string]json.RawMessage{}
	needs := needsDeadline(in)
	// The inspection is looked up once: for an op that links it, touches
	// the deadline or gets a default one. A hazard that reached the server
	// before its covert inspection learns it is covert here, so Check sees
	// the covert limit rather than a missing covert.
	covert := boolValue(in.Next, "covert")
	if !covert && !in.Sets("covert") && (in.Creates() || in.Sets("inspection", "deadline") || needs) {
		ci, err := covertInspection(ctx, tx, in.Next)
		if err != nil {
			return nil, err
		}
		if ci {
			set["covert"], covert = json.RawMessage("true"), true
		}
	}
	if !needs {
		return set, nil
	}
	p, err := r.pol.of(ctx, tx, in)
	if err != nil {
		return nil, err
	}
	deadline := in.Now.Add(p.HazardDeadline(strValue(in.Next, "severity")))
	if covert {
		reported, err := reportedAt(ctx, tx, in)
		if err != nil {
			return nil, err
		}
		if limit := reported.Add(p.CovertDeadline()); limit.Before(deadline) {
			deadline = limit
		}
	}
	set["deadline"] = json.RawMessage(strconv.FormatInt(deadline.UnixMilli(), 10))
	return set, nil
}

// needsDeadline reports whether the op takes the hazard into a stage that
// needs a deadline without giving one: a dispatch that leaves none, or a
// reopen into an open stage that sets none (the old round's deadline does
// not carry over).
func needsDeadline(in *RuleInput) bool {
	step, ok := in.Op.Flow["status"]
	if !ok {
		return false
	}
	if _, given := in.Op.Set["deadline"]; given {
		return false
	}
	if in.Current != nil {
		if cur, started := in.Current.Status("status"); started && step.Round > cur.Round {
			return slices.Contains(openStages, step.To)
		}
	}
	_, has := in.Next.Value("deadline")
	return step.To == syncproto.StageDispatched && !has
}

// covertInspection reports whether the hazard's inspection exists and is
// a covert visit.
func covertInspection(ctx context.Context, tx *Tx, hz *syncproto.DocState) (bool, error) {
	id := strValue(hz, "inspection")
	if id == "" {
		return false, nil
	}
	insp, err := loadDoc(ctx, tx, "inspections", id)
	if err != nil || insp == nil || insp.state.IsDeleted() {
		return false, err
	}
	return boolValue(&insp.state, "covert"), nil
}

// Check implements Rule.
func (r hazardRule) Check(ctx context.Context, tx *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("deadline", "covert", "inspection") {
		return "", "", nil
	}
	if !boolValue(in.Next, "covert") {
		ci, err := covertInspection(ctx, tx, in.Next)
		if err != nil || !ci {
			return "", "", err
		}
		return syncproto.CodeCovertRequired, fmt.Sprintf("inspections/%s was a covert visit (暗访): its hazards are covert and close within the covert limit",
			strValue(in.Next, "inspection")), nil
	}
	deadline, ok := intValue(in.Next, "deadline")
	if !ok {
		return "", "", nil
	}
	p, err := r.pol.of(ctx, tx, in)
	if err != nil {
		return "", "", err
	}
	reported, err := reportedAt(ctx, tx, in)
	if err != nil {
		return "", "", err
	}
	if limit := reported.Add(p.CovertDeadline()); fromMS(deadline).After(limit) {
		return syncproto.CodeCovertDeadline, fmt.Sprintf("a hazard from a covert visit closes within %d days of its report (暗访督办%d日办结): deadline %s is after %s",
			p.CovertVisitDeadlineDays, p.CovertVisitDeadlineDays, fromMS(deadline).In(server.CountyTime).Format(time.DateOnly),
			limit.In(server.CountyTime).Format(time.DateOnly)), nil
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

// overdueHazards reads the hazards at or below the area at path that are
// overdue at now: in an open stage and past their deadline, where a covert
// hazard's deadline (hazards.covert, or its inspection's) is at the latest
// its report plus the covert limit, set or not. Each comes with the path
// of its area (the second slice, same order). Ordered most overdue first.
func overdueHazards(ctx context.Context, tx *sql.Tx, path string, now time.Time) ([]*server.OverdueHazard, []string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT h.area_id, h.area_path, h.state, o.received_at,
		COALESCE(json_extract(s.state, '$.fields.name.v'), ''), COALESCE(json_extract(i.state, '$.fields.covert.v'), 0)
		FROM docs h JOIN ops o ON o.seq = h.created_seq
		LEFT JOIN docs s ON s.collection = 'sites' AND s.id = json_extract(h.state, '$.fields.site.v')
		LEFT JOIN docs i ON i.collection = 'inspections' AND i.id = json_extract(h.state, '$.fields.inspection.v') AND i.deleted = 0
		WHERE h.collection = 'hazards' AND h.deleted = 0 AND h.area_path LIKE ? ESCAPE '\'
		AND json_extract(h.state, '$.flows.status.stage') IN (?, ?, ?)
		AND (json_extract(h.state, '$.fields.deadline.v') < ? OR json_extract(h.state, '$.fields.covert.v') = 1
			OR json_extract(i.state, '$.fields.covert.v') = 1)`,
		likePrefix(path), openStages[0], openStages[1], openStages[2], now.UnixMilli())
	if err != nil {
		return nil, nil, fmt.Errorf("overdue hazards: %w", err)
	}
	type candidate struct {
		h           *server.OverdueHazard
		path        string
		hasDeadline bool
	}
	var cands []candidate
	for rows.Next() {
		var h server.OverdueHazard
		var state, areaPath string
		var received int64
		var inspCovert bool
		if err := rows.Scan(&h.AreaID, &areaPath, &state, &received, &h.SiteName, &inspCovert); err != nil {
			rows.Close()
			return nil, nil, err
		}
		var st syncproto.DocState
		if err := json.Unmarshal([]byte(state), &st); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("decode hazard: %w", err)
		}
		deadline, has := intValue(&st, "deadline")
		flow, _ := st.Status("status")
		h.ID, h.Title, h.Severity, h.SiteID, h.Assignee = st.ID, strValue(&st, "title"), strValue(&st, "severity"), strValue(&st, "site"), strValue(&st, "assignee")
		h.Stage, h.Round, h.ReportedAt = flow.Stage, int(flow.Round), fromMS(received)
		h.Deadline = fromMS(deadline)
		h.Covert, h.Escalated, h.ReferredTo = boolValue(&st, "covert") || inspCovert, boolValue(&st, "escalated"), strValue(&st, "referred_to")
		cands = append(cands, candidate{h: &h, path: areaPath, hasDeadline: has})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	pol := newPolicies(tx)
	var over []candidate
	for _, c := range cands {
		h := c.h
		p, err := pol.of(ctx, c.path)
		if err != nil {
			return nil, nil, err
		}
		if h.Covert {
			if limit := h.ReportedAt.Add(p.CovertDeadline()); !c.hasDeadline || limit.Before(h.Deadline) {
				h.Deadline, h.CovertLimit = limit, true
			}
		}
		if !now.After(h.Deadline) {
			continue
		}
		late := now.Sub(h.Deadline)
		h.OverdueDays = int(late / server.Day)
		h.ShouldEscalate = !h.Escalated && late >= p.EscalateAfter()
		over = append(over, c)
	}
	slices.SortFunc(over, func(a, b candidate) int {
		return cmp.Or(a.h.Deadline.Compare(b.h.Deadline), cmp.Compare(a.h.ID, b.h.ID))
	})
	out, paths := make([]*server.OverdueHazard, len(over)), make([]string, len(over))
	for i, c := range over {
		out[i], paths[i] = c.h, c.path
	}
	return out, paths, nil
}

// OverdueHazards implements server.HazardService.
func (s *DomainService) OverdueHazards(ctx context.Context, q server.HazardQuery) ([]*server.OverdueHazard, error) {
	area, tx, err := s.view(ctx, q.AreaID)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	out, _, err := overdueHazards(ctx, tx, area.Path, s.now(q.At))
	return out, err
}

// Escalations implements server.HazardService.
func (s *DomainService) Escalations(ctx context.Context, q server.HazardQuery) (*server.EscalationReport, error) {
	area, tx, err := s.view(ctx, q.AreaID)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	hazards, paths, err := overdueHazards(ctx, tx, area.Path, s.now(q.At))
	if err != nil {
		return nil, err
	}
	// One row per township at or below the area; an area below a
	// township is its own row.
	townships, err := areasAt(ctx, tx, area.Path, server.LevelTownship)
	if err != nil {
		return nil, err
	}
	rep := &server.EscalationReport{Areas: []*server.EscalationCount{}, Hazards: []*server.OverdueHazard{}}
	byID := map[string]*server.EscalationCount{}
	for _, a := range townships {
		c := &server.EscalationCount{AreaID: a.ID, Level: a.Level, Name: a.Name}
		rep.Areas, byID[c.AreaID] = append(rep.Areas, c), c
	}
	if len(rep.Areas) == 0 {
		c := &server.EscalationCount{AreaID: area.ID, Level: area.Level, Name: area.Name}
		rep.Areas, byID[area.ID] = append(rep.Areas, c), c
	}
	for i, h := range hazards {
		var c *server.EscalationCount
		for _, id := range pathIDs(paths[i]) {
			if byID[id] != nil {
				c = byID[id]
			}
		}
		if c == nil {
			// Only hazards of sites registered above every township
			// could miss a row, and nobody who creates hazards works
			// above a township.
			continue
		}
		c.Overdue++
		if h.Escalated {
			c.Escalated++
		}
		if h.ShouldEscalate {
			c.ShouldEscalate++
			rep.Hazards = append(rep.Hazards, h)
		}
	}
	return rep, nil
}

// referralRule keeps referrals (抄告) on hazards and inspections
// consistent:
//
//   - an op that names the department (referred_to) without referred_at
//     gets the server's time as referred_at, and one that records the
//     department's reply (feedback) without feedback_at gets it as
//     feedback_at, written into the op like a default deadline;
//   - feedback needs a referral (CodeInvalidValue);
//   - an inspection is referred only when the resident refused (refused)
//     or let nobody in (result no_access): a check that happened has its
//     hazards to refer (CodeInvalidValue).
type referralRule struct{ inspection bool }

var (
	_ Rule      = referralRule{}
	_ Defaulter = referralRule{}
)

// Defaults implements Defaulter.
func (referralRule) Defaults(_ context.Context, _ *Tx, in *RuleInput) (map[string]json.RawMessage, error) {
	set := map[string]json.RawMessage{}
	now := json.RawMessage(strconv.FormatInt(in.Now.UnixMilli(), 10))
	for field, at := range map[string]string{"referred_to": "referred_at", "feedback": "feedback_at"} {
		if v, ok := in.Op.Set[field]; ok && string(v) != "null" {
			set[at] = now
		}
	}
	return set, nil
}

// Check implements Rule.
func (r referralRule) Check(_ context.Context, _ *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("referred_to", "feedback", "refused", "result") {
		return "", "", nil
	}
	_, referred := in.Next.Value("referred_to")
	if _, fb := in.Next.Value("feedback"); fb && !referred {
		return syncproto.CodeInvalidValue, "feedback (反馈) is the reply of the department a referral (抄告) went to: set referred_to", nil
	}
	if r.inspection && referred && !boolValue(in.Next, "refused") && strValue(in.Next, "result") != syncproto.InspectionNoAccess {
		return syncproto.CodeInvalidValue, "an inspection is referred (抄告) when the resident refused the check (refused) or let nobody in (no_access); refer its hazards otherwise", nil
	}
	return "", "", nil
}
