package sqlite_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/fixtures"
	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/sqlite"
)

func mustDemo(tb testing.TB) *server.Dataset {
	tb.Helper()
	d, err := fixtures.DemoCounty()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// wantRows checks the row count of each table.
func wantRows(tb testing.TB, db *sqlite.DB, want map[string]int) {
	tb.Helper()
	for table, n := range want {
		if got, err := sqlite.CountRows(context.Background(), db, table); err != nil || got != n {
			tb.Errorf("%s: got %d rows (%v), want %d", table, got, err, n)
		}
	}
}

// nothingWritten is every table an import writes, empty.
var nothingWritten = map[string]int{"areas": 0, "users": 0, "checklists": 0, "policies": 0, "imports": 0, "devices": 0, "ops": 0, "docs": 0}

const demoSites = 52

func TestImport(t *testing.T) {
	ctx := context.Background()
	t.Run("DemoCounty", func(t *testing.T) {
		db := MustDemoDB(t)
		wantRows(t, db, map[string]int{"areas": 20, "users": 18, "checklists": 9, "policies": 1, "docs": demoSites, "ops": demoSites, "imports": 1})
		sub, err := sqlite.NewAreaService(db).Subtree(ctx, "330399101201")
		if err != nil {
			t.Fatal(err)
		}
		if len(sub) != 4 || sub[0].ID != "330399101201" || sub[0].Level != server.LevelVillage {
			t.Fatalf("got subtree %v, want the village and its 3 grids", sub)
		}
		if done, err := sqlite.NewImportService(db, nil).Imported(ctx, "330399"); err != nil || !done {
			t.Fatalf("got imported %v, %v; want true", done, err)
		}
	})
	t.Run("ErrImportedTwice", func(t *testing.T) {
		db := MustDemoDB(t)
		_, err := sqlite.NewImportService(db, mustSyncService(t, db)).Import(ctx, mustDemo(t))
		wantCode(t, err, server.ECONFLICT)
		if !strings.Contains(server.ErrorMessage(err), "already imported") {
			t.Fatalf("got %q, want a message saying the county was imported", server.ErrorMessage(err))
		}
		wantRows(t, db, map[string]int{"areas": 20, "users": 18, "docs": demoSites, "ops": demoSites})
	})
	t.Run("ErrAreaExists", func(t *testing.T) {
		// A data set without a county (areas added below an existing one)
		// that repeats an area: a conflict that names it, not a raw
		// UNIQUE error.
		db := MustDemoDB(t)
		d := &server.Dataset{Format: 1, Areas: []server.Area{{ID: "330399101", Parent: "330399", Level: server.LevelTownship, Name: "云岙镇"}}}
		_, err := sqlite.NewImportService(db, nil).Import(ctx, d)
		wantCode(t, err, server.ECONFLICT)
		if !strings.Contains(server.ErrorMessage(err), "330399101") {
			t.Fatalf("got %q, want the area named", server.ErrorMessage(err))
		}
	})
	t.Run("ErrNothingHalfApplied", func(t *testing.T) {
		db := MustOpenDB(t)
		d := mustDemo(t)
		d.Users = append(d.Users, server.DatasetUser{Username: "ghost", Name: "幽灵", Role: server.RoleGridWorker, Area: "no-such-area", Password: "demo-password"})
		_, err := sqlite.NewImportService(db, mustSyncService(t, db)).Import(ctx, d)
		wantCode(t, err, server.ENOTFOUND)
		wantRows(t, db, nothingWritten)
	})
	t.Run("ErrInvalidLines", func(t *testing.T) {
		site := func(d *server.Dataset, i int, edit func(map[string]any)) {
			var m map[string]any
			if err := json.Unmarshal(d.Sites[i], &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			d.Sites[i], _ = json.Marshal(m)
		}
		for name, edit := range map[string]func(*server.Dataset){
			"GridUnderCounty":       func(d *server.Dataset) { d.Areas[1].Level = server.LevelGrid },
			"BadAreaID":             func(d *server.Dataset) { d.Areas[0].ID = "33/0399" },
			"BadRole":               func(d *server.Dataset) { d.Users[0].Role = "mayor" },
			"ShortPassword":         func(d *server.Dataset) { d.Users[0].Password = "short" },
			"DuplicateUser":         func(d *server.Dataset) { d.Users = append(d.Users, d.Users[0]) },
			"ChecklistNoItem":       func(d *server.Dataset) { d.Checklists[0].Items = nil },
			"BadSeverity":           func(d *server.Dataset) { d.Checklists[0].Items[0].Severity = "catastrophic" },
			"PolicyUnknownMember":   func(d *server.Dataset) { d.Policy = json.RawMessage(`{"check_intervals":{"major":7}}`) },
			"PolicyZeroDays":        func(d *server.Dataset) { d.Policy = json.RawMessage(`{"check_interval_days":{"major":0}}`) },
			"PolicyNotObject":       func(d *server.Dataset) { d.Policy = json.RawMessage(`[7, 15]`) },
			"SiteUnknownKind":       func(d *server.Dataset) { site(d, 51, func(m map[string]any) { m["kind"] = "castle" }) },
			"SiteUnknownGrid":       func(d *server.Dataset) { site(d, 51, func(m map[string]any) { m["grid"] = "330399101201" }) },
			"SiteUnknownField":      func(d *server.Dataset) { site(d, 51, func(m map[string]any) { m["owner"] = "x" }) },
			"SiteDuplicateID":       func(d *server.Dataset) { d.Sites = append(d.Sites, d.Sites[0]) },
			"SiteNegativeDays":      func(d *server.Dataset) { site(d, 51, func(m map[string]any) { m["last_checked_days_ago"] = -1 }) },
			"SiteBadRiskLevel":      func(d *server.Dataset) { site(d, 51, func(m map[string]any) { m["risk_level"] = "extreme" }) },
			"SiteWithoutCountyArea": func(d *server.Dataset) { d.Areas[0].Level = server.LevelTownship },
		} {
			t.Run(name, func(t *testing.T) {
				db := MustOpenDB(t)
				d := mustDemo(t)
				edit(d)
				_, err := sqlite.NewImportService(db, mustSyncService(t, db)).Import(ctx, d)
				if c := server.ErrorCode(err); c != server.EINVALID && c != server.ECONFLICT {
					t.Fatalf("got %v, want EINVALID or ECONFLICT", err)
				}
				wantRows(t, db, nothingWritten)
			})
		}
	})
	t.Run("ResumeAfterInterruption", func(t *testing.T) {
		for _, pushes := range []int{0, 2} {
			db := MustOpenDB(t)
			sync := mustSyncService(t, db)
			imp := sqlite.NewImportService(db, sync)
			sqlite.InterruptImport(imp, 10, pushes)
			if _, err := imp.Import(ctx, mustDemo(t)); err == nil {
				t.Fatal("interrupted import: got nil error")
			}
			imp = sqlite.NewImportService(db, sync)
			if done, _ := imp.Imported(ctx, "330399"); done {
				t.Fatal("an interrupted import is recorded complete")
			}
			wantRows(t, db, map[string]int{"areas": 20, "users": 18, "docs": 10 * pushes, "site_check_history": 0})

			// The same data set again (what the demo loader does on the
			// next start) pushes the remaining sites, once each.
			r, err := imp.Import(ctx, mustDemo(t))
			if err != nil {
				t.Fatal(err)
			}
			if !r.Resumed || r.Sites != demoSites-10*pushes || r.Areas != 0 {
				t.Fatalf("after %d pushes: got report %+v, want resumed with %d sites", pushes, r, demoSites-10*pushes)
			}
			wantRows(t, db, map[string]int{"areas": 20, "users": 18, "docs": demoSites, "ops": demoSites, "rejected_ops": 0, "site_check_history": 47})
			if done, _ := imp.Imported(ctx, "330399"); !done {
				t.Fatal("a resumed import is not recorded complete")
			}
			_, err = imp.Import(ctx, mustDemo(t))
			wantCode(t, err, server.ECONFLICT)
		}
	})
	t.Run("ErrResumeWithOtherDataset", func(t *testing.T) {
		db := MustOpenDB(t)
		sync := mustSyncService(t, db)
		imp := sqlite.NewImportService(db, sync)
		sqlite.InterruptImport(imp, 10, 1)
		if _, err := imp.Import(ctx, mustDemo(t)); err == nil {
			t.Fatal("interrupted import: got nil error")
		}
		other := mustDemo(t)
		other.Sites = other.Sites[:40]
		_, err := sqlite.NewImportService(db, sync).Import(ctx, other)
		wantCode(t, err, server.ECONFLICT)
		wantRows(t, db, map[string]int{"docs": 10})
	})
}
