package sqlite

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/gridsync/gridsync/server"
)

// FuzzParseCursor: a pull cursor comes from the device. Parsing must not
// panic; a cursor it accepts has a seq >= 0 and prints back to a cursor
// that parses to the same value.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"0.330399101201G01.grid_worker", "90211.330399.county_admin", "", "x", "1.2", "-1.a.b", "1.a.b.c", "9999999999999999999.a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			if server.ErrorCode(err) != server.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		again, err := parseCursor(c.String())
		if c.seq < 0 || err != nil || again != c {
			t.Fatalf("cursor %q parsed to %+v, which prints as %q and parses to %+v, %v", s, c, c.String(), again, err)
		}
	})
}

// FuzzParseSnapshotPage: a snapshot page token comes from the device too.
func FuzzParseSnapshotPage(f *testing.F) {
	tok := func(pg snapshotPage) string {
		b, _ := json.Marshal(pg)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	f.Add(tok(snapshotPage{Cursor: "52.330399101201G01.grid_worker", AreaPath: "/330399/330399101/", Collection: "sites", ID: "0192f000-0000-7000-8000-000000000001"}))
	f.Add(tok(snapshotPage{Cursor: "x"}))
	f.Add("not base64!")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"c":1}`)))
	f.Fuzz(func(t *testing.T, token string) {
		_, c, err := parseSnapshotPage(token)
		if err != nil {
			if server.ErrorCode(err) != server.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if c.seq < 0 {
			t.Fatalf("token %q gave seq %d", token, c.seq)
		}
	})
}
