package client

import (
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// Demo sites of grid G01 by their check state at load (fixtures/README.md).
const (
	siteNever   = "0192f000-0000-7000-8000-000000000005" // 潘建华经营性自建房, never checked
	siteOverdue = "0192f000-0000-7000-8000-000000000002" // 陈建国居住出租房, 21 days, every 15
)

func taskOf(tb testing.TB, tasks []syncproto.Task, site string) syncproto.Task {
	tb.Helper()
	for _, t := range tasks {
		if t.SiteID == site {
			return t
		}
	}
	tb.Fatalf("no task for site %s", site)
	return syncproto.Task{}
}

// TestListsOffline: Sync keeps the checklists and the task list on the
// device; with the server gone they are still there, and an inspection
// made offline takes its site off the due list at once (one with result
// no_access does not, as on the server).
func TestListsOffline(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	if rep := worker.sync(); !rep.ListsRefreshed {
		t.Fatalf("first sync did not fetch the lists: %+v", rep)
	}
	if rep := worker.sync(); rep.ListsRefreshed {
		t.Fatalf("the lists were fetched again within ListsMaxAge: %+v", rep)
	}
	srv.Stop()

	tasks, err := worker.Tasks(TaskQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 6 || tasks[0].Status != syncproto.CheckOverdue {
		t.Fatalf("got %d tasks, the first %+v; want grid G01's 6, most urgent first", len(tasks), tasks[0])
	}
	if got := taskOf(t, tasks, siteNever); got.Status != syncproto.CheckNever || got.LastCheckedAt != nil || got.IntervalDays == 0 {
		t.Fatalf("never-checked site: %+v", got)
	}
	if got := taskOf(t, tasks, siteOverdue); got.Status != syncproto.CheckOverdue || got.AgeDays != 21 || got.DueAt == nil {
		t.Fatalf("overdue site: %+v", got)
	}
	cls, err := worker.Checklists("", false)
	if err != nil || len(cls) != 9 {
		t.Fatalf("got %d checklists, %v; want the 9 kinds", len(cls), err)
	}
	if hh, err := worker.Checklists("household", true); err != nil || len(hh) != 1 || len(hh[0].Items) == 0 {
		t.Fatalf("household checklist: %+v, %v", hh, err)
	}

	worker.create("inspections", Fields{"site": siteNever, "result": syncproto.InspectionNoAccess, "finished_at": time.Now().UnixMilli()})
	if got := taskOf(t, mustTasks(t, worker, TaskQuery{}), siteNever); got.Status != syncproto.CheckNever {
		t.Fatalf("a no_access visit counted as a check: %+v", got)
	}
	checked := time.Now().Add(-2 * time.Hour)
	insp := worker.create("inspections", Fields{"site": siteNever, "result": syncproto.InspectionPass, "finished_at": checked.UnixMilli()})
	got := taskOf(t, mustTasks(t, worker, TaskQuery{}), siteNever)
	if got.Status != syncproto.CheckOK || got.LastInspection != insp || got.LastCheckedAt == nil || !got.LastCheckedAt.Equal(checked.Truncate(time.Millisecond)) {
		t.Fatalf("after an offline inspection: %+v", got)
	}
	if due := mustTasks(t, worker, TaskQuery{Statuses: []string{"never"}}); len(due) != 0 {
		t.Fatalf("never-checked sites after the inspection: %+v", due)
	}
}

func mustTasks(tb testing.TB, d *device, q TaskQuery) []syncproto.Task {
	tb.Helper()
	tasks, err := d.Tasks(q)
	if err != nil {
		tb.Fatal(err)
	}
	return tasks
}

// TestBatch: a batch's writes see each other, and land in the outbox all
// together or not at all.
func TestBatch(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	before := worker.outbox().Pending

	t.Run("ErrRolledBack", func(t *testing.T) {
		b, err := worker.BeginBatch()
		if err != nil {
			t.Fatal(err)
		}
		insp, err := b.Create("inspections", Fields{"site": siteG01, "result": "pass"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create("inspection_items", Fields{"inspection": insp, "item": "HH-01", "result": "pass"}); err != nil {
			t.Fatalf("an item of the batch's own inspection: %v", err)
		}
		_, err = b.Create("inspection_items", Fields{"inspection": insp, "item": "HH-02", "result": "maybe"})
		wantCode(t, err, syncproto.CodeInvalidValue)
		if err := b.Rollback(); err != nil {
			t.Fatal(err)
		}
		if got := worker.outbox().Pending; got != before {
			t.Fatalf("outbox %d after a rolled-back batch, want %d", got, before)
		}
		if docs, _ := worker.List("inspections", Query{}); len(docs) != 0 {
			t.Fatalf("rolled-back inspection visible: %d", len(docs))
		}
	})
	t.Run("OK", func(t *testing.T) {
		b, err := worker.BeginBatch()
		if err != nil {
			t.Fatal(err)
		}
		defer b.Rollback()
		insp, err := b.Create("inspections", Fields{"site": siteG01, "result": "pass"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create("inspection_items", Fields{"inspection": insp, "item": "HH-01", "result": "pass"}); err != nil {
			t.Fatal(err)
		}
		if err := b.Update("inspections", insp, Change{Set: map[string]any{"note": "两项已查"}}); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := b.Rollback(); err != nil {
			t.Fatalf("rollback after commit: %v", err)
		}
		if got := worker.outbox().Pending; got != before+3 {
			t.Fatalf("outbox %d, want %d", got, before+3)
		}
		if rep := worker.sync(); rep.Accepted != 3 {
			t.Fatalf("got %+v, want the batch's 3 ops accepted", rep)
		}
	})
}
