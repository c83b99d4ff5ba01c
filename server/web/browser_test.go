package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
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

	"github.com/gridsync/gridsync/internal/exif/exiftest"
	"github.com/gridsync/gridsync/internal/testenv"
	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// screenshotDir is where the run leaves pictures of the main pages:
// docs/screenshots (which docs/DASHBOARD.md shows) when
// GRIDSYNC_SCREENSHOTS=1 (make screenshots), else a temporary folder, so
// an ordinary test run leaves the tracked pictures alone.
func screenshotDir(t *testing.T) string {
	if os.Getenv("GRIDSYNC_SCREENSHOTS") == "1" {
		return "../../docs/screenshots"
	}
	return t.TempDir()
}

// chromiumPath finds Debian's chromium (scripts/install-chromium.sh). A
// missing browser fails the test under CI and skips it elsewhere.
func chromiumPath(t *testing.T) string {
	p := os.Getenv("GRIDSYNC_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, fmt.Sprintf("chromium not found at %s: run scripts/install-chromium.sh (or make tools) to run the dashboard browser tests", p))
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
		// The stations' browsers speak Chinese: date inputs and the file
		// chooser then read as they do at a station, in the screenshots too.
		chromedp.Flag("lang", "zh-CN"), chromedp.Flag("accept-lang", "zh-CN"), chromedp.Env("LANG=zh_CN.UTF-8", "LANGUAGE=zh_CN"),
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

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := get(t, ctx, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// texts returns the text of every element css selects.
func texts(t *testing.T, ctx context.Context, css string) []string {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(`+strconv.Quote(css)+`)).map(e => e.innerText.trim())`))
}

// attrs returns an attribute of every element css selects.
func attrs(t *testing.T, ctx context.Context, css, attr string) []string {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(`+strconv.Quote(css)+`)).map(e => e.getAttribute(`+strconv.Quote(attr)+`))`))
}

// exists reports whether css selects anything on the current page.
func exists(t *testing.T, ctx context.Context, css string) bool {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[bool](`document.querySelector(`+strconv.Quote(css)+`) !== null`))
}

// setValue fills an input, select or textarea.
func setValue(css, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(css), v)
}

