package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
)

// Cookies. The session cookie holds only a random id; the session lives on
// the server (server.WebSessions, a SQLite table). The device cookie names
// this browser as a device of the sync protocol ("web-" + random), so the
// dashboard's operations carry their own device id and counter.
const (
	sessionCookieName = "gs_session"
	deviceCookieName  = "gs_device"
	loginCSRFCookie   = "gs_login_csrf"
	csrfField         = "csrf"
	deviceCookieTTL   = 365 * 24 * time.Hour
)

func sessionCookie(r *http.Request) string {
	c, err := r.Cookie(sessionCookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, ttl time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil}
	if ttl < 0 {
		c.MaxAge = -1
	} else if ttl > 0 {
		c.Expires = h.now().Add(ttl)
		c.MaxAge = int(ttl.Seconds())
	}
	http.SetCookie(w, c)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tokenEqual compares a submitted token with the expected one in constant
// time; an empty expected token never matches.
func tokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func urlEscape(s string) string { return url.QueryEscape(s) }

// safeNext keeps a post-login redirect on this site: a local absolute
// path, not "//host" or "/\host".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

type loginData struct {
	Username, Next, Error, CSRF string
}

// loginPage: GET /login. The login form is protected by a double-submit
// token (there is no session yet): a random value in a cookie and in the
// form must match.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := h.svc.Sessions.WebSession(r.Context(), sessionCookie(r)); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.renderLogin(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	d.CSRF = randomHex(16)
	h.setCookie(w, r, loginCSRFCookie, d.CSRF, "/login", time.Hour)
	h.render(w, r, nil, status, "login", "登录", d)
}

// login: POST /login. It logs in through AuthService.Login like a phone
// does, with this browser's device id, then opens a server-side session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBody)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, nil, server.Errorf(server.EINVALID, "表单无法解析"))
		return
	}
	d := loginData{Username: strings.TrimSpace(r.PostFormValue("username")), Next: safeNext(r.PostFormValue("next"))}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !tokenEqual(r.PostFormValue(csrfField), c.Value) {
		d.Error = "登录表单已过期，请重新输入。"
		h.renderLogin(w, r, http.StatusForbidden, d)
		return
	}
	device := ""
	if c, err := r.Cookie(deviceCookieName); err == nil && strings.HasPrefix(c.Value, "web-") && len(c.Value) <= 64 {
		device = c.Value
	}
	if device == "" {
		device = "web-" + randomHex(12)
	}
	login := server.Login{Username: d.Username, Password: r.PostFormValue("password"), DeviceID: device, RemoteAddr: clientAddr(r)}
	sess, err := h.svc.Auth.Login(r.Context(), login)
	if code := server.ErrorCode(err); code == server.ECONFLICT || code == server.EDEVICEREVOKE {
		// The browser's device belongs to another user (a shared station
		// computer) or was revoked: this login gets a device of its own.
		login.DeviceID = "web-" + randomHex(12)
		sess, err = h.svc.Auth.Login(r.Context(), login)
	}
	if err != nil {
		switch server.ErrorCode(err) {
		case server.EUNAUTHORIZED:
			d.Error = "用户名或密码错误。"
		case server.ERATELIMITED:
			d.Error = "登录失败次数过多，请稍后再试。"
		case server.EINVALID:
			d.Error = "请输入用户名和密码。"
		default:
			h.fail(w, r, nil, err)
			return
		}
		h.renderLogin(w, r, statusOf[server.ErrorCode(err)], d)
		return
	}
	id, err := h.svc.Sessions.CreateWebSession(r.Context(), sess.User.ID, login.DeviceID, h.ttl)
	if err != nil {
		h.fail(w, r, nil, err)
		return
	}
	h.setCookie(w, r, deviceCookieName, login.DeviceID, "/", deviceCookieTTL)
	h.setCookie(w, r, sessionCookieName, id, "/", 0)
	h.setCookie(w, r, loginCSRFCookie, "", "/login", -1)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

// logout: POST /logout. It ends the session and revokes the device's
// refresh tokens (AuthService.Logout), as a phone's logout does.
func (h *Handler) logout(w http.ResponseWriter, r *request) error {
	if err := h.svc.Auth.Logout(r.Context()); err != nil {
		return err
	}
	if err := h.svc.Sessions.DeleteWebSession(r.Context(), r.sessionID); err != nil {
		return err
	}
	h.setCookie(w, r.Request, sessionCookieName, "", "/", -1)
	http.Redirect(w, r.Request, "/login", http.StatusSeeOther)
	return nil
}

// clientAddr is the address the API's login limit uses too (set by
// server/http, honouring only trusted proxies); the TCP peer when the
// handler runs without it.
func clientAddr(r *http.Request) string {
	if a := server.ClientAddrFrom(r.Context()); a != "" {
		return a
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
