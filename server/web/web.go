// Package web is the station dashboard: the pages township station staff
// (乡镇(街道)应急消防管理站) and the county use at a desk, served by the same
// server as the sync API. Pages are rendered on the server with
// html/template; templates, CSS and a little vanilla JavaScript are
// embedded with go:embed, so there is no front-end build.
//
// The dashboard is a client of the domain services like a phone is: it
// reads through server.SyncService, server.DashboardService,
// server.DomainService (due sites, coverage, overdue hazards, warning
// receipts, incident delays) and server.PhotoService (photo presence and
// capture flags), scoped to the logged-in user's area, and every action
// (dispatch, verify, close, resolve a conflict, set a risk level, issue a
// warning, import sites) is an operation
// pushed through SyncService.Push from the browser's own device, so it is
// authorized per operation, enters the audit chain and reaches the
// workers' phones on their next pull.
//
// Handler is a plain net/http handler; server/http mounts it at "/".
package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults and limits of the dashboard.
const (
	// DefaultSessionTTL is a working day: a session ends at its expiry
	// whatever the activity, so a browser left open overnight at the
	// station is logged out by morning.
	DefaultSessionTTL = 12 * time.Hour
	// MaxFormBody bounds an ordinary form post.
	MaxFormBody = 64 << 10
	// MaxUploadBody bounds a site import upload.
	MaxUploadBody = 5 << 20
	// PageSize is the number of hazards on one page of the queue.
	PageSize = 50
)

// Services are what the dashboard calls.
type Services struct {
	Auth      server.AuthService
	Areas     server.AreaService
	Sync      server.SyncService
	Dashboard server.DashboardService
	// Domain derives due sites, coverage, overdue hazards, warning
	// receipts and incident delays: the dashboard shows the same numbers
	// as the /v1 views.
	Domain server.DomainService
	// Photos knows which photos arrived and their capture flags.
	Photos   server.PhotoService
	Sessions server.WebSessions
	// Schema is the collection declarations the server enforces; the
	// dashboard reads it to know which actions a role may take and the
	// length limits of the fields its forms write.
	Schema *syncproto.Schema
}

// Options tune the dashboard.
type Options struct {
	Log        *slog.Logger
	SessionTTL time.Duration    // default DefaultSessionTTL
	Now        func() time.Time // default time.Now
	// PollInterval is how often open pages ask for newly synced hazards.
	PollInterval time.Duration
}

// Handler serves the dashboard.
type Handler struct {
	svc     Services
	log     *slog.Logger
	ttl     time.Duration
	now     func() time.Time
	poll    time.Duration
	mux     *http.ServeMux
	pages   map[string]*template.Template
	writer  *opWriter
	flashes *flashes
	imports *pendingImports
}

