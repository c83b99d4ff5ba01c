package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// officersRule enforces 双人执法 on enforcement records: the officers set
// holds at least two distinct users (CodeTwoOfficers), each an enforcement
// officer, not disabled, of an area covering the site (CodeNotOfficer); the
// author of the record is one of them (CodeNotOfficer). It runs when the
// record is created and whenever the officers change, so removing an
// officer cannot leave one.
type officersRule struct{}

var _ Rule = officersRule{}

// Check implements Rule.
func (officersRule) Check(ctx context.Context, tx *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("officers") {
		return "", "", nil
	}
	officers := in.Next.Elements("officers")
	if len(officers) < 2 {
		return syncproto.CodeTwoOfficers, fmt.Sprintf("an enforcement record needs two officers (双人执法), it lists %d", len(officers)), nil
	}
	for _, username := range officers {
		ok, err := isOfficerFor(ctx, tx, username, in.Area.Path)
		if err != nil {
			return "", "", err
		}
		if !ok {
			return syncproto.CodeNotOfficer, fmt.Sprintf("%q is not an enforcement officer of an area covering the site", username), nil
		}
	}
	if in.Creates() && !slices.Contains(officers, in.Principal.Username) {
		return syncproto.CodeNotOfficer, "the record's author must be one of its officers", nil
	}
	return "", "", nil
}

// isOfficerFor reports whether username is an active enforcement officer
// whose area covers the area at path.
func isOfficerFor(ctx context.Context, tx *Tx, username, path string) (bool, error) {
	var role, userPath string
	var disabled bool
	err := tx.QueryRowContext(ctx, `SELECT u.role, a.path, u.disabled_at IS NOT NULL FROM users u JOIN areas a ON a.id = u.area_id
		WHERE u.username = ?`, username).Scan(&role, &userPath, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("officer %s: %w", username, err)
	}
	return server.Role(role) == server.RoleEnforcementOfficer && !disabled && server.Covers(userPath, path), nil
}

// stepAuthorRule: a step of the full-process record (执法全过程记录) is
// written by one of its record's officers (CodeNotOfficer).
type stepAuthorRule struct{}

var _ Rule = stepAuthorRule{}

// Check implements Rule.
func (stepAuthorRule) Check(ctx context.Context, tx *Tx, in *RuleInput) (string, string, error) {
	id := strValue(in.Next, "record")
	rec, err := loadDoc(ctx, tx, "enforcement_records", id)
	if err != nil {
		return "", "", err
	}
	if rec == nil {
		return syncproto.CodeNotFound, fmt.Sprintf("enforcement_records/%s does not exist", id), nil
	}
	if officers := rec.state.Elements("officers"); !slices.Contains(officers, in.Principal.Username) {
		return syncproto.CodeNotOfficer, fmt.Sprintf("only the record's officers (%s) record its steps", strings.Join(officers, ", ")), nil
	}
	return "", "", nil
}
