package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/password"
)

// AccessTokens issues and verifies short-lived access tokens; server/jwt
// implements it.
type AccessTokens interface {
	// Issue signs a token for p and returns it with its lifetime.
	Issue(p *server.Principal) (string, time.Duration, error)
	// Verify returns the principal a token was issued for, or an error for
	// any token that is not valid now.
	Verify(token string) (*server.Principal, error)
}

// Defaults of the auth service.
const (
	// DefaultRefreshTTL is long because inspectors work offline for days and
	// must not be logged out in a village with no signal; each use rotates it.
	DefaultRefreshTTL = 30 * 24 * time.Hour
	// Failed logins are counted in LoginFailureWindow three ways. An
	// account is blocked for one address after MaxLoginFailures from that
	// address, so a guesser elsewhere cannot lock its owner out; for every
	// address only after MaxAccountFailures in all, a ceiling against
	// guessing from many addresses that stays far above what one guesser
	// can cause (argon2id keeps each guess slow besides). An address is
	// blocked for every account after MaxAddressFailures (spraying).
	MaxLoginFailures   = 5
	MaxAccountFailures = 100
	MaxAddressFailures = 30
	LoginFailureWindow = 15 * time.Minute
	// RefreshReplayGrace: a rotated refresh token that comes back from
	// the same device within this time after its rotation, while the token
	// that rotation issued is still unused, is answered with a new token
	// instead of revoking the family. On a 2G link the reply carrying the
	// new token is often lost and the phone retries with the one it has; a
	// worker must not have to type the password again in a village. A copy
	// replayed later, from another device, or after the successor was used
	// still revokes the family.
	RefreshReplayGrace   = 2 * time.Minute
	refreshTokenBytes    = 32
	maxRefreshTokenChars = 64
)

// AuthService implements server.AuthService.
type AuthService struct {
	db         *DB
	tokens     AccessTokens
	RefreshTTL time.Duration
	pairs      *server.FailureLimiter // (account, address)
	accounts   *server.FailureLimiter
	addresses  *server.FailureLimiter
	// dummyHash is checked for unknown usernames so that timing does not
	// tell which usernames exist.
	dummyHash string
}

var _ server.AuthService = (*AuthService)(nil)

// NewAuthService returns an AuthService issuing access tokens with tokens.
func NewAuthService(db *DB, tokens AccessTokens) (*AuthService, error) {
	dummy, err := password.Hash(rand.Text())
	if err != nil {
		return nil, err
	}
	return &AuthService{
		db: db, tokens: tokens, RefreshTTL: DefaultRefreshTTL, dummyHash: dummy,
		pairs:     server.NewFailureLimiter(MaxLoginFailures, LoginFailureWindow),
		accounts:  server.NewFailureLimiter(MaxAccountFailures, LoginFailureWindow),
		addresses: server.NewFailureLimiter(MaxAddressFailures, LoginFailureWindow),
	}, nil
}

var errBadLogin = server.Errorf(server.EUNAUTHORIZED, "用户名或密码错误 (wrong username or password)")

// Login implements server.AuthService.
func (s *AuthService) Login(ctx context.Context, l Login) (*server.Session, error) {
	if !validDeviceID(l.DeviceID) {
		return nil, server.Errorf(server.EINVALID, "device_id must be 8-64 characters of A-Z a-z 0-9 . _ -")
	}
	k := newLoginKeys(l.Username, l.RemoteAddr)
	if err := s.checkLimits(k); err != nil {
		return nil, err
	}
	u, hash, err := findUserBy(ctx, s.db.read, "username", l.Username)
	if server.ErrorCode(err) == server.ENOTFOUND {
		_ = password.Check(s.dummyHash, l.Password)
		s.fail(k)
		return nil, errBadLogin
	} else if err != nil {
		return nil, err
	}
	if err := password.Check(hash, l.Password); errors.Is(err, password.ErrMismatch) {
		s.fail(k)
		return nil, errBadLogin
	} else if err != nil {
		return nil, fmt.Errorf("check password of %s: %w", u.Username, err)
	}
	if u.Disabled {
		return nil, server.Errorf(server.EUNAUTHORIZED, "account disabled")
	}
	// Only this address's count is forgiven: resetting the account's would
	// hand a distributed guesser a fresh budget whenever the owner logs in.
	s.pairs.Reset(k.pair)

	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := registerDevice(ctx, tx, u, l.DeviceID); err != nil {
		return nil, err
	}
	sess, err := s.newSession(ctx, tx, u, l.DeviceID, rand.Text(), nil)
	if err != nil {
		return nil, err
	}
	return sess, tx.Commit()
}

// Login is the server.Login request; aliased so callers need one import.
type Login = server.Login

// loginKeys are the FailureLimiter keys of one login attempt.
type loginKeys struct{ pair, account, addr string }

