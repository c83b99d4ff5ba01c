package client

import (
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
)

// TestPulledAreaEqualsSnapshot: a document whose area is its author's (an
// incident quick report) has the same area on the author's phone before it
// syncs, on a phone that pulls it, and on a phone that bootstraps from a
// snapshot, so that all three replicas agree and area filters work.
func TestPulledAreaEqualsSnapshot(t *testing.T) {
	srv := apptest.Start(t)
	village := loginDevice(t, srv, "village-1-1")
	village.sync() // bootstrapped before the incident: it arrives by pull

	worker := loginDevice(t, srv, "worker-1-1-1")
	id := worker.create("incidents", Fields{"occurred_at": time.Now().Add(-10 * time.Minute).UnixMilli(), "title": "柴草堆起火"})
	if got := worker.get("incidents", id).Area; got != gridG01 {
		t.Fatalf("unsynced incident on the author's phone: area %q, want %q", got, gridG01)
	}
	worker.sync()

	village.sync()
	late := loginDevice(t, srv, "village-1-1")
	late.sync() // a new phone: the incident arrives in the snapshot

	pulled, snap := village.confirmed(), late.confirmed()
	key := [2]string{"incidents", id}
	if pulled[key].Area != gridG01 || snap[key].Area != gridG01 {
		t.Fatalf("incident area: pulled %q, snapshot %q, want %q", pulled[key].Area, snap[key].Area, gridG01)
	}
	for k, st := range snap {
		if pulled[k].Area != st.Area {
			t.Errorf("%s/%s: pulled area %q, snapshot area %q", k[0], k[1], pulled[k].Area, st.Area)
		}
	}
}

// TestLostOpReported: an op that left this device's file without reaching
// the server (a damaged file) shows up as Lost once the server reports the
// gap, instead of vanishing silently.
func TestLostOpReported(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	lost := worker.create("sites", Fields{"grid": gridG01, "name": "丢失的登记", "kind": "household"})
	worker.create("sites", Fields{"grid": gridG01, "name": "之后的登记", "kind": "household"})
	// Damage the file: the first op disappears from the outbox.
	if _, err := worker.w.Exec(`DELETE FROM outbox WHERE doc_id = ?`, lost); err != nil {
		t.Fatal(err)
	}
	rep := worker.sync()
	if rep.Accepted != 1 || len(rep.Lost) != 1 {
		t.Fatalf("got %+v, want the later op accepted and the first reported lost", rep)
	}
}
