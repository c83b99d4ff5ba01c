package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/password"
)

const userColumns = `u.id, u.username, u.name, u.phone, u.role, u.area_id, a.path, u.disabled_at IS NOT NULL, u.password_hash`

func scanUser(row interface{ Scan(...any) error }) (*server.User, string, error) {
	var u server.User
	var hash string
	err := row.Scan(&u.ID, &u.Username, &u.Name, &u.Phone, &u.Role, &u.AreaID, &u.AreaPath, &u.Disabled, &hash)
	return &u, hash, err
}

func findUserBy(ctx context.Context, q queryer, column string, v any) (*server.User, string, error) {
	u, hash, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u JOIN areas a ON a.id = u.area_id WHERE u.`+column+` = ?`, v))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", server.Errorf(server.ENOTFOUND, "user not found")
	} else if err != nil {
		return nil, "", fmt.Errorf("find user: %w", err)
	}
	return u, hash, nil
}

// validUsername: 1–64 characters of [a-z0-9._-], the form of the demo logins.
func validUsername(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// roleLevel is the area level a user of each role is bound to: a grid
// worker to a grid, a village officer to a village, station staff and
// enforcement officers to a township, a county admin to the county.
var roleLevel = map[server.Role]string{
	server.RoleGridWorker:         server.LevelGrid,
	server.RoleVillageOfficer:     server.LevelVillage,
	server.RoleStationStaff:       server.LevelTownship,
	server.RoleEnforcementOfficer: server.LevelTownship,
	server.RoleCountyAdmin:        server.LevelCounty,
}

// validPassword: what a new password must be.
func validPassword(pw string) bool { return len(pw) >= MinPasswordLen && len(pw) <= password.MaxLen }

// MinPasswordLen is the shortest password accepted for a new or changed
// password, in bytes.
const MinPasswordLen = 8

// createUser validates and inserts a user with a freshly hashed password.
func createUser(ctx context.Context, tx *Tx, nu server.NewUser) (*server.User, error) {
	switch {
	case !validUsername(nu.Username):
		return nil, server.Errorf(server.EINVALID, "username %q: want 1-64 characters of a-z 0-9 . _ -", nu.Username)
	case nu.Name == "" || utf8.RuneCountInString(nu.Name) > 50:
		return nil, server.Errorf(server.EINVALID, "user %s: name must be 1-50 characters", nu.Username)
	case len(nu.Phone) > 20:
		return nil, server.Errorf(server.EINVALID, "user %s: phone longer than 20 characters", nu.Username)
	case !nu.Role.Valid():
		return nil, server.Errorf(server.EINVALID, "user %s: unknown role %q", nu.Username, nu.Role)
	case !validPassword(nu.Password):
		return nil, server.Errorf(server.EINVALID, "user %s: password must be %d-%d bytes", nu.Username, MinPasswordLen, password.MaxLen)
	}
	area, err := findArea(ctx, tx, nu.AreaID)
	if err != nil {
		return nil, err
	}
	if want := roleLevel[nu.Role]; area.Level != want {
		return nil, server.Errorf(server.EINVALID, "user %s: a %s belongs to a %s, but %s is a %s", nu.Username, nu.Role, want, area.ID, area.Level)
	}
	hash, err := password.Hash(nu.Password)
	if err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO users (username, name, phone, role, area_id, password_hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING`,
		nu.Username, nu.Name, nu.Phone, nu.Role, nu.AreaID, hash, ms(tx.now))
	if err != nil {
		return nil, fmt.Errorf("insert user %s: %w", nu.Username, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, server.Errorf(server.ECONFLICT, "username %q is taken", nu.Username)
	}
	id, _ := res.LastInsertId()
	return &server.User{ID: id, Username: nu.Username, Name: nu.Name, Phone: nu.Phone, Role: nu.Role, AreaID: area.ID, AreaPath: area.Path}, nil
}

// UserService is the operator's management of accounts (gridsyncd user
// and device subcommands). It acts with the authority of whoever can open
// the database file, so it takes no principal; the HTTP API does not
// expose it.
type UserService struct{ db *DB }

// NewUserService returns a UserService on db.
func NewUserService(db *DB) *UserService { return &UserService{db: db} }

// CreateUser adds a user. Invalid fields, or a role that does not fit the
// area's level: EINVALID; unknown area: ENOTFOUND; username taken: ECONFLICT.
func (s *UserService) CreateUser(ctx context.Context, nu server.NewUser) (*server.User, error) {
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := createUser(ctx, tx, nu)
	if err != nil {
		return nil, err
	}
	return u, tx.Commit()
}

// SetPassword replaces a user's password and revokes the refresh tokens
// of all the user's devices, so a leaked password stops working everywhere
// at the next refresh. Unknown user: ENOTFOUND; bad length: EINVALID.
func (s *UserService) SetPassword(ctx context.Context, username, pw string) error {
	if !validPassword(pw) {
		return server.Errorf(server.EINVALID, "password must be %d-%d bytes", MinPasswordLen, password.MaxLen)
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	return s.update(ctx, username, `UPDATE users SET password_hash = ? WHERE username = ?`, hash, username)
}

// SetDisabled disables or re-enables a user. A disabled user cannot log in
// or refresh, and every request with a token or dashboard session issued
// before is refused at once (the auth checks read the user each time); the
// refresh tokens are revoked too. Unknown user: ENOTFOUND.
func (s *UserService) SetDisabled(ctx context.Context, username string, disabled bool) error {
	if !disabled {
		return s.update(ctx, username, `UPDATE users SET disabled_at = NULL WHERE username = ?`, username)
	}
	return s.update(ctx, username, `UPDATE users SET disabled_at = coalesce(disabled_at, ?) WHERE username = ?`, ms(s.db.Now()), username)
}

// update runs a one-row change of a user and revokes the user's refresh
// tokens, in one transaction.
func (s *UserService) update(ctx context.Context, username, query string, args ...any) error {
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("update user %s: %w", username, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return server.Errorf(server.ENOTFOUND, "user %q not found", username)
	}
	if err := revokeTokens(ctx, tx, `user_id = (SELECT id FROM users WHERE username = ?)`, username); err != nil {
		return err
	}
	return tx.Commit()
}

// Users lists the users of area's subtree ("" for all), by area then
// username.
func (s *UserService) Users(ctx context.Context, area string) ([]*server.User, error) {
	prefix := "%"
	if area != "" {
		a, err := findArea(ctx, s.db.read, area)
		if err != nil {
			return nil, err
		}
		prefix = likePrefix(a.Path)
	}
	return listUsers(ctx, s.db.read, prefix, true)
}

// listUsers lists the users whose area path matches the LIKE prefix, by
// area then username; disabled ones too if withDisabled.
func listUsers(ctx context.Context, q *sql.DB, prefix string, withDisabled bool) ([]*server.User, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+userColumns+` FROM users u JOIN areas a ON a.id = u.area_id
		WHERE a.path LIKE ? ESCAPE '\' AND (? OR u.disabled_at IS NULL) ORDER BY a.path, u.username`, prefix, withDisabled)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*server.User
	for rows.Next() {
		u, _, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// RevokeDevice is the lost-phone switch for the operator: the device's
// tokens and sessions stop working at once and it cannot log in again.
// Unknown device: ENOTFOUND.
func (s *UserService) RevokeDevice(ctx context.Context, deviceID string) error {
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := revokeDevice(ctx, tx, deviceID); err != nil {
		return err
	}
	return tx.Commit()
}
