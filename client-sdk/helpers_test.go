package client

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// Demo county facts (fixtures/README.md).
const (
	demoPassword = "demo-password"
	gridG01      = "330399101201G01"
	gridG02      = "330399101201G02"
	// siteG01 is a demo site in grid G01 (徐永福户), siteG02 one in G02.
	siteG01 = "0192f000-0000-7000-8000-000000000001"
	siteG02 = "0192f000-0000-7000-8000-000000000007"
)

// device is a Client under test with what it takes to reopen it, as after
// the app was killed.
type device struct {
	*Client
	tb   testing.TB
	path string
	opt  Options
	user string
}

// fastOptions retry quickly so that tests with injected failures stay fast.
func fastOptions(url string) Options {
	return Options{ServerURL: url, AppVersion: "test", MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		MaxRetries: 8, RequestTimeout: 20 * time.Second}
}

// openDevice opens a device on a new file in a temp folder.
func openDevice(tb testing.TB, opt Options) *device {
	tb.Helper()
	d := &device{tb: tb, path: filepath.Join(tb.TempDir(), "device.db"), opt: opt}
	c, err := Open(d.path, opt)
	if err != nil {
		tb.Fatal(err)
	}
	d.Client = c
	tb.Cleanup(func() { d.Client.Close() })
	return d
}

// loginDevice opens a device for the server and logs user in.
func loginDevice(tb testing.TB, srv *apptest.Server, user string) *device {
	tb.Helper()
	d := openDevice(tb, fastOptions(srv.URL()))
	d.login(user)
	return d
}

func (d *device) login(user string) {
	d.tb.Helper()
	if err := d.Login(context.Background(), user, demoPassword); err != nil {
		d.tb.Fatalf("login %s: %v", user, err)
	}
	d.user = user
}

// reopen closes the client and opens its file again.
func (d *device) reopen() {
	d.tb.Helper()
	if err := d.Client.Close(); err != nil {
		d.tb.Fatal(err)
	}
	c, err := Open(d.path, d.opt)
	if err != nil {
		d.tb.Fatal(err)
	}
	d.Client = c
}

func (d *device) sync() *SyncReport {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := d.Sync(ctx)
	if err != nil {
		d.tb.Fatalf("%s: sync: %v", d.user, err)
	}
	return rep
}

func (d *device) create(collection string, f Fields) string {
	d.tb.Helper()
	id, err := d.Create(collection, f)
	if err != nil {
		d.tb.Fatalf("create %s: %v", collection, err)
	}
	return id
}

func (d *device) update(collection, id string, ch Change) {
	d.tb.Helper()
	if err := d.Update(collection, id, ch); err != nil {
		d.tb.Fatalf("update %s/%s: %v", collection, id, err)
	}
}

func (d *device) get(collection, id string) *Doc {
	d.tb.Helper()
	doc, err := d.Get(collection, id)
	if err != nil {
		d.tb.Fatalf("get %s/%s: %v", collection, id, err)
	}
	return doc
}

func (d *device) outbox() OutboxStatus {
	d.tb.Helper()
	s, err := d.Outbox()
	if err != nil {
		d.tb.Fatal(err)
	}
	return s
}

// confirmed returns the confirmed replica.
func (d *device) confirmed() map[[2]string]syncproto.DocState {
	d.tb.Helper()
	rows, err := d.r.Query(`SELECT collection, id FROM docs`)
	if err != nil {
		d.tb.Fatal(err)
	}
	var keys [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			d.tb.Fatal(err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	out := map[[2]string]syncproto.DocState{}
	for _, k := range keys {
		st, _, err := loadState(d.r, "docs", k[0], k[1])
		if err != nil {
			d.tb.Fatal(err)
		}
		out[k] = st
	}
	return out
}

// wantCode checks that err is a local or server refusal with code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := syncproto.ErrorCode(err); got != code {
		tb.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

var errCrash = errors.New("injected crash")

// crashAt makes the device fail at point once, as if the app died after
// the server's reply arrived and before it was stored.
func (d *device) crashAt(point string) {
	fired := false
	d.crashHook = func(p string) error {
		if p == point && !fired {
			fired = true
			return errCrash
		}
		return nil
	}
}