// New builds the dashboard handler.
func New(svc Services, opts Options) (*Handler, error) {
	if svc.Auth == nil || svc.Areas == nil || svc.Sync == nil || svc.Dashboard == nil || svc.Domain == nil || svc.Photos == nil ||
		svc.Sessions == nil || svc.Schema == nil {
		return nil, errors.New("web: missing service")
	}
	if err := checkSchema(svc.Schema); err != nil {
		return nil, err
	}
	h := &Handler{svc: svc, log: opts.Log, ttl: opts.SessionTTL, now: opts.Now, poll: opts.PollInterval,
		mux: http.NewServeMux(), flashes: newFlashes(), imports: newPendingImports()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.ttl <= 0 {
		h.ttl = DefaultSessionTTL
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.poll <= 0 {
		h.poll = 5 * time.Second
	}
	h.writer = newOpWriter(svc.Sync, svc.Dashboard, h.now)
	var err error
	if h.pages, err = parsePages(); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	h.mux.Handle("GET /static/", cacheFor(24*time.Hour, files))
	h.mux.HandleFunc("GET /login", h.loginPage)
	h.mux.HandleFunc("POST /login", h.login)

	// Everything else needs a session; POSTs also need its CSRF token.
	h.page("POST /logout", h.logout)
	h.page("GET /{$}", h.overview)
	h.page("GET /hazards", h.hazardQueue)
	h.page("GET /hazards/{id}", h.hazardDetail)
	h.page("POST /hazards/{id}/{action}", h.hazardAction)
	h.page("GET /live/hazards", h.liveHazards)
	h.page("GET /conflicts", h.conflictInbox)
	h.page("POST /conflicts/{id}/resolve", h.resolveConflict)
	h.page("GET /sites", h.sites)
	h.page("POST /sites/{id}/risk", h.setRisk)
	h.page("GET /devices", h.devices)
	h.page("POST /devices/{id}/revoke", h.revokeDevice)
	h.page("GET /warnings", h.warnings)
	h.page("POST /warnings", h.issueWarning)
	h.page("GET /coverage", h.coveragePage)
	h.page("GET /ledgers", h.ledgers)
	h.page("GET /ledgers/{kind}/export", h.exportLedger)
	h.page("GET /import/sites", h.importPage)
	h.page("POST /import/sites", h.importUpload)
	h.page("POST /import/sites/confirm", h.importConfirm)
	h.page("GET /photos/{sha}", h.photo)
	h.page("GET /photos/{sha}/thumb", h.photo)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
		"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		next.ServeHTTP(w, r)
	})
}

// request is what a page handler gets: the session and its principal in
// the context.
type request struct {
	*http.Request
	sess      *server.WebSession
	sessionID string
}

func (r *request) p() *server.Principal { return r.sess.Principal }

// page registers a handler behind the session (and, for POST, CSRF) check.
func (h *Handler) page(pattern string, fn func(http.ResponseWriter, *request) error) {
	post := strings.HasPrefix(pattern, "POST ")
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sid := sessionCookie(r)
		sess, err := h.svc.Sessions.WebSession(r.Context(), sid)
		if err != nil {
			if server.ErrorCode(err) != server.EUNAUTHORIZED {
				h.fail(w, r, nil, err)
				return
			}
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/live/") && !strings.HasPrefix(r.URL.Path, "/photos/") {
				http.Redirect(w, r, "/login?next="+urlEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.fail(w, r, nil, err)
			return
		}
		req := &request{Request: r.WithContext(server.WithPrincipal(r.Context(), sess.Principal)), sess: sess, sessionID: sid}
		if post {
			limit := int64(MaxFormBody)
			if strings.HasPrefix(r.URL.Path, "/import/") {
				limit = MaxUploadBody
			}
			req.Body = http.MaxBytesReader(w, req.Body, limit)
			if err := parseForm(req.Request); err != nil {
				h.fail(w, r, sess, err)
				return
			}
			if !tokenEqual(req.PostFormValue(csrfField), sess.CSRF) {
				h.fail(w, r, sess, errCSRF)
				return
			}
		}
		if err := fn(w, req); err != nil {
			h.fail(w, req.Request, sess, err)
		}
	})
}

func parseForm(r *http.Request) error {
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(MaxUploadBody)
	} else {
		err = r.ParseForm()
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return server.Errorf(server.ETOOLARGE, "提交的内容超过 %d KB", mbe.Limit>>10)
	} else if err != nil {
		return server.Errorf(server.EINVALID, "表单无法解析")
	}
	return nil
}

