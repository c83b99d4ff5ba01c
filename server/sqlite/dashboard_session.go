package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/gridsync/gridsync/server"
)

// maxWebSessionID bounds the cookie value looked up, so a huge cookie costs
// nothing.
const maxWebSessionID = 64

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// CreateWebSession implements server.WebSessions. Expired sessions are
// purged in the same transaction, so the table stays small without a
// background job.
func (s *DashboardService) CreateWebSession(ctx context.Context, userID int64, deviceID string, ttl time.Duration) (string, error) {
	id, csrf := randomToken(), randomToken()
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_at <= ?`, ms(tx.now)); err != nil {
		return "", fmt.Errorf("purge web sessions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO web_sessions (id_hash, user_id, device_id, csrf, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, sessionHash(id), userID, deviceID, csrf, ms(tx.now), ms(tx.now.Add(ttl))); err != nil {
		return "", fmt.Errorf("store web session: %w", err)
	}
	return id, tx.Commit()
}

var errNoWebSession = server.Errorf(server.EUNAUTHORIZED, "请先登录 (not logged in)")

// WebSession implements server.WebSessions. Like AuthService.Authenticate
// it reads the user and device every time, so a revoked browser or a moved
// or disabled user is cut off at once.
func (s *DashboardService) WebSession(ctx context.Context, id string) (*server.WebSession, error) {
	if id == "" || len(id) > maxWebSessionID {
		return nil, errNoWebSession
	}
	var ws server.WebSession
	var userID, expires int64
	var deviceID string
	var revoked sql.NullInt64
	err := s.db.read.QueryRowContext(ctx, `SELECT ws.user_id, ws.device_id, ws.csrf, ws.expires_at, d.revoked_at
		FROM web_sessions ws JOIN devices d ON d.id = ws.device_id WHERE ws.id_hash = ?`, sessionHash(id)).
		Scan(&userID, &deviceID, &ws.CSRF, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoWebSession
	} else if err != nil {
		return nil, fmt.Errorf("web session: %w", err)
	}
	if expires <= ms(s.db.Now()) || revoked.Valid {
		return nil, errNoWebSession
	}
	u, _, err := findUserBy(ctx, s.db.read, "id", userID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errNoWebSession
	}
	ws.Principal = &server.Principal{UserID: u.ID, Username: u.Username, Role: u.Role, AreaID: u.AreaID, AreaPath: u.AreaPath, DeviceID: deviceID}
	ws.Name, ws.ExpiresAt = u.Name, fromMS(expires)
	return &ws, nil
}

// DeleteWebSession implements server.WebSessions.
func (s *DashboardService) DeleteWebSession(ctx context.Context, id string) error {
	if id == "" || len(id) > maxWebSessionID {
		return nil
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash = ?`, sessionHash(id)); err != nil {
		return fmt.Errorf("delete web session: %w", err)
	}
	return tx.Commit()
}