// sameSet reports whether two lists hold the same strings.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
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
// against the real server (apptest, demo county): phones sync hazards,
// photos, inspections, incidents and warning receipts over the API;
// station-1 finds a hazard, sees its photos and their capture flags,
// dispatches, verifies and closes it, and the phone's next pull sees the
// closure; reject, reopen, escalate and refer carry their notes and
// deadlines in the same op; a warning is issued and its receipts shown;
// the overview, queue, supervision ledger, sites and coverage pages agree
// with the /v1 domain views; conflicts, devices, ledgers and the site
// import are exercised the same way; a grid worker's session cannot see
// township 2; a form without its CSRF token is refused. One browser
// serves every step.
func TestDashboard(t *testing.T) {
	chrome := chromiumPath(t)
	shots := screenshotDir(t)
	srv := apptest.Start(t)
	base := srv.URL()
	day := 24 * time.Hour
	now := time.Now()

	// Phones sync what the grid workers found.
	w111 := loginDevice(t, base, "worker-1-1-1", "phone-worker-1-1-1")
	beforeSHA := putPhoto(t, w111, testPhoto(1, "before"))
	// The rectification photo carries EXIF: taken now, 350 m north of the
	// site (吴海平服装加工点, 27.962758, 120.584398).
	site6 := server.GeoPoint{Lat: 27.962758, Lng: 120.584398}
	afterGPS := server.GeoPoint{Lat: site6.Lat + 0.00315, Lng: site6.Lng}
	afterPhoto := exiftest.JPEG(t, exiftest.Options{TakenAt: now.In(cstZone).Format("2006:01:02 15:04:05"), Offset: "+08:00",
		GPS: true, Lat: afterGPS.Lat, Lng: afterGPS.Lng, Width: 320, Height: 240, Seed: 3})
	afterSum := sha256.Sum256(afterPhoto)
	afterSHA := hex.EncodeToString(afterSum[:])
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
	w121.push(newHazard("hz-seed-3", siteID(0x12), "幼儿园疏散指示标志损坏", "general"),
		newHazard("hz-seed-6", siteID(0x13), "民宿客房未配备逃生面罩和应急照明", "general"))
	w131.push(newHazard("hz-seed-4", siteID(0x17), "分租“厂中厂”消防车通道被货物占用", "major"),
		newHazard("hz-seed-5", siteID(0x1a), "作坊二层住人，楼梯间堆放可燃物", "major"))
	w211.push(newHazard("hz-town2", siteID(0x20), "商贸城东侧安全出口上锁", "major"))
	st1.push(
		op{Collection: "hazards", Doc: "hz-seed-2", Set: map[string]any{"assignee": "worker-1-1-2", "deadline": now.Add(-3 * day).UnixMilli()}, Flow: syncproto.StageDispatched},
		op{Collection: "hazards", Doc: "hz-seed-4", Set: map[string]any{"assignee": "worker-1-3-1", "deadline": now.Add(5 * day).UnixMilli()}, Flow: syncproto.StageDispatched},
		op{Collection: "hazards", Doc: "hz-seed-3", Set: map[string]any{"assignee": "worker-1-2-1", "deadline": now.Add(2 * day).UnixMilli()}, Flow: syncproto.StageDispatched},
		// Its deadline passes, but the rectification was submitted: the
		// station's to verify, not overdue (the domain's rule).
		op{Collection: "hazards", Doc: "hz-seed-6", Set: map[string]any{"assignee": "worker-1-2-1", "deadline": now.Add(-2 * day).UnixMilli()}, Flow: syncproto.StageDispatched})
	w131.push(op{Collection: "hazards", Doc: "hz-seed-4", Flow: syncproto.StageSubmitted})
	w121.push(op{Collection: "hazards", Doc: "hz-seed-6", Flow: syncproto.StageSubmitted})
	st1.push(op{Collection: "hazards", Doc: "hz-seed-3", Flow: syncproto.StageVerified},
		op{Collection: "hazards", Doc: "hz-seed-3", Flow: syncproto.StageClosed})
	// Two people change the target's description offline, neither seeing
	// the other's edit: the later write wins and the other is kept.
	const loserText, winnerText = "加工区与住宿区之间无实体墙分隔，二层住 3 人。", "二层住宿 2 人，已劝离 1 人。"
	w111.push(op{Collection: "hazards", Doc: target, Set: map[string]any{"description": loserText}, Base: map[string]syncproto.Stamp{"description": created}})
	v11.push(op{Collection: "hazards", Doc: target, Set: map[string]any{"description": winnerText}, Base: map[string]syncproto.Stamp{"description": created},
		At: now.Add(time.Second)})
	w111.pullAll()
	// A check done offline three days ago on a site never checked before,
	// synced only now.
	w111.push(op{Collection: "inspections", Doc: "insp-offline", Set: map[string]any{"site": siteID(5), "result": "pass",
		"started_at": now.Add(-3*day - 40*time.Minute).UnixMilli(), "finished_at": now.Add(-3 * day).UnixMilli()},
		At: now.Add(-3 * day)})
	// Incident quick reports: one 45 minutes after the fire; one from a
	// phone whose clock is an hour slow, 10 minutes after (its raw clock
	// would say 70).
	w112.push(op{Collection: "incidents", Doc: "inc-late", Set: map[string]any{"title": "下洋村2组民房厨房起火（已扑灭）",
		"occurred_at": now.Add(-45 * time.Minute).UnixMilli()}})
	w131.skew = -time.Hour
	w131.push(op{Collection: "incidents", Doc: "inc-skew", Set: map[string]any{"title": "东岙五金厂配电箱冒烟（已断电）",
		"occurred_at": now.Add(-time.Hour - 10*time.Minute).UnixMilli()}})
	w131.skew = 0
	// A phone that holds two days of unsynced work, and a refused op (a
	// grid worker may not close a hazard: 排改分离).
	w121.outbox = syncproto.OutboxReport{Pending: 14, OldestPendingMS: now.Add(-50 * time.Hour).UnixMilli(), AppVersion: "1.4.2"}
	if _, v := w121.pushVerdicts(op{Collection: "hazards", Doc: "hz-seed-3", Flow: syncproto.StageClosed, Round: 2}); v[0].Code != syncproto.CodeForbiddenTransition {
		t.Fatalf("worker closing a hazard: %+v", v[0])
	}

	ctx := browser(t, chrome)
	period := "from=" + now.Add(-day).In(cstZone).Format("2006-01-02") + "&to=" + now.Add(day).In(cstZone).Format("2006-01-02")

	t.Run("LoginRefusesWrongPassword", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#login-submit")))
		screenshot(t, ctx, shots, "login")
		step(t, ctx, setValue("#username", "station-1"), setValue("#password", "wrong-password"),
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
		// Incidents: delays as the domain records them, corrected by the
		// phone's clock offset.
		late := text(t, ctx, `#incidents tr[data-id="inc-late"]`)
		if !contains(late, "超过30分钟") || !contains(late, "下洋村") {
			t.Errorf("late incident row %q", late)
		}
		if skew := text(t, ctx, `#incidents tr[data-id="inc-skew"]`); contains(skew, "超过30分钟") || !contains(skew, "10 分钟") || !contains(skew, "慢 1 小时") {
			t.Errorf("incident from a slow phone %q: want 10 minutes, not late, the phone's clock an hour slow", skew)
		}
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
		screenshot(t, ctx, shots, "hazards")
		// Filters: the target is a shared-use premises with a major hazard.
		step(t, ctx, chromedp.Navigate(base+"/hazards?kind=shared_use&severity=major"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		if got := text(t, ctx, "#hazard-table"); !contains(got, targetTitle) || contains(got, "出租房走道") {
			t.Fatalf("filtered queue:\n%s", got)
		}
		// Overdue is the domain's: /v1/hazards/overdue lists hz-seed-2,
		// not hz-seed-6 (submitted after its deadline).
		api := overdueIDs(t, st1)
		if !sameSet(api, []string{"hz-seed-2"}) {
			t.Fatalf("/v1/hazards/overdue = %v, want [hz-seed-2]", api)
		}
		step(t, ctx, chromedp.Navigate(base+"/hazards?overdue=1&status=all"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		if got := attrs(t, ctx, "#hazard-table tbody tr[data-id]", "data-id"); !sameSet(got, api) {
			t.Fatalf("overdue queue %v, want %v as /v1/hazards/overdue", got, api)
		}
		if got := text(t, ctx, `tr[data-id="hz-seed-2"]`); !contains(got, "逾期 3 天") {
			t.Fatalf("overdue row %q, want 逾期 3 天", got)
		}
		step(t, ctx, chromedp.Navigate(base+"/hazards?since=24h&status=all"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		if got := attrs(t, ctx, "#hazard-table tbody tr[data-id]", "data-id"); len(got) != 7 {
			t.Fatalf("reported within 24 h: %v, want the 7 hazards of township 1", got)
		}
	})

	t.Run("LiveRowsRespectFilter", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/hazards?severity=major"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		// One push, so both reach the page in the same poll: the filter
		// alone decides which one is inserted.
		w112.push(newHazard("hz-live", siteID(9), "超市仓库灭火器过期", "general"),
			newHazard("hz-live-major", siteID(10), "出租房三楼楼道堆放电动车电池", "major"))
		step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`tr[data-id="hz-live-major"]`)))
		if exists(t, ctx, `tr[data-id="hz-live"]`) {
			t.Fatal("a general hazard was inserted into a queue filtered to major ones")
		}
		if got := text(t, ctx, "#live-banner"); !contains(got, "新同步 1 条") {
			t.Fatalf("live banner %q", got)
		}
	})

	t.Run("DetailShowsPhotoAndFlags", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/hazards"), chromedp.Click(chromedp.CSS(`tr[data-id="`+target+`"] a.hazard-link`)),
			chromedp.WaitVisible(chromedp.CSS("#hazard-title")), chromedp.WaitVisible(chromedp.CSS("#photos img")))
		w := get(t, ctx, chromedp.Poll[int](`(() => { const i = document.querySelector("#photos img"); return i.complete && i.naturalWidth })()`,
			chromedp.WithPollingTimeout(10*time.Second)))
		if w != 320 {
			t.Fatalf("thumbnail naturalWidth %d, want 320 (the photo)", w)
		}
		step(t, ctx, chromedp.Click(chromedp.CSS("#photos a")), chromedp.WaitVisible(chromedp.CSS("#lightbox img")),
			chromedp.Click(chromedp.CSS("#lightbox")), chromedp.WaitNotVisible(chromedp.CSS("#lightbox")))
		// The finding's PNG has no EXIF: no position, no capture time.
		if got := texts(t, ctx, `figure[data-sha="`+beforeSHA+`"] .ph-flag`); !slices.Equal(got, []string{"无定位", "无拍摄时间"}) {
			t.Fatalf("flags of the finding's photo %v", got)
		}
		if got := text(t, ctx, "#timeline"); !contains(got, "金丽萍") || !contains(got, "上报") || !contains(got, "添加现场照片 1 张") {
			t.Fatalf("timeline:\n%s", got)
		}
	})

	t.Run("Dispatch", func(t *testing.T) {
		deadline := now.Add(3 * day).In(cstZone).Format("2006-01-02")
		step(t, ctx, setValue("#assignee", "worker-1-1-1"), setValue("#deadline", deadline))
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
		if got := text(t, ctx, "#form-verify"); !contains(got, "尚无整改后照片") {
			t.Fatalf("verify form without evidence %q: want a warning", got)
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
		// As gridctl's "evidence -submit": the rectification photo in
		// evidence, then the step, as two ops; the photo's bytes follow.
		w111.push(op{Collection: "hazards", Doc: target, Evidence: []string{afterSHA}},
			op{Collection: "hazards", Doc: target, Flow: syncproto.StageSubmitted})
		step(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#do-verify")))
		if got := text(t, ctx, "#evidence-warning"); !contains(got, "1 张整改后照片尚未上传") {
			t.Fatalf("evidence warning %q", got)
		}
		if got := text(t, ctx, `figure[data-sha="`+afterSHA+`"]`); !contains(got, "照片尚未上传") {
			t.Fatalf("rectification photo before upload %q", got)
		}
		group := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('figure[data-sha="`+afterSHA+`"]').closest(".photo-group").querySelector("h3").innerText`))
		if !contains(group, "整改后") {
			t.Fatalf("the rectification photo is shown under %q, want 整改后", group)
		}
		if got := text(t, ctx, "#timeline"); !contains(got, "添加整改照片 1 张") || !contains(got, "已提交整改") {
			t.Fatalf("timeline:\n%s", got)
		}
		putPhoto(t, w111, afterPhoto)
		step(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#do-verify")))
		if exists(t, ctx, "#evidence-warning") {
			t.Fatalf("evidence warning after upload: %q", text(t, ctx, "#evidence-warning"))
		}
		photos := text(t, ctx, "#photos")
		if !contains(photos, "发现时") || !contains(photos, "整改后") {
			t.Fatalf("photos %q: want a before and an after photo", photos)
		}
		flags := texts(t, ctx, `figure[data-sha="`+afterSHA+`"] .ph-flag`)
		want := int(math.Round(server.DistanceMeters(afterGPS, site6)))
		var got int
		if len(flags) != 1 || !strings.HasPrefix(flags[0], "距场所 ") {
			t.Fatalf("flags of the rectification photo %v, want only the distance", flags)
		}
		fmt.Sscanf(flags[0], "距场所 %d 米", &got)
		if got < want-1 || got > want+1 {
			t.Fatalf("flag %q, want about %d m", flags[0], want)
		}
		screenshot(t, ctx, shots, "hazard-detail")
	})

	t.Run("VerifyAndClose", func(t *testing.T) {
		step(t, ctx, setValue("#form-verify textarea", "整改到位，已现场核实。"))
		submit(t, ctx, "#do-verify")
		if got := text(t, ctx, "#hazard-status"); got != "已复核" {
			t.Fatalf("status %q (flash %q), want 已复核", got, text(t, ctx, "#flash"))
		}
		if got := text(t, ctx, "dl.facts"); !contains(got, "复核意见") || !contains(got, "整改到位，已现场核实。") {
			t.Fatalf("facts after verify:\n%s", got)
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

	t.Run("RejectWithNoteAndDeadline", func(t *testing.T) {
		deadline := now.Add(5 * day).In(cstZone).Format("2006-01-02")
		step(t, ctx, chromedp.Navigate(base+"/hazards/hz-seed-4"), chromedp.WaitVisible(chromedp.CSS("#do-reject")),
			setValue("#reject-note", "通道仍堆放货物，需全部清空。"), setValue("#reject-deadline", deadline))
		submit(t, ctx, "#do-reject")
		if got := text(t, ctx, "#flash"); !contains(got, "复核不通过，退回整改：已接受") {
			t.Fatalf("flash %q", got)
		}
		if got := text(t, ctx, "#hazard-title"); !contains(got, "整改中") || !contains(got, "第 2 轮") {
			t.Fatalf("title %q, want 整改中 in round 2", got)
		}
		if got := text(t, ctx, "#hazard-deadline"); got != deadline {
			t.Fatalf("deadline %q, want %s", got, deadline)
		}
		if got := text(t, ctx, "dl.facts"); !contains(got, "通道仍堆放货物，需全部清空。") {
			t.Fatalf("facts lack the note:\n%s", got)
		}
		// The worker's phone gets the step, the note and the deadline in
		// one op.
		var rejected *syncproto.Change
		for _, c := range w131.pullAll() {
			if c.Op.Doc == "hz-seed-4" && c.Op.Flow["status"].To == syncproto.StageRectifying {
				rejected = &c
			}
		}
		if rejected == nil || rejected.Op.Flow["status"].Round != 2 || rejected.Op.Set["verification_note"] == nil || rejected.Op.Set["deadline"] == nil {
			t.Fatalf("the worker's pull: %+v, want the reject with its note and deadline in one op", rejected)
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		deadline := now.Add(10 * day).In(cstZone).Format("2006-01-02")
		step(t, ctx, chromedp.Navigate(base+"/hazards/hz-seed-3"), chromedp.WaitVisible(chromedp.CSS("#do-reopen")),
			setValue("#reopen-deadline", deadline))
		submit(t, ctx, "#do-reopen")
		if got := text(t, ctx, "#hazard-title"); !contains(got, "已派单") || !contains(got, "第 2 轮") {
			t.Fatalf("title %q (flash %q), want 已派单 in round 2", got, text(t, ctx, "#flash"))
		}
		if got := text(t, ctx, "#hazard-deadline"); got != deadline {
			t.Fatalf("deadline %q, want %s", got, deadline)
		}
	})

	t.Run("Escalate", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/hazards/hz-seed-2"), chromedp.WaitVisible(chromedp.CSS("#do-escalate")),
			setValue("#escalate-note", "逾期未整改，镇挂牌督办。"))
		submit(t, ctx, "#do-escalate")
		if !exists(t, ctx, "#hazard-escalated") || exists(t, ctx, "#do-escalate") {
			t.Fatalf("after escalating: flash %q", text(t, ctx, "#flash"))
		}
		if got := text(t, ctx, "dl.facts"); !contains(got, "督办说明") || !contains(got, "逾期未整改，镇挂牌督办。") {
			t.Fatalf("facts lack the escalation note:\n%s", got)
		}
		step(t, ctx, chromedp.Navigate(base+"/hazards?escalated=1"), chromedp.WaitVisible(chromedp.CSS("#hazard-table")))
		if got := attrs(t, ctx, "#hazard-table tbody tr[data-id]", "data-id"); !slices.Equal(got, []string{"hz-seed-2"}) {
			t.Fatalf("escalated queue %v", got)
		}
	})

	t.Run("Refer", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/hazards/hz-seed-1"), chromedp.WaitVisible(chromedp.CSS("#do-refer")))
		// The limit is the schema's (hazards.referred_to MaxLen), in the
		// form and in the handler.
		if got := attrs(t, ctx, "#refer-department", "maxlength"); !slices.Equal(got, []string{"100"}) {
			t.Fatalf("department maxlength %v, want [100]", got)
		}
		page := get(t, ctx, chromedp.Evaluate[string](`fetch("/hazards/hz-seed-1/refer", {method: "POST",
			headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: "csrf=" + encodeURIComponent(document.querySelector("#form-refer input[name=csrf]").value) + "&department=" + "局".repeat(101)}).then(r => r.text())`,
			chromedp.EvalAwaitPromise))
		if !contains(page, "主管部门不能超过 100 字") {
			t.Fatalf("a 101-character department was not refused:\n%.400s", page)
		}
		step(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#do-refer")),
			setValue("#refer-department", "县市场监管局"), setValue("#refer-note", "户主拒不整改，抄告行业主管部门。"))
		submit(t, ctx, "#do-refer")
		if got := text(t, ctx, "#hazard-referred"); !contains(got, "县市场监管局") {
			t.Fatalf("referred tag %q (flash %q)", got, text(t, ctx, "#flash"))
		}
	})

	t.Run("ConflictInbox", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/conflicts"), chromedp.WaitVisible(chromedp.CSS("section.conflict")))
		got := text(t, ctx, "section.conflict")
		if !contains(got, winnerText) || !contains(got, loserText) {
			t.Fatalf("conflict does not show both values:\n%s", got)
		}
		screenshot(t, ctx, shots, "conflicts")
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
			setValue(`form[action="/sites/`+siteID(1)+`/risk"] select`, "significant"),
			chromedp.Submit(chromedp.CSS(`form[action="/sites/`+siteID(1)+`/risk"]`)), chromedp.WaitVisible(chromedp.CSS("#flash")))
		if got := text(t, ctx, "#flash"); !contains(got, "较大") || !contains(got, "已接受") {
			t.Fatalf("flash %q", got)
		}
	})

	t.Run("DueAndOverdueSites", func(t *testing.T) {
		for _, status := range []string{"overdue", "due", "never"} {
			api := taskIDs(t, st1, status)
			if len(api) == 0 {
				t.Fatalf("/v1/tasks?status=%s is empty: the demo county has such sites", status)
			}
			step(t, ctx, chromedp.Navigate(base+"/sites?status="+status), chromedp.WaitVisible(chromedp.CSS("#site-table")))
			if got := attrs(t, ctx, "#site-table tbody tr[data-site]", "data-site"); !sameSet(got, api) {
				t.Fatalf("sites page, status %s: %v, want %v as /v1/tasks", status, got, api)
			}
		}
		// The check done offline three days ago counts on its own date.
		step(t, ctx, chromedp.Navigate(base+"/sites?village=330399101201&grid=330399101201G01"), chromedp.WaitVisible(chromedp.CSS("#site-table")))
		row := text(t, ctx, `tr[data-site="`+siteID(5)+`"]`)
		if !contains(row, now.Add(-3*day).In(cstZone).Format("2006-01-02")) || !contains(row, "正常") || !contains(row, "每 15 天") {
			t.Fatalf("site checked offline 3 days ago: %q", row)
		}
		step(t, ctx, chromedp.Navigate(base+"/sites?village=330399101201"), chromedp.WaitVisible(chromedp.CSS("#site-table")))
		screenshot(t, ctx, shots, "sites")
	})

	t.Run("Coverage", func(t *testing.T) {
		var resp struct{ Coverage []server.Coverage }
		st1.call("GET", "/v1/coverage", nil, &resp)
		step(t, ctx, chromedp.Navigate(base+"/coverage"), chromedp.WaitVisible(chromedp.CSS("#coverage-table")))
		for _, c := range resp.Coverage {
			row := text(t, ctx, `#coverage-table tr[data-area="`+c.AreaID+`"]`)
			want := "—"
			if c.Rate != nil {
				want = strconv.FormatFloat(100**c.Rate, 'f', 1, 64) + "%"
			}
			if !contains(row, c.Name) || !contains(row, want) {
				t.Errorf("coverage of %s: %q, want %s as /v1/coverage", c.Name, row, want)
			}
		}
		if len(resp.Coverage) != 1+3+7 { // 云岙镇, 3 villages, 7 grids
			t.Errorf("/v1/coverage has %d rows", len(resp.Coverage))
		}
		screenshot(t, ctx, shots, "coverage")
	})

	t.Run("Warnings", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/warnings"), chromedp.WaitVisible(chromedp.CSS("#warning-form")),
			setValue("#warning-target", "330399101201"), setValue("#warning-level", syncproto.WarningImmediate),
			setValue("#warning-title", "大风橙色预警：立即检查出租房电动车充电"),
			setValue("#warning-body", "今晚起阵风 10 级。请各网格员今日内走访辖区出租房、合用场所，劝离室内充电的电动车，发现隐患立即上报。"))
		submit(t, ctx, "#issue-warning")
		if got := text(t, ctx, "#flash"); !contains(got, "已接受") {
			t.Fatalf("flash %q", got)
		}
		var warningID string
		for _, c := range w111.pullAll() {
			if c.Op.Collection == "warnings" {
				warningID = c.Op.Doc
			}
		}
		if warningID == "" {
			t.Fatal("worker-1-1-1's phone did not pull the warning to its village")
		}
		for _, c := range w211.pullAll() {
			if c.Op.Collection == "warnings" {
				t.Fatal("a phone of township 2 pulled the warning to 下洋村")
			}
		}
		w111.push(op{Collection: "warning_acks", Doc: "ack-" + warningID[:8], Set: map[string]any{"warning": warningID, "acknowledged_at": time.Now().UnixMilli()}})
		step(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#warning-"+warningID)))
		if got := text(t, ctx, "#warning-"+warningID+" .body"); !contains(got, "今晚起阵风 10 级") {
			t.Fatalf("warning body: %q", got)
		}
		acked, missing := text(t, ctx, "#warning-"+warningID+" .acked"), text(t, ctx, "#warning-"+warningID+" .missing")
		if !contains(acked, "金丽萍") {
			t.Fatalf("acknowledged: %q, want 金丽萍", acked)
		}
		for _, name := range []string{"吴卫东", "潘小燕", "徐志刚"} {
			if !contains(missing, name) {
				t.Errorf("not acknowledged: %q lacks %s", missing, name)
			}
		}
		if contains(missing, "金丽萍") || contains(missing, "王海军") {
			t.Errorf("not acknowledged: %q", missing)
		}
		screenshot(t, ctx, shots, "warnings")
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
		screenshot(t, ctx, shots, "devices")
	})

	t.Run("Ledgers", func(t *testing.T) {
		// The supervision list holds the domain's overdue hazards with
		// their days, and the escalated and referred ones.
		api := overdue(t, st1)
		step(t, ctx, chromedp.Navigate(base+"/ledgers?kind=supervision&"+period), chromedp.WaitVisible(chromedp.CSS("#ledger-table")))
		rows := ledgerRows(t, ctx)
		byID := map[string][]string{}
		for _, r := range rows {
			byID[r[len(r)-1]] = r
		}
		for _, o := range api {
			r := byID[o.ID]
			if r == nil || r[7] != strconv.Itoa(o.OverdueDays) {
				t.Errorf("supervision row of %s: %v, want %d days overdue", o.ID, r, o.OverdueDays)
			}
		}
		if r := byID["hz-seed-2"]; r == nil || r[8] != "是" {
			t.Errorf("escalated hz-seed-2: %v", r)
		}
		if r := byID["hz-seed-1"]; r == nil || r[10] != "县市场监管局" {
			t.Errorf("referred hz-seed-1: %v", r)
		}
		if byID["hz-seed-6"] != nil {
			t.Error("the supervision list holds hz-seed-6, submitted (not overdue)")
		}
		// The rectification list counts the rectification photos.
		step(t, ctx, chromedp.Navigate(base+"/ledgers?kind=rectifications&"+period), chromedp.WaitVisible(chromedp.CSS("#ledger-table")))
		var found bool
		for _, r := range ledgerRows(t, ctx) {
			if r[len(r)-1] == target {
				found = true
				if r[10] != "1" || r[11] != "复核通过" {
					t.Errorf("rectification row %v, want 1 photo, 复核通过", r)
				}
			}
		}
		if !found {
			t.Error("the rectification list lacks the target")
		}
	})

	t.Run("LedgerExportXLSX", func(t *testing.T) {
		dir := t.TempDir()
		step(t, ctx, chromedp.Navigate(base+"/ledgers?kind=hazards&"+period), chromedp.WaitVisible(chromedp.CSS("#ledger-table")))
		screenshot(t, ctx, shots, "ledgers")
		if _, err := chromedp.CallBrowser(ctx, browserSetDownload, downloadParams(dir)); err != nil {
			t.Fatal(err)
		}
		step(t, ctx, chromedp.Click(chromedp.CSS("#export-xlsx")))
		f := waitForXLSX(t, dir)
		rows, err := f.GetRows(f.GetSheetList()[0])
		if err != nil {
			t.Fatal(err)
		}
		wantHeader := []string{"序号", "上报时间", "村(社区)", "网格", "场所名称", "场所类别", "隐患描述", "隐患等级", "当前状态", "上报人", "现场照片", "整改照片", "隐患编号"}
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
		if found[6] != targetTitle || found[7] != "重大隐患" || found[8] != "已销号" || found[2] != "下洋村" || found[10] != "1" || found[11] != "1" {
			t.Fatalf("row %v", found)
		}
		if len(rows) != 10 { // header + 9 hazards of township 1
			t.Errorf("got %d rows, want 10", len(rows))
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
		screenshot(t, ctx, shots, "import")
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
		screenshot(t, wctx, shots, "worker-not-found")
		step(t, wctx, chromedp.Navigate(base+"/hazards/"+target), chromedp.WaitVisible(chromedp.CSS("#actions")))
		if got := text(t, wctx, "#actions"); !contains(got, "没有可执行的操作") {
			t.Fatalf("a grid worker is offered station actions:\n%s", got)
		}
		step(t, wctx, chromedp.Navigate(base+"/warnings"), chromedp.WaitVisible(chromedp.CSS("h1")))
		if exists(t, wctx, "#warning-form") {
			t.Fatal("a grid worker is offered the warning form")
		}
	})

	t.Run("OverviewAgreesWithDomain", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#cards")))
		card := func(id string) string { return text(t, ctx, "#"+id+" b") }
		if got, want := card("card-overdue"), strconv.Itoa(len(overdue(t, st1))); got != want {
			t.Errorf("overdue card %s, want %s as /v1/hazards/overdue", got, want)
		}
		if got := card("card-escalated"); got != "1" {
			t.Errorf("escalated card %s, want 1", got)
		}
		if got, people := card("card-unacked"), text(t, ctx, "#card-unacked span"); got != "1" || people != "预警未回执（3 人）" {
			t.Errorf("unacknowledged card %s %q, want 1 warning, 3 people", got, people)
		}
		var cov struct{ Coverage []server.Coverage }
		st1.call("GET", "/v1/coverage", nil, &cov)
		if got, want := card("card-coverage"), strconv.FormatFloat(100**cov.Coverage[0].Rate, 'f', 1, 64)+"%"; got != want {
			t.Errorf("coverage card %s, want %s", got, want)
		}
		screenshot(t, ctx, shots, "overview")
	})

	t.Run("Logout", func(t *testing.T) {
		step(t, ctx, chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-submit")))
		resp := get(t, ctx, chromedp.NavigateResponse(base+"/devices"))
		if loc := get(t, ctx, chromedp.Location()); !contains(loc, "/login") {
			t.Fatalf("after logout /devices went to %s (status %d)", loc, resp.Status)
		}
	})
}

// cstZone is China Standard Time, the dashboard's dates.
var cstZone = time.FixedZone("CST", 8*3600)

// overdue asks /v1/hazards/overdue as the station's phone.
func overdue(t *testing.T, d *testDevice) []server.OverdueHazard {
	t.Helper()
	var resp struct{ Hazards []server.OverdueHazard }
	d.call("GET", "/v1/hazards/overdue", nil, &resp)
	return resp.Hazards
}

func overdueIDs(t *testing.T, d *testDevice) []string {
	t.Helper()
	var ids []string
	for _, o := range overdue(t, d) {
		ids = append(ids, o.ID)
	}
	return ids
}

// taskIDs asks /v1/tasks for the sites with a check status.
func taskIDs(t *testing.T, d *testDevice, status string) []string {
	t.Helper()
	var resp struct{ Tasks []syncproto.Task }
	d.call("GET", "/v1/tasks?status="+status, nil, &resp)
	var ids []string
	for _, x := range resp.Tasks {
		ids = append(ids, x.SiteID)
	}
	return ids
}

// ledgerRows reads the ledger preview table.
func ledgerRows(t *testing.T, ctx context.Context) [][]string {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll("#ledger-table tbody tr:not(.empty)")).map(tr => Array.from(tr.cells).map(c => c.innerText.trim()))`))
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