var errCSRF = server.Errorf(server.EFORBIDDEN, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试")

// statusOf maps error codes to HTTP statuses for pages, like server/http
// does for the API.
var statusOf = map[string]int{
	server.EINVALID:      http.StatusBadRequest,
	server.EUNAUTHORIZED: http.StatusUnauthorized,
	server.EDEVICEREVOKE: http.StatusUnauthorized,
	server.ETOKENREUSED:  http.StatusUnauthorized,
	server.EFORBIDDEN:    http.StatusForbidden,
	server.ENOTFOUND:     http.StatusNotFound,
	server.ECONFLICT:     http.StatusConflict,
	server.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	server.ERATELIMITED:  http.StatusTooManyRequests,
	server.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

var titleOf = map[string]string{
	server.EINVALID:      "输入有误",
	server.EUNAUTHORIZED: "请先登录",
	server.EDEVICEREVOKE: "此浏览器已被停用，请重新登录",
	server.EFORBIDDEN:    "无权操作",
	server.ENOTFOUND:     "未找到",
	server.ECONFLICT:     "操作冲突",
	server.ETOOLARGE:     "内容过大",
	server.ERATELIMITED:  "操作过于频繁",
	server.EUNAVAILABLE:  "服务暂不可用",
}

// fail renders an error page (or JSON for the live endpoint). Internal
// errors are logged and shown without detail.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, sess *server.WebSession, err error) {
	code := server.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	msg := server.ErrorMessage(err)
	switch code {
	case server.ENOTFOUND:
		// The same words whether the record is missing or outside the
		// caller's area: ids outside it reveal nothing.
		msg = "没有找到该记录，或它不在您的管辖范围内。"
	case server.EUNAUTHORIZED:
		msg = "登录已失效，请重新登录。"
	}
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "dashboard request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Any("err", err))
		msg = "服务器内部错误，请稍后重试；如反复出现请联系管理员。"
	}
	if strings.HasPrefix(r.URL.Path, "/live/") || strings.HasPrefix(r.URL.Path, "/photos/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"code":%q}`, code)
		return
	}
	title := titleOf[code]
	if title == "" {
		title = "出错了"
	}
	h.render(w, r, sess, status, "error", title, map[string]any{"Title": title, "Message": msg, "Code": code})
}

// pageData is what every template gets.
type pageData struct {
	Title   string
	Nav     string
	User    *server.WebSession
	Role    string
	Area    string
	CSRF    string
	Flash   *flash
	Manage  bool // station staff or county: may act, export, import
	Data    any
	PollMS  int64
	Version string
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, sess *server.WebSession, status int, page, title string, data any) {
	t, ok := h.pages[page]
	if !ok {
		http.Error(w, "no template "+page, http.StatusInternalServerError)
		return
	}
	pd := pageData{Title: title, Nav: page, User: sess, Data: data, PollMS: h.poll.Milliseconds()}
	if sess != nil {
		p := sess.Principal
		pd.Role, pd.CSRF, pd.Manage = roleLabel(p.Role), sess.CSRF, canManage(p.Role)
		if a, err := h.svc.Areas.Area(r.Context(), p.AreaID); err == nil {
			pd.Area = a.Name
		}
		pd.Flash = h.flashes.take(sessionCookie(r))
	}
	// Rendered in full before the first byte goes out, so a template
	// error is a clean 500 rather than half a page with status 200.
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", pd); err != nil {
		h.log.Error("render", slog.String("page", page), slog.Any("err", err))
		http.Error(w, "服务器内部错误，请稍后重试。", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// canManage: the roles that supervise (act on hazards, export, import).
func canManage(r server.Role) bool {
	return r == server.RoleStationStaff || r == server.RoleCountyAdmin
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// flash is a one-time message shown on the next page (after a redirect).
type flash struct {
	Kind string // "ok" or "error"
	Text string
}

// flashes keeps messages in memory by session: losing one in a restart
// only loses a notice, never data (verdicts are also in the timeline).
type flashes struct {
	mu sync.Mutex
	m  map[string]*flash
}

func newFlashes() *flashes { return &flashes{m: map[string]*flash{}} }

func (f *flashes) set(sid string, fl *flash) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.m) > 10_000 { // bound memory; stale notices are worthless
		clear(f.m)
	}
	f.m[sid] = fl
}

func (f *flashes) take(sid string) *flash {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl := f.m[sid]
	delete(f.m, sid)
	return fl
}

func (h *Handler) redirect(w http.ResponseWriter, r *request, to string, fl *flash) {
	if fl != nil {
		h.flashes.set(r.sessionID, fl)
	}
	http.Redirect(w, r.Request, to, http.StatusSeeOther)
}
