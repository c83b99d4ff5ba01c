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
	case len(nu.Password) < 8 || len(nu.Password) > password.MaxLen:
		return nil, server.Errorf(server.EINVALID, "user %s: password must be 8-%d bytes", nu.Username, password.MaxLen)
	}
	area, err := findArea(ctx, tx, nu.AreaID)
	if err != nil {
		return nil, err
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
