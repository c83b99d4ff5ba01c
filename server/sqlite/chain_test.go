package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/server/sqlite"
)

// exportLines exports the chain and returns its lines, each ending in "\n".
func exportLines(tb testing.TB, s *sqlite.SyncService) []string {
	tb.Helper()
	var buf bytes.Buffer
	if _, _, err := s.ExportChain(context.Background(), &buf); err != nil {
		tb.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

// editEntry decodes line, lets edit change the entry and encodes it again.
func editEntry(tb testing.TB, line string, edit func(e *sqlite.ChainEntry)) string {
	tb.Helper()
	var e sqlite.ChainEntry
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		tb.Fatal(err)
	}
	edit(&e)
	b, err := json.Marshal(&e)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b) + "\n"
}

// TestChainCoversWhoWhereWhen: an export altered in who pushed an op, its
// area or its arrival time no longer verifies, nor one whose entry
// disagrees with its op, nor one that falls back to chain version 1.
func TestChainCoversWhoWhereWhen(t *testing.T) {
	e := mustSyncEnv(t)
	lines := exportLines(t, e.sync)
	if n, _, err := sqlite.VerifyChainExport(strings.NewReader(strings.Join(lines, ""))); err != nil || n != len(lines) {
		t.Fatalf("untouched export: %d entries, %v", n, err)
	}
	const at = 7 // op 8
	for _, tc := range []struct {
		name string
		edit func(e *sqlite.ChainEntry)
		want string
	}{
		{"ErrUser", func(e *sqlite.ChainEntry) { e.User = "station-2" }, "broken at op 8"},
		{"ErrArea", func(e *sqlite.ChainEntry) { e.Area = grid211 }, "broken at op 8"},
		{"ErrReceivedAt", func(e *sqlite.ChainEntry) { e.ReceivedAt -= 3_600_000 }, "broken at op 8"},
		{"ErrDevice", func(e *sqlite.ChainEntry) { e.Device = "another-device-01" }, "does not match its op"},
		{"ErrDocument", func(e *sqlite.ChainEntry) { e.Doc = "another-doc" }, "does not match its op"},
		{"ErrDowngrade", func(e *sqlite.ChainEntry) { e.Version = 1 }, "chain version 1 after version 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := append([]string(nil), lines...)
			edited[at] = editEntry(t, edited[at], tc.edit)
			_, _, err := sqlite.VerifyChainExport(strings.NewReader(strings.Join(edited, "")))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestChainVersionUpgrade: a log chained with version 1 up to some op and
// version 2 after it (a database upgraded in service) verifies in the
// database and as an export, and new ops extend it with version 2.
func TestChainVersionUpgrade(t *testing.T) {
	db := MustDemoDB(t)
	sqlite.RechainFromV1(t, db, 30)
	e := &syncEnv{db: db, auth: mustAuth(t, db), sync: mustSyncService(t, db)}
	d := newDevice("phone-worker-111")
	mustPush(t, e.sync, e.as(t, "worker-1-1-1", d.id), d.push(d.op("sites", "site-after-upgrade", site(grid111, "升级后登记"))))
	n, head, err := e.sync.VerifyChainHead(context.Background())
	if err != nil || n != 53 {
		t.Fatalf("database: %d ops, %v", n, err)
	}
	lines := exportLines(t, e.sync)
	versions := map[int]int{}
	for _, l := range lines {
		var e sqlite.ChainEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		versions[e.Version]++
	}
	if versions[1] != 30 || versions[2] != 23 {
		t.Fatalf("got versions %v, want 30 of v1 and 23 of v2", versions)
	}
	vn, vhead, err := sqlite.VerifyChainExport(strings.NewReader(strings.Join(lines, "")))
	if err != nil || vn != n || !bytes.Equal(vhead, head) {
		t.Fatalf("export: %d ops head %x, %v; database head %x", vn, vhead, err, head)
	}
	t.Run("ErrTamperedRow", func(t *testing.T) {
		sqlite.Exec(t, db, `UPDATE ops SET received_at = received_at + 1 WHERE seq = 40`)
		if _, err := e.sync.VerifyChain(context.Background()); err == nil || !strings.Contains(err.Error(), "broken at op 40") {
			t.Fatalf("got %v", err)
		}
	})
}
