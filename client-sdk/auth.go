package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// refreshMargin: an access token this close to its expiry (by the device
// clock) is refreshed before use rather than sent to fail.
const refreshMargin = 30 * time.Second

// Login logs username in on this device and stores the session. The first
// login of a file registers its device id with the server. Logging in as
// another user than the file's previous one gives the file a new device id
// and an empty replica (a device id belongs to one user), and is refused
// with ErrOtherUser while the previous user's ops are unsynced or rejected
// or their photos are not all stored (refused ones dismissed).
// A wrong password is an *APIError matching ErrUnauthorized.
func (c *Client) Login(ctx context.Context, username, password string) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	device := c.DeviceID()
	prev := c.User()
	fresh := prev != nil && prev.Username != username
	if fresh {
		var n int
		var photos int
		err := c.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM outbox WHERE server_seq IS NULL) + (SELECT count(*) FROM rejected),
			(SELECT count(*) FROM photos WHERE state != ?)`, PhotoStored).Scan(&n, &photos)
		if err != nil {
			return err
		}
		if n > 0 || photos > 0 {
			return fmt.Errorf("%w: %s has %d unsynced or rejected ops and %d unsent or refused photos on this device", ErrOtherUser, prev.Username, n, photos)
		}
		var err2 error
		if device, err2 = newDeviceID(); err2 != nil {
			return err2
		}
	}
	body, _ := json.Marshal(map[string]string{"username": username, "password": password, "device_id": device})
	var sess *session
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/auth/login", body: body}, func(b []byte) (err error) {
		sess, err = decodeSession(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	err = c.update(func(tx *sql.Tx) error {
		if fresh {
			// The previous user's photos are all stored (checked above);
			// their refs name seqs of the old device id.
			for _, q := range []string{`DELETE FROM docs`, `DELETE FROM snapshot_docs`, `DELETE FROM outbox`, `DELETE FROM photo_refs`, `DELETE FROM photos`,
				`DELETE FROM meta WHERE key IN ('cursor', 'snapshot_active', 'snapshot_next', 'snapshot_cursor', 'snapshot_bound')`} {
				if _, err := tx.Exec(q); err != nil {
					return err
				}
			}
			if err := setMeta(tx, metaDevice, device); err != nil {
				return err
			}
			if err := setMetaInt(tx, metaNextSeq, 1); err != nil {
				return err
			}
		}
		return c.saveSession(tx, sess)
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.device = device
	c.mu.Unlock()
	c.adoptSession(sess)
	return nil
}

// Logout tells the server to revoke this device's tokens and forgets them
// locally. The replica, outbox and rejected ops stay; log in again to sync
// them. The tokens are forgotten even if the server could not be told.
func (c *Client) Logout(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.mu.Lock()
	has := c.refresh != "" || c.access != ""
	c.mu.Unlock()
	var err error
	if has {
		err = c.call(ctx, request{method: http.MethodPost, path: "/v1/auth/logout", auth: true}, func([]byte) error { return nil })
	}
	if endErr := c.endSession(); endErr != nil {
		return endErr
	}
	if err != nil && !errors.Is(err, ErrLoginRequired) && !errors.Is(err, ErrUnauthorized) {
		return fmt.Errorf("logout (tokens forgotten locally, the server was not told): %w", err)
	}
	return nil
}

// session is the reply of login and refresh.
type session struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	User         *User  `json:"user"`
}

// saveSession persists a session's tokens and user in tx.
func (c *Client) saveSession(tx *sql.Tx, s *session) error {
	u, err := json.Marshal(s.User)
	if err != nil {
		return err
	}
	for k, v := range map[string]string{metaAccess: s.AccessToken, metaRefresh: s.RefreshToken, metaUser: string(u)} {
		if err := setMeta(tx, k, v); err != nil {
			return err
		}
	}
	return setMetaInt(tx, metaAccessExpiry, c.expiry(s).UnixMilli())
}

// adoptSession puts a persisted session in memory.
func (c *Client) adoptSession(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.access, c.refresh, c.accessExp = s.AccessToken, s.RefreshToken, c.expiry(s)
	u := *s.User
	c.user = &u
}

func (c *Client) expiry(s *session) time.Time {
	return c.opt.Now().Add(time.Duration(s.ExpiresIn) * time.Second)
}

// endSession forgets the tokens (not the user).
func (c *Client) endSession() error {
	err := c.update(func(tx *sql.Tx) error {
		for _, k := range []string{metaAccess, metaRefresh, metaAccessExpiry} {
			if err := setMeta(tx, k, ""); err != nil {
				return err
			}
		}
		return nil
	})
	c.mu.Lock()
	c.access, c.refresh, c.accessExp = "", "", time.Time{}
	c.mu.Unlock()
	return err
}

// sessionEnded turns a reply that ends the session for good (token reused,
// device revoked) into ErrLoginRequired, forgetting the tokens.
func (c *Client) sessionEnded(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) || !ae.needsLogin() {
		return err
	}
	if endErr := c.endSession(); endErr != nil {
		return errors.Join(err, endErr)
	}
	return fmt.Errorf("%w: %w", ErrLoginRequired, err)
}

// accessToken returns a token to send, refreshing it first when it has
// expired by the device clock.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	tok, exp, rt := c.access, c.accessExp, c.refresh
	c.mu.Unlock()
	if rt == "" && tok == "" {
		return "", ErrLoginRequired
	}
	if tok != "" && (exp.IsZero() || c.opt.Now().Before(exp.Add(-refreshMargin))) {
		return tok, nil
	}
	if err := c.refreshToken(ctx, tok); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access == "" {
		return "", ErrLoginRequired
	}
	return c.access, nil
}

// refreshToken rotates the refresh token, unless another goroutine already
// replaced failed (the token that did not work). A refused refresh ends the
// session (ErrLoginRequired); a network failure is returned as is, for the
// caller's retry.
func (c *Client) refreshToken(ctx context.Context, failed string) error {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	c.mu.Lock()
	cur, rt := c.access, c.refresh
	c.mu.Unlock()
	if cur != failed {
		return nil
	}
	if rt == "" {
		return ErrLoginRequired
	}
	body, _ := json.Marshal(map[string]string{"refresh_token": rt, "device_id": c.DeviceID()})
	data, err := c.send(ctx, request{method: http.MethodPost, path: "/v1/auth/refresh", body: body}, "")
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.needsLogin()) {
		if endErr := c.endSession(); endErr != nil {
			return errors.Join(err, endErr)
		}
		return fmt.Errorf("%w: refresh: %w", ErrLoginRequired, err)
	}
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	sess, err := decodeSession(data)
	if err != nil {
		return err
	}
	if err := c.update(func(tx *sql.Tx) error { return c.saveSession(tx, sess) }); err != nil {
		return err
	}
	c.adoptSession(sess)
	return nil
}