// newLoginKeys keys an attempt by account, by address, and by both. An
// IPv6 address counts as its /64, the block one subscriber gets, so that
// rotating addresses inside it does not reset the limit.
func newLoginKeys(username, remoteAddr string) loginKeys {
	addr := remoteAddr
	if ip, err := netip.ParseAddr(remoteAddr); err == nil && ip.Is6() && !ip.Is4In6() {
		addr = netip.PrefixFrom(ip, 64).Masked().String()
	}
	return loginKeys{pair: "pair:" + username + "\x00" + addr, account: "user:" + username, addr: "addr:" + addr}
}

// checkLimits refuses a login from a blocked address, or for an account
// blocked for this address or for all. An attempt on a blocked account
// still counts against the address, so spraying many accounts from one
// address gets that address blocked too.
func (s *AuthService) checkLimits(k loginKeys) error {
	blocked, left := s.addresses.Blocked(k.addr)
	if !blocked {
		if blocked, left = s.pairs.Blocked(k.pair); !blocked {
			blocked, left = s.accounts.Blocked(k.account)
		}
		if blocked {
			s.addresses.Fail(k.addr)
		}
	}
	if !blocked {
		return nil
	}
	e := server.Errorf(server.ERATELIMITED, "登录失败次数过多，请稍后再试 (too many failed logins)")
	e.Details = map[string]any{"retry_after": int(left.Seconds()) + 1}
	return e
}

func (s *AuthService) fail(k loginKeys) {
	s.pairs.Fail(k.pair)
	s.accounts.Fail(k.account)
	s.addresses.Fail(k.addr)
}

// registerDevice records the device for u, refusing a device id that belongs
// to another user or was revoked.
func registerDevice(ctx context.Context, tx *Tx, u *server.User, deviceID string) error {
	var owner int64
	var revoked sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT user_id, revoked_at FROM devices WHERE id = ?`, deviceID).Scan(&owner, &revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, user_id, created_at, last_login_at) VALUES (?, ?, ?, ?)`,
			deviceID, u.ID, ms(tx.now), ms(tx.now))
		return err
	case err != nil:
		return fmt.Errorf("find device: %w", err)
	case owner != u.ID:
		return server.Errorf(server.ECONFLICT, "device %s belongs to another user: make a new device id per user", deviceID)
	case revoked.Valid:
		return server.Errorf(server.EDEVICEREVOKE, "device %s was revoked", deviceID)
	}
	_, err = tx.ExecContext(ctx, `UPDATE devices SET last_login_at = ? WHERE id = ?`, ms(tx.now), deviceID)
	return err
}

// newSession issues an access token and a refresh token of the given
// family; parent is the hash of the refresh token whose use issued it (nil
// at login).
func (s *AuthService) newSession(ctx context.Context, tx *Tx, u *server.User, deviceID, family string, parent []byte) (*server.Session, error) {
	p := &server.Principal{UserID: u.ID, Username: u.Username, Role: u.Role, AreaID: u.AreaID, AreaPath: u.AreaPath, DeviceID: deviceID}
	access, ttl, err := s.tokens.Issue(p)
	if err != nil {
		return nil, fmt.Errorf("issue access token: %w", err)
	}
	raw := make([]byte, refreshTokenBytes)
	rand.Read(raw)
	refresh := base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(refresh))
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, family, device_id, user_id, created_at, expires_at, parent)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, hash[:], family, deviceID, u.ID, ms(tx.now), ms(tx.now.Add(s.RefreshTTL)), parent); err != nil {
		return nil, fmt.Errorf("store refresh token: %w", err)
	}
	return &server.Session{AccessToken: access, RefreshToken: refresh, ExpiresIn: int(ttl.Seconds()), User: u}, nil
}

var errBadRefresh = server.Errorf(server.EUNAUTHORIZED, "refresh token invalid or expired: log in again")

// Refresh implements server.AuthService.
func (s *AuthService) Refresh(ctx context.Context, refreshToken, deviceID string) (*server.Session, error) {
	if len(refreshToken) == 0 || len(refreshToken) > maxRefreshTokenChars {
		return nil, errBadRefresh
	}
	hash := sha256.Sum256([]byte(refreshToken))
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var family, dev string
	var userID, expires int64
	var used, revoked sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT family, device_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE hash = ?`,
		hash[:]).Scan(&family, &dev, &userID, &expires, &used, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadRefresh
	} else if err != nil {
		return nil, fmt.Errorf("find refresh token: %w", err)
	}
	// Reuse is judged before the device: a replay under another device id
	// is still a replay.
	if used.Valid && !revoked.Valid {
		lost, err := lostReply(ctx, tx, hash[:], dev == deviceID, used.Int64)
		if err != nil {
			return nil, err
		}
		if !lost {
			// A rotated token came back: someone holds a copy. Revoke the
			// family so neither the thief nor the device can go on
			// without a login.
			if err := revokeTokens(ctx, tx, `family = ?`, family); err != nil {
				return nil, err
			}
			if err := tx.Commit(); err != nil {
				return nil, err
			}
			return nil, server.Errorf(server.ETOKENREUSED, "refresh token reused: the device's sessions were revoked, log in again")
		}
		// The device never got the successor: retire it and issue another.
		if err := revokeTokens(ctx, tx, `parent = ?`, hash[:]); err != nil {
			return nil, err
		}
	}
	if dev != deviceID {
		return nil, errBadRefresh
	}
	if err := checkDevice(ctx, tx, dev); err != nil {
		return nil, err
	}
	if revoked.Valid || expires <= ms(tx.now) {
		return nil, errBadRefresh
	}
	u, _, err := findUserBy(ctx, tx, "id", userID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, server.Errorf(server.EUNAUTHORIZED, "account disabled")
	}
	if !used.Valid {
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ?`, ms(tx.now), hash[:]); err != nil {
			return nil, err
		}
	}
	sess, err := s.newSession(ctx, tx, u, dev, family, hash[:])
	if err != nil {
		return nil, err
	}
	return sess, tx.Commit()
}

