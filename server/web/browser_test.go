package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// screenshotDir is where the test run leaves pictures of the main pages,
// which docs/DASHBOARD.md shows.
const screenshotDir = "../../docs/screenshots"

// chromiumPath finds Debian's chromium (scripts/install-chromium.sh). A
// missing browser fails the test under CI and skips it elsewhere.
func chromiumPath(t *testing.T) string {
	p := os.Getenv("GRIDSYNC_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not found at %s (CI requires it): run scripts/install-chromium.sh", p)
		}
		t.Skipf("chromium not found at %s: run scripts/install-chromium.sh (or make tools) to run the dashboard browser tests", p)
	}
	return p
}

// browser starts one headless Chromium for the whole test, with a fresh
// profile, and returns the context of its first tab.
func browser(t *testing.T, path string) context.Context {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1366, 768),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// step runs browser actions with a deadline, failing the test on error.
func step(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%v%s", err, pageState(ctx))
	}
}

// pageState describes where the browser is, for failure messages.
func pageState(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ""`))
	return fmt.Sprintf("\n  at %s\n  page: %s", loc, body)
}

// submit clicks a submit button and waits for the page it leads to.
func submit(t *testing.T, ctx context.Context, css string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css))); err != nil {
		t.Fatalf("submit %s: %v%s", css, err, pageState(ctx))
	}
}

func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	return get(t, ctx, chromedp.Text(chromedp.CSS(css)))
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := get(t, ctx, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// putPhoto uploads a photo as a phone does (tus POST, then PATCH), so the
// server records its arrival.
func putPhoto(t *testing.T, d *testDevice, b []byte) string {
	t.Helper()
	sum := sha256.Sum256(b)
	sha := hex.EncodeToString(sum[:])
	tus := func(method, path string, body []byte, headers ...string) *http.Response {
		req, _ := http.NewRequest(method, d.url+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+d.token)
		req.Header.Set("Tus-Resumable", "1.0.0")
		for i := 0; i < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := tus("POST", "/v1/uploads", nil, "Upload-Length", strconv.Itoa(len(b)), "Upload-Metadata", "sha256 "+base64.StdEncoding.EncodeToString([]byte(sha)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload photo: POST %d", resp.StatusCode)
	}
	if resp := tus("PATCH", strings.TrimPrefix(resp.Header.Get("Location"), d.url), b, "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload photo: PATCH %d", resp.StatusCode)
	}
	return sha
}

func login(t *testing.T, ctx context.Context, base, user string) {
	t.Helper()
	step(t, ctx, chromedp.Navigate(base+"/login"),
		chromedp.SetValue(chromedp.CSS("#username"), user),
		chromedp.SetValue(chromedp.CSS("#password"), "demo-password"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#current-user")))
}

// TestDashboard drives the station dashboard in a real headless Chromium
// against the real server (apptest, demo county): phones sync hazards over
// the API; station-1 finds one, sees its photo, dispatches, verifies and
// closes it, and the phone's next pull sees the closure; conflicts, sites,
// devices, ledgers and the site import are exercised the same way; a grid
// worker's session cannot see township 2; a form without its CSRF token is
// refused. One browser serves every step.
func TestDashboard(t *testing.T) {
	chrome := chromiumPath(t)
	srv := apptest.Start(t)
	base := srv.URL()

	// Phones sync what the grid workers found.
	w111 := loginDevice(t, base, "worker-1-1-1", "phone-worker-1-1-1")
	beforeSHA := putPhoto(t, w111, testPhoto(1, "before"))
	afterSHA := putPhoto(t, w111, testPhoto(3, "after"))
	w112 := loginDevice(t, base, "worker-1-1-2", "phone-worker-1-1-2")
	w121 := loginDevice(t, base, "worker-1-2-1", "phone-worker-1-2-1")
	w131 := loginDevice(t, base, "worker-1-3-1", "phone-worker-1-3-1")
	w211 := loginDevice(t, base, "worker-2-1-1", "phone-worker-2-1-1")
	v11 := loginDevice(t, base, "village-1-1", "phone-village-1-1")
	st1 := loginDevice(t, base, "station-1", "phone-station-1")

	const target, targetTitle = "hz-e2e-target", "一层加工区与二层住宿未防火分隔（三合一）"
	created := w111.push(newHazard(target, siteID(6), targetTitle, "major", beforeSHA))[0]
	w111.push(newHazard("hz-seed-1", siteID(3), "厨房燃气软管老化，未安装燃气泄漏报警装置", "general"))
	w112.push(newHazard("hz-seed-2", siteID(10), "出租房走道停放电动车并飞线充电", "major"))
	w121.push(newHazard("hz-seed-3", siteID(0x12), "幼儿园疏散指示标志损坏", "general"))
	w131.push(newHazard("hz-seed-4", siteID(0x17), "分租“厂中厂”消防车通道被货物占用", "major"),
		newHazard("hz-seed-5", siteID(0x1a), "作坊二层住人，楼梯间堆放可燃物", "major"))
	w211.push(newHazard("hz-town2", siteID(0x20), "商贸城东侧安全出口上锁", "major"))
	day := 24 * time.Hour
	st1.push(
		op{Collection: "hazards", Doc: "hz-seed-2", Set: map[string]any{"assignee": "worker-1-1-2", "deadline": time.Now().Add(-3 * day).UnixMilli()}, Flow: syncproto.StageDispatched},
		op{Collection: "hazards", Doc: "hz-seed-4", Set: map[string]any{"assignee": "worker-1-3-1", "deadline": time.Now().Add(5 * day).UnixMilli()}, Flow: syncproto.StageDispatched},
		op{Collection: "hazards", Doc: "hz-seed-3", Set: map[string]any{"assignee": "worker-1-2-1", "deadline": time.Now().Add(2 * day).UnixMilli()}, Flow: syncproto.StageDispatched})
	w131.push(op{Collection: "hazards", Doc: "hz-seed-4", Flow: syncproto.StageSubmitted})
	st1.push(op{Collection: "hazards", Doc: "hz-seed-3", Flow: syncproto.StageVerified},
		op{Collection: "hazards", Doc: "hz-seed-3", Flow: syncproto.StageClosed})
	// Two people change the target's description offline, neither seeing
	// the other's edit: the later write wins and the other is kept.
	const loserText, winnerText = "加工区与住宿区之间无实体墙分隔，二层住 3 人。", "二层住宿 2 人，已劝离 1 人。"
	w111.push(op{Collection: "hazards", Doc: target, Set: map[string]any{"description": loserText}, Base: map[string]syncproto.Stamp{"description": created}})
	v11.push(op{Collection: "hazards", Doc: target, Set: map[string]any{"description": winnerText}, Base: map[string]syncproto.Stamp{"description": created},
		At: time.Now().Add(time.Second)})
	w111.pullAll()
	// A phone that holds two days of unsynced work, and a refused op (a
	// grid worker may not close a hazard: 排改分离).
	w121.outbox = syncproto.OutboxReport{Pending: 14, OldestPendingMS: time.Now().Add(-50 * time.Hour).UnixMilli(), AppVersion: "1.4.2"}
	if _, v := w121.pushVerdicts(op{Collection: "hazards", Doc: "hz-seed-3", Flow: syncproto.StageClosed, Round: 2}); v[0].Code != syncproto.CodeForbiddenTransition {
		t.Fatalf("worker closing a hazard: %+v", v[0])
	}

	ctx := browser(t, chrome)

	t.Run("LoginRefusesWrongPassword", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#login-submit")))
		screenshot(t, ctx, "login")
		step(t, ctx, chromedp.SetValue(chromedp.CSS("#username"), "station-1"),
			chromedp.SetValue(chromedp.CSS("#password"), "wrong-password"),
			chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitVisible(chromedp.CSS("#login-error")))
		if got := text(t, ctx, "#login-error"); !contains(got, "用户名或密码错误") {
			t.Fatalf("got %q, want a wrong-password message", got)
		}
	})

	t.Run("Login", func(t *testing.T) {
		login(t, ctx, base, "station-1")
		if got := text(t, ctx, "#current-user"); got != "林晓东" {
			t.Fatalf("got user %q, want 林晓东", got)
		}
	})

	t.Run("Overview", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#status-table")))
		table := text(t, ctx, "#status-table")
		for _, want := range []string{"下洋村", "岭头村", "东岙村", "合计"} {
			if !contains(table, want) {
				t.Errorf("status table lacks %s", want)
			}
		}
		if contains(table, "望江社区") {
			t.Error("station-1's overview shows a village of township 2")
		}
		screenshot(t, ctx, "overview")
	})

	t.Run("QueueFindsSyncedHazard", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/hazards"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		queue := text(t, ctx, "#hazard-table")
		if !contains(queue, targetTitle) {
			t.Fatalf("queue lacks the synced hazard:\n%s", queue)
		}
		if contains(queue, "商贸城东侧安全出口上锁") {
			t.Fatal("station-1 sees a hazard of township 2")
		}
		screenshot(t, ctx, "hazards")
		// Filters: the target is a shared-use premises with a major hazard.
		step(t, ctx, chromedp.Navigate(base+"/hazards?kind=shared_use&severity=major"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		if got := text(t, ctx, "#hazard-table"); !contains(got, targetTitle) || contains(got, "出租房走道") {
			t.Fatalf("filtered queue:\n%s", got)
		}
		step(t, ctx, chromedp.Navigate(base+"/hazards?overdue=1"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		if got := text(t, ctx, "#hazard-table"); !contains(got, "出租房走道") || contains(got, targetTitle) {
			t.Fatalf("overdue queue:\n%s", got)
		}
	})

	t.Run("QueueShowsNewHazardsLive", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/hazards"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		w112.push(newHazard("hz-live", siteID(9), "超市仓库灭火器过期", "general"))
		step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`tr[data-id="hz-live"]`)))
		if got := text(t, ctx, "#live-banner"); !contains(got, "新同步 1 条") {
			t.Fatalf("live banner %q", got)
		}
	})

	t.Run("DetailShowsPhoto", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/hazards"), chromedp.Click(chromedp.CSS(`tr[data-id="`+target+`"] a.hazard-link`)),
			chromedp.WaitVisible(chromedp.CSS("#hazard-title")), chromedp.WaitVisible(chromedp.CSS("#photos img")))
		w := get(t, ctx, chromedp.Poll[int](`(() => { const i = document.querySelector("#photos img"); return i.complete && i.naturalWidth })()`,
			chromedp.WithPollingTimeout(10*time.Second)))
		if w != 320 {
			t.Fatalf("thumbnail naturalWidth %d, want 320 (the photo)", w)
		}
		step(t, ctx, chromedp.Click(chromedp.CSS("#photos a")), chromedp.WaitVisible(chromedp.CSS("#lightbox img")),
			chromedp.Click(chromedp.CSS("#lightbox")), chromedp.WaitNotVisible(chromedp.CSS("#lightbox")))
		if got := text(t, ctx, "#timeline"); !contains(got, "金丽萍") || !contains(got, "上报") {
			t.Fatalf("timeline:\n%s", got)
		}
	})

	t.Run("Dispatch", func(t *testing.T) {
		deadline := time.Now().Add(3 * day).Format("2006-01-02")
		step(t, ctx, chromedp.SetValue(chromedp.CSS("#assignee"), "worker-1-1-1"), chromedp.SetValue(chromedp.CSS("#deadline"), deadline))
		submit(t, ctx, "#do-dispatch")
		if got := text(t, ctx, "#flash"); !contains(got, "派单：已接受") {
			t.Fatalf("flash %q", got)
		}
		if got := text(t, ctx, "#hazard-status"); got != "已派单" {
			t.Fatalf("status %q, want 已派单", got)
		}
		if got := text(t, ctx, "#hazard-deadline"); got != deadline {
			t.Fatalf("deadline %q, want %s", got, deadline)
		}
	})

	t.Run("PhoneSubmitsRectification", func(t *testing.T) {
		var seen bool
		for _, c := range w111.pullAll() {
			if c.Op.Doc == target && c.Op.Flow["status"].To == syncproto.StageDispatched {
				seen = true
			}
		}
		if !seen {
			t.Fatal("the worker's pull does not show the dispatch")
		}
		w111.push(op{Collection: "hazards", Doc: target, Add: []string{afterSHA}, Flow: syncproto.StageSubmitted})
		step(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#do-verify")))
		photos := text(t, ctx, "#photos")
		if !contains(photos, "发现时") || !contains(photos, "整改后") {
			t.Fatalf("photos %q: want a before and an after photo", photos)
		}
		screenshot(t, ctx, "hazard-detail")
	})

	t.Run("VerifyAndClose", func(t *testing.T) {
		submit(t, ctx, "#do-verify")
		if got := text(t, ctx, "#hazard-status"); got != "已复核" {
			t.Fatalf("status %q (flash %q), want 已复核", got, text(t, ctx, "#flash"))
		}
		submit(t, ctx, "#do-close")
		if got := text(t, ctx, "#hazard-status"); got != "已销号" {
			t.Fatalf("status %q (flash %q), want 已销号", got, text(t, ctx, "#flash"))
		}
	})

	t.Run("PhonePullSeesClosure", func(t *testing.T) {
		var closed *syncproto.Change
		for _, c := range w111.pullAll() {
			if c.Op.Doc == target && c.Op.Flow["status"].To == syncproto.StageClosed {
				closed = &c
			}
		}
		if closed == nil {
			t.Fatal("the worker's pull does not show the closure")
		}
		if closed.User != "station-1" || !strings.HasPrefix(closed.Op.Device, "web-") {
			t.Fatalf("closure by %s on %s, want station-1 on a web- device", closed.User, closed.Op.Device)
		}
	})

	t.Run("FormWithoutCSRFTokenIsRefused", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/hazards/hz-seed-1"), chromedp.WaitVisible(chromedp.CSS("#do-dispatch")))
		for _, body := range []string{"assignee=x&deadline=2030-01-01", "csrf=forged&assignee=x&deadline=2030-01-01"} {
			status := get(t, ctx, chromedp.Evaluate[int](`fetch("/hazards/hz-seed-1/dispatch", {method: "POST",
				headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "`+body+`"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
			if status != 403 {
				t.Fatalf("POST %q: status %d, want 403", body, status)
			}
		}
		// A body over the form limit is refused before it is parsed.
		status := get(t, ctx, chromedp.Evaluate[int](`fetch("/hazards/hz-seed-1/dispatch", {method: "POST",
			headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "note=" + "x".repeat(100000)}).then(r => r.status)`, chromedp.EvalAwaitPromise))
		if status != 413 {
			t.Fatalf("oversized POST: status %d, want 413", status)
		}
		step(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#hazard-status")))
		if got := text(t, ctx, "#hazard-status"); got != "已上报" {
			t.Fatalf("status %q after refused posts, want 已上报", got)
		}
	})

	t.Run("ConflictInbox", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/conflicts"), chromedp.WaitVisible(chromedp.CSS("section.conflict")))
		got := text(t, ctx, "section.conflict")
		if !contains(got, winnerText) || !contains(got, loserText) {
			t.Fatalf("conflict does not show both values:\n%s", got)
		}
		screenshot(t, ctx, "conflicts")
		submit(t, ctx, "section.conflict .loser button")
		if got := text(t, ctx, "#flash"); !contains(got, "已接受") {
			t.Fatalf("flash %q", got)
		}
		if _, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#no-conflicts"))); err != nil {
			t.Fatalf("the inbox still lists the resolved conflict: %v", err)
		}
		step(t, ctx, chromedp.Navigate(base+"/hazards/"+target), chromedp.WaitVisible(chromedp.CSS("#hazard-title")))
		if got := text(t, ctx, "dl.facts"); !contains(got, loserText) {
			t.Fatalf("description after choosing the kept value:\n%s", got)
		}
	})

	t.Run("SiteRiskLevel", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/sites?village=330399101201"), chromedp.WaitVisible(chromedp.CSS("#site-table")),
			chromedp.SetValue(chromedp.CSS(`form[action="/sites/`+siteID(1)+`/risk"] select`), "significant"),
			chromedp.Submit(chromedp.CSS(`form[action="/sites/`+siteID(1)+`/risk"]`)), chromedp.WaitVisible(chromedp.CSS("#flash")))
		if got := text(t, ctx, "#flash"); !contains(got, "较大") || !contains(got, "已接受") {
			t.Fatalf("flash %q", got)
		}
		screenshot(t, ctx, "sites")
	})

	t.Run("Devices", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(chromedp.CSS("#device-table")))
		got := text(t, ctx, "#device-table")
		for _, want := range []string{"worker-1-1-1", "当前浏览器", "village-1-1", "2 天"} {
			if !contains(got, want) {
				t.Errorf("device table lacks %s", want)
			}
		}
		if contains(got, "worker-2-1-1") {
			t.Error("station-1 sees a device of township 2")
		}
		if got := text(t, ctx, "#rejected-table"); !contains(got, "状态流转不允许") {
			t.Errorf("rejected ops:\n%s", got)
		}
		screenshot(t, ctx, "devices")
	})

	t.Run("LedgerExportXLSX", func(t *testing.T) {
		dir := t.TempDir()
		step(t, ctx, chromedp.Navigate(base+"/ledgers?kind=hazards"), chromedp.WaitVisible(chromedp.CSS("#ledger-table")))
		screenshot(t, ctx, "ledgers")
		if _, err := chromedp.CallBrowser(ctx, browserSetDownload, downloadParams(dir)); err != nil {
			t.Fatal(err)
		}
		step(t, ctx, chromedp.Click(chromedp.CSS("#export-xlsx")))
		f := waitForXLSX(t, dir)
		rows, err := f.GetRows(f.GetSheetList()[0])
		if err != nil {
			t.Fatal(err)
		}
		wantHeader := []string{"序号", "上报时间", "村(社区)", "网格", "场所名称", "场所类别", "隐患描述", "隐患等级", "当前状态", "上报人", "照片数", "隐患编号"}
		if !slices.Equal(rows[0], wantHeader) {
			t.Fatalf("header %v, want %v", rows[0], wantHeader)
		}
		var found []string
		for _, r := range rows[1:] {
			if r[len(r)-1] == target {
				found = r
			}
			if r[len(r)-1] == "hz-town2" {
				t.Error("the ledger holds a hazard of township 2")
			}
		}
		if found == nil {
			t.Fatalf("no row for %s in %d rows", target, len(rows)-1)
		}
		if found[6] != targetTitle || found[7] != "重大隐患" || found[8] != "已销号" || found[2] != "下洋村" || found[10] != "2" {
			t.Fatalf("row %v", found)
		}
		if len(rows) != 8 { // header + 7 hazards of township 1
			t.Errorf("got %d rows, want 8", len(rows))
		}
	})

	t.Run("ImportSites", func(t *testing.T) {
		csv := "\ufeff场所名称,场所类别,网格,地址,风险等级,负责人,联系电话\r\n" +
			"小餐饮：下洋早餐店,九小场所,330399101201G01,下洋村前街 8 号,较大,徐阿明,13900000001\r\n" +
			"无名仓库,仓库,330399101201G01,,,,\r\n" +
			"青江某店,九小场所,330399102201G01,,,,\r\n"
		path := filepath.Join(t.TempDir(), "sites.csv")
		if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		step(t, ctx, chromedp.Navigate(base+"/import/sites"), chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{path}))
		submit(t, ctx, "#import-submit")
		if got := text(t, ctx, "#import-summary"); !contains(got, "有效 1 行，错误 2 行") || contains(got, "已导入") {
			t.Fatalf("summary %q", got)
		}
		report := text(t, ctx, "#import-rows")
		if !contains(report, "场所类别“仓库”无效") || !contains(report, "不在您的辖区内") {
			t.Fatalf("report:\n%s", report)
		}
		for _, c := range w111.pullAll() {
			if c.Op.Collection == "sites" && c.Op.Set["name"] != nil {
				t.Fatalf("a site was imported from a file with errors before confirmation: %v", c.Op.Set["name"])
			}
		}
		submit(t, ctx, "#confirm-valid")
		if got := text(t, ctx, "#import-summary"); !contains(got, "已导入 1 行") {
			t.Fatalf("summary %q", got)
		}
		screenshot(t, ctx, "import")
		var names []string
		for _, c := range w111.pullAll() {
			if c.Op.Collection == "sites" && c.Op.Set["name"] != nil {
				names = append(names, string(c.Op.Set["name"]))
			}
		}
		if len(names) != 1 || !contains(names[0], "下洋早餐店") {
			t.Fatalf("the grid's phone pulled sites %v, want the one imported", names)
		}
	})

	t.Run("GridWorkerSeesOnlyOwnGrid", func(t *testing.T) {
		// A browser context of its own: separate cookies, a second user.
		wctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
		defer cancel()
		if err := chromedp.Do(wctx); err != nil { // opens the tab, bound to wctx rather than to a step's deadline
			t.Fatal(err)
		}
		login(t, wctx, base, "worker-1-1-1")
		step(t, wctx, chromedp.Navigate(base+"/hazards?status=all"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		queue := text(t, wctx, "#hazard-table")
		if !contains(queue, targetTitle) || contains(queue, "出租房走道") || contains(queue, "商贸城") {
			t.Fatalf("worker-1-1-1's queue:\n%s", queue)
		}
		resp := get(t, wctx, chromedp.NavigateResponse(base+"/hazards/hz-town2"))
		if resp.Status != 404 {
			t.Fatalf("worker-1-1-1 opening a township-2 hazard: status %d, want 404", resp.Status)
		}
		if got := text(t, wctx, "#error-message"); !contains(got, "没有找到") {
			t.Fatalf("error page %q", got)
		}
		screenshot(t, wctx, "worker-not-found")
		step(t, wctx, chromedp.Navigate(base+"/hazards/"+target), chromedp.WaitVisible(chromedp.CSS("#actions")))
		if got := text(t, wctx, "#actions"); !contains(got, "没有可执行的操作") {
			t.Fatalf("a grid worker is offered station actions:\n%s", got)
		}
	})

	t.Run("Logout", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-submit")))
		resp := get(t, ctx, chromedp.NavigateResponse(base+"/devices"))
		if loc := get(t, ctx, chromedp.Location()); !contains(loc, "/login") {
			t.Fatalf("after logout /devices went to %s (status %d)", loc, resp.Status)
		}
	})
}

// waitForXLSX waits for the browser to finish a download into dir and
// opens it.
func waitForXLSX(t *testing.T, dir string) *excelize.File {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".crdownload") {
				continue
			}
			f, err := excelize.OpenFile(filepath.Join(dir, e.Name()))
			if err == nil {
				t.Cleanup(func() { f.Close() })
				return f
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no .xlsx downloaded into %s", dir)
	return nil
}

var browserSetDownload = cdpbrowser.SetDownloadBehavior

// downloadParams lets the browser save downloads into dir (named by their
// download id).
func downloadParams(dir string) cdpbrowser.SetDownloadBehaviorParams {
	yes := true
	return cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &yes}
}
