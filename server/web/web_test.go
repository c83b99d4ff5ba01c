package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
)

// browserless is a cookie-keeping HTTP client: the session and CSRF rules
// are checked here without Chromium, so they hold on every machine.
type browserless struct {
	tb   testing.TB
	base string
	c    *http.Client
}

func newBrowserless(tb testing.TB, base string) *browserless {
	jar, _ := cookiejar.New(nil)
	return &browserless{tb: tb, base: base, c: &http.Client{Jar: jar}}
}

func (b *browserless) do(method, path string, form url.Values) (int, string) {
	b.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browserless) login(user string) string {
	b.tb.Helper()
	_, page := b.do("GET", "/login", nil)
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		b.tb.Fatal("login page has no CSRF token")
	}
	status, page := b.do("POST", "/login", url.Values{"csrf": {m[1]}, "username": {user}, "password": {"demo-password"}, "next": {"/"}})
	if status != http.StatusOK || !strings.Contains(page, "总览") {
		b.tb.Fatalf("login %s: status %d", user, status)
	}
	if m = csrfInput.FindStringSubmatch(page); m == nil {
		b.tb.Fatal("overview has no CSRF token")
	}
	return m[1]
}

func TestSessionAndCSRF(t *testing.T) {
	srv := apptest.Start(t)
	w111 := loginDevice(t, srv.URL(), "worker-1-1-1", "phone-worker-1-1-1")
	w111.push(newHazard("hz-1", siteID(3), "燃气软管老化", "general"))

	t.Run("ErrNotLoggedIn", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		if status, _ := b.do("GET", "/hazards", nil); status != http.StatusSeeOther {
			t.Fatalf("got %d, want a redirect to the login page", status)
		}
		if status, _ := b.do("GET", "/live/hazards", nil); status != http.StatusUnauthorized {
			t.Fatalf("live endpoint: got %d, want 401", status)
		}
	})
	t.Run("ErrLoginWithoutToken", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		status, _ := b.do("POST", "/login", url.Values{"username": {"station-1"}, "password": {"demo-password"}})
		if status != http.StatusForbidden {
			t.Fatalf("got %d, want 403", status)
		}
	})
	t.Run("CSRF", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		token := b.login("station-1")
		form := url.Values{"assignee": {"worker-1-1-1"}, "deadline": {"2030-06-30"}}
		if status, page := b.do("POST", "/hazards/hz-1/dispatch", form); status != http.StatusForbidden || !strings.Contains(page, "CSRF") {
			t.Fatalf("no token: got %d, want 403", status)
		}
		form.Set("csrf", token+"x")
		if status, _ := b.do("POST", "/hazards/hz-1/dispatch", form); status != http.StatusForbidden {
			t.Fatalf("wrong token: got %d, want 403", status)
		}
		form.Set("csrf", token)
		status, page := b.do("POST", "/hazards/hz-1/dispatch", form)
		if status != http.StatusOK || !strings.Contains(page, "派单：已接受") || !strings.Contains(page, "2030-06-30") {
			t.Fatalf("with token: got %d\n%s", status, page)
		}
	})
	t.Run("Logout", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		token := b.login("station-1")
		if status, _ := b.do("POST", "/logout", url.Values{}); status != http.StatusForbidden {
			t.Fatalf("logout without token: got %d, want 403", status)
		}
		if status, page := b.do("POST", "/logout", url.Values{"csrf": {token}}); status != http.StatusOK || !strings.Contains(page, "login-submit") {
			t.Fatalf("logout: got %d", status)
		}
		if status, _ := b.do("GET", "/live/hazards", nil); status != http.StatusUnauthorized {
			t.Fatalf("after logout: got %d, want 401", status)
		}
	})
	t.Run("APIStaysJSON", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		status, body := b.do("GET", "/v1/no-such-route", nil)
		if status != http.StatusNotFound || !strings.HasPrefix(body, `{"code":"not_found"`) {
			t.Fatalf("got %d %q", status, body)
		}
	})
}

