package server

import (
	"context"
	"sync"
	"time"
)

// Login is what a device sends to log in.
type Login struct {
	Username   string
	Password   string
	DeviceID   string
	RemoteAddr string // for per-address rate limiting; never logged with the password
}

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the client's IP address as the HTTP
// layer determined it: the TCP peer, or the address a configured trusted
// proxy forwarded (echo's IPExtractor). The dashboard, a plain
// http.Handler, reads it from here; the API's handlers get the same
// address from echo, so both rate-limit logins by it.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddrFrom returns the address put in ctx by WithClientAddr, or "".
func ClientAddrFrom(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

// Session is what a successful login or refresh returns.
type Session struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"` // access token lifetime, seconds
	User         *User  `json:"user"`
}

// AuthService logs users in and out and turns tokens into principals.
type AuthService interface {
	// Login checks the password and registers the device. Wrong credentials:
	// EUNAUTHORIZED; too many failures: ERATELIMITED; a device id owned by
	// another user or revoked: ECONFLICT / EDEVICEREVOKE.
	Login(ctx context.Context, l Login) (*Session, error)
	// Refresh rotates a refresh token. Unknown or expired: EUNAUTHORIZED;
	// a token already rotated: ETOKENREUSED, and the device's whole token
	// family is revoked, except for the same device retrying shortly after
	// a rotation whose reply it lost (its successor still unused), which
	// gets a new successor.
	Refresh(ctx context.Context, refreshToken, deviceID string) (*Session, error)
	// Logout revokes every refresh token of the caller's device.
	Logout(ctx context.Context) error
	// RevokeDevice is the lost-phone switch: the device's tokens stop working
	// at once. Only a county admin or station staff covering the device's user.
	RevokeDevice(ctx context.Context, deviceID string) error
	// Authenticate verifies an access token and checks that the device is not
	// revoked and the user's role and area are still those in the token.
	Authenticate(ctx context.Context, accessToken string) (*Principal, error)
}

// FailureLimiter counts failures per key (an account, an address) in a
// fixed window and blocks a key that reached Max until its window ends. It
// is in memory: a restart forgets, which only ever loosens the limit.
type FailureLimiter struct {
	Max    int
	Window time.Duration
	Now    func() time.Time

	mu   sync.Mutex
	hits map[string]*failures
}

type failures struct {
	n     int
	start time.Time
}

// NewFailureLimiter returns a limiter allowing max failures per window.
func NewFailureLimiter(max int, window time.Duration) *FailureLimiter {
	return &FailureLimiter{Max: max, Window: window, Now: time.Now, hits: map[string]*failures{}}
}

// Blocked reports whether key is blocked and for how long.
func (l *FailureLimiter) Blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.hits[key]
	if !ok {
		return false, 0
	}
	left := f.start.Add(l.Window).Sub(l.Now())
	if left <= 0 {
		delete(l.hits, key)
		return false, 0
	}
	return f.n >= l.Max, left
}

// Fail records a failure for key.
func (l *FailureLimiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	f, ok := l.hits[key]
	if !ok || now.Sub(f.start) >= l.Window {
		f = &failures{start: now}
		l.hits[key] = f
	}
	f.n++
	if len(l.hits) > 100_000 { // bound memory under a spray of addresses
		for k, v := range l.hits {
			if now.Sub(v.start) >= l.Window {
				delete(l.hits, k)
			}
		}
	}
}

// Reset forgets key's failures (after a successful login).
func (l *FailureLimiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.hits, key)
}