// lostReply reports whether the replay of a used refresh token is the
// device retrying after losing the reply of its rotation: the same device,
// within RefreshReplayGrace of the rotation, and every token that rotation
// (or an earlier retry) issued still unused. A token without a recorded
// successor (rotated before lineage was kept) never qualifies.
func lostReply(ctx context.Context, tx *Tx, hash []byte, sameDevice bool, usedAt int64) (bool, error) {
	if !sameDevice || ms(tx.now)-usedAt > RefreshReplayGrace.Milliseconds() {
		return false, nil
	}
	var children, usedChildren int
	if err := tx.QueryRowContext(ctx, `SELECT count(*), count(used_at) FROM refresh_tokens WHERE parent = ?`, hash).
		Scan(&children, &usedChildren); err != nil {
		return false, fmt.Errorf("find successor token: %w", err)
	}
	return children > 0 && usedChildren == 0, nil
}

func revokeTokens(ctx context.Context, tx *Tx, where string, arg any) error {
	_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND `+where, ms(tx.now), arg)
	if err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", err)
	}
	return nil
}

func checkDevice(ctx context.Context, q queryer, deviceID string) error {
	var revoked sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT revoked_at FROM devices WHERE id = ?`, deviceID).Scan(&revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return server.Errorf(server.EUNAUTHORIZED, "unknown device")
	} else if err != nil {
		return fmt.Errorf("check device: %w", err)
	}
	if revoked.Valid {
		return server.Errorf(server.EDEVICEREVOKE, "device %s was revoked", deviceID)
	}
	return nil
}

// Logout implements server.AuthService.
func (s *AuthService) Logout(ctx context.Context) error {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := revokeTokens(ctx, tx, `device_id = ?`, p.DeviceID); err != nil {
		return err
	}
	return tx.Commit()
}

// RevokeDevice implements server.AuthService.
func (s *AuthService) RevokeDevice(ctx context.Context, deviceID string) error {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	if p.Role != server.RoleCountyAdmin && p.Role != server.RoleStationStaff {
		return server.Errorf(server.EFORBIDDEN, "only county admins and station staff revoke devices")
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var ownerPath string
	err = tx.QueryRowContext(ctx, `SELECT a.path FROM devices d JOIN users u ON u.id = d.user_id JOIN areas a ON a.id = u.area_id
		WHERE d.id = ?`, deviceID).Scan(&ownerPath)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !server.Covers(p.AreaPath, ownerPath)) {
		return server.Errorf(server.ENOTFOUND, "device %s not found", deviceID)
	} else if err != nil {
		return fmt.Errorf("find device: %w", err)
	}
	if err := revokeDevice(ctx, tx, deviceID); err != nil {
		return err
	}
	return tx.Commit()
}

// revokeDevice marks the device revoked and revokes its refresh tokens.
func revokeDevice(ctx context.Context, tx *Tx, deviceID string) error {
	res, err := tx.ExecContext(ctx, `UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, ms(tx.now), deviceID)
	if err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return server.Errorf(server.ENOTFOUND, "device %s not found", deviceID)
	}
	return revokeTokens(ctx, tx, `device_id = ?`, deviceID)
}

// Authenticate implements server.AuthService. Besides the signature it
// checks the database, so a revoked phone or a moved worker is cut off at
// once rather than when the token expires.
func (s *AuthService) Authenticate(ctx context.Context, token string) (*server.Principal, error) {
	p, err := s.tokens.Verify(token)
	if err != nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "invalid or expired access token")
	}
	if err := checkDevice(ctx, s.db.read, p.DeviceID); err != nil {
		return nil, err
	}
	u, _, err := findUserBy(ctx, s.db.read, "id", p.UserID)
	if server.ErrorCode(err) == server.ENOTFOUND {
		return nil, server.Errorf(server.EUNAUTHORIZED, "unknown user")
	} else if err != nil {
		return nil, err
	}
	if u.Disabled || u.Role != p.Role || u.AreaPath != p.AreaPath {
		return nil, server.Errorf(server.EUNAUTHORIZED, "access token is stale (account changed): refresh it")
	}
	return p, nil
}

// validDeviceID: 8–64 characters of [A-Za-z0-9._-], as the sync protocol.
func validDeviceID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
