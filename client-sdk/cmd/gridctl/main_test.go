package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/server/app/apptest"
)

// gridctl runs one command of a device whose file is db and returns its
// output; it fails the test on a non-zero exit unless wantCode says so.
func gridctl(tb testing.TB, url, db, stdin string, wantCode int, args ...string) string {
	tb.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"-db", db, "-server", url}, args...), strings.NewReader(stdin), &out, &errb)
	if code != wantCode {
		tb.Fatalf("gridctl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

func wantOutput(tb testing.TB, out string, subs ...string) {
	tb.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			tb.Fatalf("output lacks %q:\n%s", s, out)
		}
	}
}

var idRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestSession is the README's session: a grid worker registers a site,
// records a check and a hazard offline, syncs; the station sees the hazard
// and dispatches it; the worker pulls the change.
func TestSession(t *testing.T) {
	srv := apptest.Start(t)
	url := srv.URL()
	worker := filepath.Join(t.TempDir(), "worker.db")
	station := filepath.Join(t.TempDir(), "station.db")

	wantOutput(t, gridctl(t, url, worker, "demo-password\n", 0, "login", "worker-1-1-1"),
		"password: ", "worker-1-1-1 (金丽萍), grid_worker in area 330399101201G01")
	wantOutput(t, gridctl(t, url, worker, "", 0, "sites"), "0 sites")
	wantOutput(t, gridctl(t, url, worker, "", 0, "sync"), "downloaded 6 documents", "pulled 0 changes")
	wantOutput(t, gridctl(t, url, worker, "", 0, "sites"), "徐永福户", "6 sites")

	out := gridctl(t, url, worker, "", 0, "site-add", "-name", "王大妈小卖部", "-kind", "nine_small", "-sub-kind", "small_shop", "-address", "下洋村 12 号")
	site := idRe.FindString(out)
	wantOutput(t, gridctl(t, url, worker, "", 0, "check", site, "-result", "hazard_found", "-note", "灭火器过期"), "inspection ")
	out = gridctl(t, url, worker, "", 0, "hazard-add", site, "-title", "灭火器过期", "-severity", "general")
	hazard := idRe.FindString(out)
	wantOutput(t, gridctl(t, url, worker, "", 1, "hazard-step", hazard, "closed"), "refused: forbidden_transition")
	wantOutput(t, gridctl(t, url, worker, "", 0, "outbox"), "3 ops pending", "sites", "inspections", "hazards")
	wantOutput(t, gridctl(t, url, worker, "", 0, "sites"), "王大妈小卖部", "1 pending", "7 sites")
	wantOutput(t, gridctl(t, url, worker, "", 0, "sync"), "pushed 3 ops: 3 accepted, 0 rejected", "pulled 3 changes")
	wantOutput(t, gridctl(t, url, worker, "", 0, "outbox"), "outbox empty")

	wantOutput(t, gridctl(t, url, station, "", 0, "login", "station-1", "-password", "demo-password"), "station_staff")
	gridctl(t, url, station, "", 0, "sync")
	wantOutput(t, gridctl(t, url, station, "", 0, "hazards"), hazard, "reported", "灭火器过期")
	gridctl(t, url, station, "", 0, "hazard-step", hazard, "dispatched")
	gridctl(t, url, station, "", 0, "site-set", site, "-phone", "0577-88990001", "-risk", "significant")
	wantOutput(t, gridctl(t, url, worker, "", 1, "site-set", site, "-risk", "major"), "refused: forbidden_field")
	gridctl(t, url, worker, "", 0, "site-set", site, "-phone", "13805770001")
	gridctl(t, url, station, "", 0, "sync")

	wantOutput(t, gridctl(t, url, worker, "", 0, "sync"), "pushed 1 ops: 1 accepted", "pulled 3 changes")
	wantOutput(t, gridctl(t, url, worker, "", 0, "hazards"), "dispatched")
	wantOutput(t, gridctl(t, url, worker, "", 0, "sites"), "significant")
	wantOutput(t, gridctl(t, url, worker, "", 0, "conflicts"), `phone  "13805770001"  "0577-88990001"`, "1 open conflicts")
	gridctl(t, url, worker, "", 0, "site-add", "-grid", "330399101201G02", "-name", "别的网格的店", "-kind", "household")
	wantOutput(t, gridctl(t, url, worker, "", 0, "sync"), "0 accepted, 1 rejected")
	wantOutput(t, gridctl(t, url, worker, "", 0, "rejected"), "forbidden_area", "1 rejected ops")
	wantOutput(t, gridctl(t, url, worker, "", 2, "frobnicate"), "unknown command")
}
