package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gridsync/gridsync/server"
)

// policyAt is the policy in force at an area and where it comes from.
type policyAt struct {
	policy server.Policy
	// areaID is the nearest area at or above with a stored policy; ""
	// when none has one (the defaults apply).
	areaID    string
	updatedAt int64
	// invalid is why the stored body does not parse; policy is then
	// server.DefaultPolicy.
	invalid error
}

// policyFor returns the policy of the nearest area at or above the area at
// path that has one, or server.DefaultPolicy. A stored policy that does not
// parse (edited outside the API, or stricter rules since) is not an error:
// the defaults apply and invalid says why, so that neither pushes nor views
// fail for it. err is for database failures only.
func policyFor(ctx context.Context, q queryer, path string) (policyAt, error) {
	var pa policyAt
	var body string
	err := q.QueryRowContext(ctx, `SELECT p.area_id, p.body, p.updated_at FROM policies p JOIN areas a ON a.id = p.area_id
		WHERE substr(?, 1, length(a.path)) = a.path ORDER BY length(a.path) DESC LIMIT 1`, path).Scan(&pa.areaID, &body, &pa.updatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return policyAt{policy: server.DefaultPolicy()}, nil
	} else if err != nil {
		return policyAt{}, fmt.Errorf("policy: %w", err)
	}
	if pa.policy, pa.invalid = server.ParsePolicy([]byte(body)); pa.invalid != nil {
		pa.policy = server.DefaultPolicy()
	}
	return pa, nil
}

// rulePolicies gives the domain rules the policy of an op's area. An
// invalid stored policy must not fail the push (devices would retry
// forever, incident reports stuck behind it): the defaults apply, and the
// fallback is logged at error level once per stored version of the policy.
type rulePolicies struct {
	log    *slog.Logger
	mu     sync.Mutex
	logged map[string]int64 // area id → updated_at already logged
}

func newRulePolicies(log *slog.Logger) *rulePolicies {
	return &rulePolicies{log: log, logged: map[string]int64{}}
}

// of returns the policy in force for the op's area.
func (r *rulePolicies) of(ctx context.Context, tx *Tx, in *RuleInput) (server.Policy, error) {
	pa, err := policyFor(ctx, tx, in.Area.Path)
	if err != nil {
		return server.Policy{}, err
	}
	if pa.invalid != nil {
		r.mu.Lock()
		seen, ok := r.logged[pa.areaID]
		if !ok || seen != pa.updatedAt {
			r.logged[pa.areaID] = pa.updatedAt
			r.log.Error("stored policy is invalid: the defaults apply until the county sets a valid one (PUT /v1/policy)",
				"policy_area", pa.areaID, "err", pa.invalid)
		}
		r.mu.Unlock()
	}
	return pa.policy, nil
}

// policies memoizes policyFor by area within one view.
type policies struct {
	q      queryer
	byArea map[string]server.Policy
}

func newPolicies(q queryer) *policies { return &policies{q: q, byArea: map[string]server.Policy{}} }

func (ps *policies) of(ctx context.Context, path string) (server.Policy, error) {
	if p, ok := ps.byArea[path]; ok {
		return p, nil
	}
	pa, err := policyFor(ctx, ps.q, path)
	if err != nil {
		return server.Policy{}, err
	}
	ps.byArea[path] = pa.policy
	return pa.policy, nil
}

// Policy implements server.PolicyService.
func (s *DomainService) Policy(ctx context.Context, areaID string) (*server.PolicyInfo, error) {
	_, area, err := s.scope(ctx, areaID)
	if err != nil {
		return nil, err
	}
	return policyInfo(ctx, s.db.read, area)
}

// policyInfo describes the policy in force at area.
func policyInfo(ctx context.Context, q queryer, area *server.Area) (*server.PolicyInfo, error) {
	pa, err := policyFor(ctx, q, area.Path)
	if err != nil {
		return nil, err
	}
	info := &server.PolicyInfo{AreaID: area.ID, SourceAreaID: pa.areaID, Policy: pa.policy}
	if pa.invalid != nil {
		info.Invalid = server.ErrorMessage(pa.invalid)
	}
	if pa.areaID == "" {
		return info, nil
	}
	at := fromMS(pa.updatedAt)
	info.UpdatedAt = &at
	err = q.QueryRowContext(ctx, `SELECT u.username FROM policy_changes c JOIN users u ON u.id = c.user_id
		WHERE c.area_id = ? AND c.changed_at = ? ORDER BY c.id DESC LIMIT 1`, pa.areaID, pa.updatedAt).Scan(&info.UpdatedBy)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("policy author: %w", err)
	}
	return info, nil
}

// policyWriter checks that the caller may set the policy of areaID and
// returns the caller and the area.
func (s *DomainService) policyWriter(ctx context.Context, areaID string) (*server.Principal, *server.Area, error) {
	p, area, err := s.scope(ctx, areaID)
	if err != nil {
		return nil, nil, err
	}
	if p.Role != server.RoleCountyAdmin {
		return nil, nil, server.Errorf(server.EFORBIDDEN, "only the county admin sets a policy: the station is held to its deadlines")
	}
	return p, area, nil
}

// SetPolicy implements server.PolicyService.
func (s *DomainService) SetPolicy(ctx context.Context, areaID string, body []byte) (*server.PolicyInfo, error) {
	p, area, err := s.policyWriter(ctx, areaID)
	if err != nil {
		return nil, err
	}
	pol, err := server.ParsePolicy(body)
	if err != nil {
		return nil, err
	}
	stored, err := json.Marshal(pol)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := ms(tx.now)
	if _, err := tx.ExecContext(ctx, `INSERT INTO policies (area_id, body, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (area_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`, area.ID, string(stored), now); err != nil {
		return nil, fmt.Errorf("store policy: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO policy_changes (area_id, body, user_id, changed_at) VALUES (?, ?, ?, ?)`,
		area.ID, string(stored), p.UserID, now); err != nil {
		return nil, fmt.Errorf("record policy change: %w", err)
	}
	info, err := policyInfo(ctx, tx, area)
	if err != nil {
		return nil, err
	}
	return info, tx.Commit()
}

// DeletePolicy implements server.PolicyService.
func (s *DomainService) DeletePolicy(ctx context.Context, areaID string) error {
	p, area, err := s.policyWriter(ctx, areaID)
	if err != nil {
		return err
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM policies WHERE area_id = ?`, area.ID)
	if err != nil {
		return fmt.Errorf("delete policy: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return server.Errorf(server.ENOTFOUND, "area %s has no policy of its own", area.ID)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO policy_changes (area_id, body, user_id, changed_at) VALUES (?, NULL, ?, ?)`,
		area.ID, p.UserID, ms(tx.now)); err != nil {
		return fmt.Errorf("record policy change: %w", err)
	}
	return tx.Commit()
}