// TestPagesWithoutBrowser checks, over plain HTTP with the session cookie,
// what needs no JavaScript: live paging and filtering, the inspection
// ledger's dates, role checks and refused input.
func TestPagesWithoutBrowser(t *testing.T) {
	srv := apptest.Start(t)
	base := srv.URL()
	w111 := loginDevice(t, base, "worker-1-1-1", "phone-worker-1-1-1")
	now := time.Now()
	var hazards []op
	for i := range 120 {
		sev := "general"
		if i%2 == 1 {
			sev = "major"
		}
		hazards = append(hazards, newHazard(fmt.Sprintf("hz-%03d", i), siteID(1+i%6), fmt.Sprintf("隐患 %d", i), sev))
	}
	w111.push(hazards...)
	// Checks done offline 40 days ago, synced now: one by a current app
	// (finished_at), one by an old one (checked_at).
	old, recent := now.AddDate(0, 0, -40), now.AddDate(0, 0, -3)
	w111.push(op{Collection: "inspections", Doc: "insp-finished", Set: map[string]any{"site": siteID(1), "result": "pass",
		"started_at": old.Add(-time.Hour).UnixMilli(), "finished_at": old.UnixMilli()}},
		op{Collection: "inspections", Doc: "insp-legacy", Set: map[string]any{"site": siteID(2), "result": "pass", "checked_at": old.UnixMilli()}},
		op{Collection: "inspections", Doc: "insp-3days", Set: map[string]any{"site": siteID(3), "result": "pass",
			"started_at": recent.Add(-time.Hour).UnixMilli(), "finished_at": recent.UnixMilli()}})

	station := newBrowserless(t, base)
	token := station.login("station-1")

	t.Run("LivePagesForward", func(t *testing.T) {
		type live struct {
			After   int64 `json:"after"`
			More    bool  `json:"more"`
			Hazards []struct {
				ID    string `json:"id"`
				Major bool   `json:"major"`
			} `json:"hazards"`
		}
		read := func(query string) []string {
			var ids []string
			var after int64
			for range 5 {
				status, body := station.do("GET", fmt.Sprintf("/live/hazards?after=%d&%s", after, query), nil)
				var l live
				if status != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil {
					t.Fatalf("live: %d %s", status, body)
				}
				for _, h := range l.Hazards {
					if query != "" && !h.Major {
						t.Fatalf("filter %q let %s through", query, h.ID)
					}
					ids = append(ids, h.ID)
				}
				if l.After <= after && l.More {
					t.Fatalf("after did not advance: %d", l.After)
				}
				after = l.After
				if !l.More {
					return ids
				}
			}
			t.Fatal("live never finished paging")
			return nil
		}
		all := read("")
		if len(all) != 120 || all[0] != "hz-000" || all[119] != "hz-119" {
			t.Fatalf("paged %d hazards (%v…), want all 120 oldest first", len(all), all[:min(3, len(all))])
		}
		if majors := read("severity=major&status=all"); len(majors) != 60 {
			t.Fatalf("filtered live rows: %d, want the 60 major ones", len(majors))
		}
	})

	t.Run("InspectionLedgerByCheckTime", func(t *testing.T) {
		month := time.Date(old.In(cstZone).Year(), old.In(cstZone).Month(), 1, 0, 0, 0, 0, cstZone)
		q := "/ledgers?kind=inspections&from=" + month.Format("2006-01-02") + "&to=" + month.AddDate(0, 1, -1).Format("2006-01-02")
		status, page := station.do("GET", q, nil)
		if status != http.StatusOK || !strings.Contains(page, "insp-finished") || !strings.Contains(page, "insp-legacy") {
			t.Fatalf("the ledger of %s lacks the checks done then (status %d)", month.Format("2006-01"), status)
		}
		if !strings.Contains(page, old.In(cstZone).Format("2006-01-02 15:04")) {
			t.Fatal("the ledger does not show the check's own time")
		}
		_, page = station.do("GET", "/ledgers?kind=inspections", nil)
		if strings.Contains(page, "insp-finished") || strings.Contains(page, "insp-legacy") {
			t.Fatal("this month's ledger holds checks done 40 days ago (dated by arrival)")
		}
		day := func(t time.Time) string { return t.In(cstZone).Format("2006-01-02") }
		_, page = station.do("GET", "/ledgers?kind=inspections&from="+day(recent)+"&to="+day(recent), nil)
		if !strings.Contains(page, "insp-3days") {
			t.Fatal("the ledger of the day of a check done offline 3 days ago lacks it")
		}
		_, page = station.do("GET", "/ledgers?kind=inspections&from="+day(now)+"&to="+day(now), nil)
		if strings.Contains(page, "insp-3days") {
			t.Fatal("today's ledger holds a check done 3 days ago (dated by arrival)")
		}
	})

	t.Run("ErrInvalidWarning", func(t *testing.T) {
		for _, tc := range []struct {
			form url.Values
			want string
		}{
			{url.Values{"target": {"330399102201"}, "level": {"immediate"}, "title": {"x"}}, "请选择预警对象"},
			{url.Values{"target": {"330399101201"}, "level": {"weekly"}, "title": {"x"}}, "请选择预警级别"},
			{url.Values{"target": {"330399101201"}, "level": {"immediate"}, "title": {strings.Repeat("风", 201)}}, "不超过 200 字"},
			{url.Values{"target": {"330399101201"}, "level": {"immediate"}, "title": {" "}}, "请填写预警标题"},
		} {
			tc.form.Set("csrf", token)
			status, page := station.do("POST", "/warnings", tc.form)
			if status != http.StatusOK || !strings.Contains(page, tc.want) || !strings.Contains(page, "暂无预警提示") {
				t.Errorf("%v: status %d, want the error %q and no warning", tc.form, status, tc.want)
			}
		}
	})

	t.Run("ErrDeadlineInPast", func(t *testing.T) {
		form := url.Values{"csrf": {token}, "assignee": {"worker-1-1-1"}, "deadline": {now.AddDate(0, 0, -1).In(cstZone).Format("2006-01-02")}}
		_, page := station.do("POST", "/hazards/hz-000/dispatch", form)
		if !strings.Contains(page, "整改期限不能早于今天") || !strings.Contains(page, `id="hazard-status">已上报`) {
			t.Fatal("a dispatch with a past deadline was not refused")
		}
	})

	t.Run("ErrWorkerCannotManage", func(t *testing.T) {
		worker := newBrowserless(t, base)
		wtoken := worker.login("worker-1-1-1")
		for _, tc := range []struct {
			method, path string
			form         url.Values
		}{
			{"POST", "/warnings", url.Values{"csrf": {wtoken}, "target": {"330399101201G01"}, "level": {"immediate"}, "title": {"x"}}},
			{"POST", "/conflicts/1/resolve", url.Values{"csrf": {wtoken}, "choice": {"loser"}}},
			{"GET", "/ledgers", nil},
		} {
			if status, _ := worker.do(tc.method, tc.path, tc.form); status != http.StatusForbidden {
				t.Errorf("worker %s %s: got %d, want 403", tc.method, tc.path, status)
			}
		}
		for _, path := range []string{"/", "/hazards", "/hazards/hz-000", "/sites", "/coverage", "/warnings", "/conflicts", "/devices"} {
			if status, page := worker.do("GET", path, nil); status != http.StatusOK || strings.Contains(page, "服务器内部错误") {
				t.Errorf("worker GET %s: %d", path, status)
			}
		}
		if _, page := worker.do("GET", "/conflicts", nil); strings.Contains(page, "/resolve") {
			t.Error("a grid worker is offered conflict buttons")
		}
	})
}

