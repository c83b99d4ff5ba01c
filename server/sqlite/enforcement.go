package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// officersRule enforces 双人执法 and 持证执法 on enforcement records:
//
//   - the officers set holds at least two distinct users
//     (CodeTwoOfficers), each an enforcement officer, not disabled, of an
//     area covering the site (CodeNotOfficer); it runs when the record is
//     created and whenever the officers change, so removing an officer
//     cannot leave one;
//   - certificates hold exactly one certificate number (执法证号) per
//     listed officer, as "username:number", and none of anyone else
//     (CodeCertificateRequired);
//   - every op on a record is by one of its officers: the author of the
//     record is listed in it, and an edit is by an officer listed before it
//     (CodeNotOfficer), so another officer of the area cannot rewrite a
//     case they are not on;
//   - a major decision (major_decision with an outcome other than
//     no_violation) needs a legal_review step of the record first
//     (重大执法决定法制审核, CodeLegalReviewRequired).
type officersRule struct{}

var _ Rule = officersRule{}

// certificateNumber is what a certificate number (执法证号) may hold.
var certificateNumber = regexp.MustCompile(`^[0-9A-Za-z-]{4,32}$`)

// Check implements Rule.
func (officersRule) Check(ctx context.Context, tx *Tx, in *RuleInput) (string, string, error) {
	author := in.Principal.Username
	if !in.Creates() {
		if officers := in.Current.Elements("officers"); !slices.Contains(officers, author) {
			return syncproto.CodeNotOfficer, fmt.Sprintf("only the record's officers (%s) write it", strings.Join(officers, ", ")), nil
		}
	}
	officers := in.Next.Elements("officers")
	if in.Creates() || in.Sets("officers") {
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
		if in.Creates() && !slices.Contains(officers, author) {
			return syncproto.CodeNotOfficer, "the record's author must be one of its officers", nil
		}
	}
	if in.Creates() || in.Sets("officers", "certificates") {
		if reason := checkCertificates(officers, in.Next.Elements("certificates")); reason != "" {
			return syncproto.CodeCertificateRequired, reason, nil
		}
	}
	if (in.Creates() || in.Sets("major_decision", "outcome")) && majorDecision(in.Next) {
		return needLegalReview(ctx, tx, in.Op.Doc)
	}
	return "", "", nil
}

// checkCertificates returns why certs (elements "username:number") are not
// one certificate per officer, or "".
func checkCertificates(officers, certs []string) string {
	seen := map[string]bool{}
	for _, c := range certs {
		user, number, ok := strings.Cut(c, ":")
		switch {
		case !ok || !certificateNumber.MatchString(number):
			return fmt.Sprintf("certificate %q: want username:执法证号 (4-32 letters, digits or -)", c)
		case !slices.Contains(officers, user):
			return fmt.Sprintf("certificate of %q, who is not an officer of the record", user)
		case seen[user]:
			return fmt.Sprintf("%q has two certificate numbers", user)
		}
		seen[user] = true
	}
	for _, o := range officers {
		if !seen[o] {
			return fmt.Sprintf("officer %q has no certificate number (持证执法)", o)
		}
	}
	return ""
}

// majorDecision reports whether a record holds a major decision: marked
// major, with an outcome that is a decision (not no_violation).
func majorDecision(rec *syncproto.DocState) bool {
	outcome := strValue(rec, "outcome")
	return boolValue(rec, "major_decision") && outcome != "" && outcome != "no_violation"
}

// needLegalReview refuses a major decision on the record unless it has a
// live legal_review step (CodeLegalReviewRequired).
func needLegalReview(ctx context.Context, tx *Tx, record string) (code, reason string, err error) {
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM docs WHERE collection = 'enforcement_steps' AND deleted = 0
		AND json_extract(state, '$.fields.record.v') = ? AND json_extract(state, '$.fields.step.v') = ? LIMIT 1`,
		record, syncproto.EnforceLegalReview).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return syncproto.CodeLegalReviewRequired, "a major decision (重大执法决定) is made after its legal review (法制审核): record the legal_review step first", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("legal review of %s: %w", record, err)
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

// stepAuthorRule: every op on a step of the full-process record
// (执法全过程记录) is by one of its record's officers (CodeNotOfficer); a
// legal_review step names its reviewer (CodeInvalidValue); a decide step of
// a record marked major_decision comes after a legal_review step of it
// (CodeLegalReviewRequired). A step's content is fixed once recorded and
// its photos only grow: the declarations (Fixed, AddOnly) keep that.
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
	if !in.Creates() {
		return "", "", nil
	}
	switch strValue(in.Next, "step") {
	case syncproto.EnforceLegalReview:
		if strValue(in.Next, "reviewer") == "" {
			return syncproto.CodeInvalidValue, "a legal review (法制审核) names its reviewer", nil
		}
	case syncproto.EnforceDecide:
		if !boolValue(&rec.state, "major_decision") {
			return "", "", nil
		}
		return needLegalReview(ctx, tx, id)
	}
	return "", "", nil
}