// TestPhotoNeedsItsUploader: the dashboard serves a photo by the photo
// service's rule, not by a reference alone. A worker who learns the hash of
// a photo uploaded in township 2 and references it from a hazard of their
// own grid does not get its bytes through township 1's dashboard; the
// photo of township 2 is still served to its own station.
func TestPhotoNeedsItsUploader(t *testing.T) {
	srv := apptest.Start(t)
	base := srv.URL()
	far := loginDevice(t, base, "worker-2-1-1", "phone-worker-2-1-1")
	sha := putPhoto(t, far, testPhoto(7, "township 2"))
	far.push(newHazard("hz-far", siteID(0x1f), "望江花园楼道堆物", "general", sha))
	near := loginDevice(t, base, "worker-1-1-1", "phone-worker-1-1-1")
	near.push(newHazard("hz-borrowed", siteID(1), "借用的照片", "general", sha))

	station1, station2 := newBrowserless(t, base), newBrowserless(t, base)
	station1.login("station-1")
	station2.login("station-2")
	for _, path := range []string{"/photos/" + sha, "/photos/" + sha + "/thumb"} {
		if status, _ := station1.do("GET", path, nil); status != http.StatusNotFound {
			t.Errorf("station-1 GET %s: %d, want 404", path, status)
		}
		if status, body := station2.do("GET", path, nil); status != http.StatusOK || len(body) == 0 {
			t.Errorf("station-2 GET %s: %d, %d bytes", path, status, len(body))
		}
	}
}

// The dispatch form suggests the deadline the server gives a hazard
// dispatched without one: the county policy's for its severity, also after
// the county admin changes it.
func TestDeadlineFormFollowsPolicy(t *testing.T) {
	srv := apptest.Start(t)
	base := srv.URL()
	w111 := loginDevice(t, base, "worker-1-1-1", "phone-w111-policy")
	w111.push(newHazard("hz-general", siteID(1), "灭火器过期", "general"), newHazard("hz-major", siteID(2), "电动车室内充电", "major"))
	station := newBrowserless(t, base)
	station.login("station-1")
	suggested := regexp.MustCompile(`id="deadline" value="([0-9-]+)"`)
	cst := time.FixedZone("CST", 8*3600)
	want := func(days int) string { return time.Now().In(cst).AddDate(0, 0, days).Format("2006-01-02") }
	check := func(id string, days int) {
		t.Helper()
		status, page := station.do("GET", "/hazards/"+id, nil)
		m := suggested.FindStringSubmatch(page)
		if status != http.StatusOK || m == nil {
			t.Fatalf("%s: status %d, no deadline input", id, status)
		}
		if m[1] != want(days) {
			t.Fatalf("%s: the form suggests %s, want %s (%d days)", id, m[1], want(days), days)
		}
	}
	check("hz-general", 7) // the demo county's policy
	check("hz-major", 3)

	county := loginDevice(t, base, "county", "phone-county-policy")
	var info map[string]any
	county.call("PUT", "/v1/policy", map[string]any{"hazard_deadline_days": map[string]int{"general": 10, "major": 2}}, &info)
	check("hz-general", 10)
	check("hz-major", 2)
}
