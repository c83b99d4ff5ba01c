package client

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/syncproto"
)

// Fuzz targets for every decoder of server replies (untrusted input). Seed
// corpora are in testdata/fuzz/<target>/; run one with
//
//	go test ./client-sdk -run '^$' -fuzz FuzzDecodePullResponse -fuzztime 30s

// fuzzSent is the push the fuzzed push replies answer.
var fuzzSent = []syncproto.Op{
	{Device: "phone-li-7c1e", Seq: 5, Collection: "sites", Doc: "s1", Set: map[string]json.RawMessage{"phone": json.RawMessage(`"1"`)}},
	{Device: "phone-li-7c1e", Seq: 6, Collection: "sites", Doc: "s1", Delete: true},
}

func FuzzDecodePushResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodePushResponse(data, fuzzSent)
		if err != nil {
			return
		}
		if len(r.Verdicts) != len(fuzzSent) {
			t.Fatalf("accepted %d verdicts for %d ops", len(r.Verdicts), len(fuzzSent))
		}
		for i, v := range r.Verdicts {
			if v.Seq != fuzzSent[i].Seq || v.Status == syncproto.StatusAccepted && v.ServerSeq <= 0 ||
				v.Status == syncproto.StatusRejected && v.Code == "" {
				t.Fatalf("accepted verdict %+v", v)
			}
		}
	})
}

func FuzzDecodePullResponse(f *testing.F) {
	schema := syncproto.DefaultSchema()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodePullResponse(data)
		if err != nil {
			return
		}
		var last int64
		for _, ch := range r.Changes {
			if ch.ServerSeq <= last {
				t.Fatalf("accepted changes out of order")
			}
			last = ch.ServerSeq
			if ch.Area != "" && !syncproto.ValidDocID(ch.Area) {
				t.Fatalf("accepted a change with area %q", ch.Area)
			}
			// What the device does with a change must not panic, and a
			// state it stores must encode.
			col, ok := schema.Collection(ch.Op.Collection)
			if !ok {
				continue
			}
			st, _, err := syncproto.Apply(col, syncproto.DocState{}, &ch.Op)
			if err != nil {
				continue
			}
			if _, err := json.Marshal(st); err != nil {
				t.Fatalf("state of an accepted change does not encode: %v", err)
			}
		}
	})
}

func FuzzDecodeSnapshotResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeSnapshotResponse(data)
		if err != nil {
			return
		}
		if r.Cursor == "" || r.HasMore && r.Next == "" {
			t.Fatalf("accepted a page without cursor or next token")
		}
		for _, d := range r.Docs {
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatalf("accepted doc does not encode: %v", err)
			}
			var back syncproto.DocState
			if err := json.Unmarshal(b, &back); err != nil || !back.Equal(d) {
				t.Fatalf("doc does not survive the local file: %v", err)
			}
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, retry string, data []byte) {
		e := decodeError(status, retry, data)
		if e.Code == "" || e.Status != status || e.RetryAfter < 0 {
			t.Fatalf("got %+v", e)
		}
		_ = e.Error()
	})
}

func FuzzDecodeSession(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeSession(data)
		if err != nil {
			return
		}
		if s.AccessToken == "" || s.RefreshToken == "" || s.User == nil || s.User.Role == "" {
			t.Fatalf("accepted session %+v", s)
		}
	})
}

func FuzzDecodeConflicts(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeConflicts(data)
	})
}

// fuzzBase is the server URL the fuzzed tus replies answer.
var fuzzBase = &url.URL{Scheme: "https", Host: "sync.example.org"}

// FuzzDecodeTusReply feeds tus response headers (method by index: POST,
// HEAD, PATCH): an accepted reply has sane offsets and sends the token
// nowhere but the server.
func FuzzDecodeTusReply(f *testing.F) {
	methods := []string{http.MethodPost, http.MethodHead, http.MethodPatch}
	f.Fuzz(func(t *testing.T, m uint8, status int, resumable, offset, length, location string) {
		method := methods[int(m)%len(methods)]
		h := http.Header{}
		for k, v := range map[string]string{"Tus-Resumable": resumable, "Upload-Offset": offset, "Upload-Length": length, "Location": location} {
			if v != "" {
				h.Set(k, v)
			}
		}
		r, err := decodeTusReply(fuzzBase, method, status, h)
		if err != nil {
			return
		}
		switch method {
		case http.MethodPost:
			u, err := url.Parse(r.location)
			if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, "sync.example.org") || u.User != nil {
				t.Fatalf("accepted Location %q as %q", location, r.location)
			}
		case http.MethodHead:
			if r.offset < 0 || r.offset > r.length {
				t.Fatalf("accepted offset %d of %d", r.offset, r.length)
			}
		case http.MethodPatch:
			if r.offset < 0 {
				t.Fatalf("accepted offset %d", r.offset)
			}
		}
	})
}

func FuzzDecodeMissing(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := decodeMissing(data)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !syncproto.ValidSHA256(p.SHA256) {
				t.Fatalf("accepted sha %q", p.SHA256)
			}
		}
	})
}

func FuzzDecodeDocPhotos(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		present, err := decodeDocPhotos(data)
		if err != nil {
			return
		}
		for sha := range present {
			if !syncproto.ValidSHA256(sha) {
				t.Fatalf("accepted sha %q", sha)
			}
		}
	})
}

// FuzzDecodeTasks: a task list the decoder accepts can be stored and read
// back, and every task's status computed at any time.
func FuzzDecodeTasks(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tasks, err := decodeTasks(data)
		if err != nil {
			return
		}
		for _, task := range tasks {
			if !syncproto.ValidDocID(task.SiteID) || task.IntervalDays < 1 {
				t.Fatalf("accepted task %+v", task)
			}
			var last time.Time
			if task.LastCheckedAt != nil {
				last = *task.LastCheckedAt
			}
			syncproto.CheckSite(last, task.IntervalDays, time.Now())
			if _, err := json.Marshal(task); err != nil {
				t.Fatalf("accepted task does not encode: %v", err)
			}
		}
	})
}

// FuzzDecodeChecklists: every accepted checklist has a kind, a version
// and item codes an inspection can name.
func FuzzDecodeChecklists(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cls, err := decodeChecklists(data)
		if err != nil {
			return
		}
		for _, cl := range cls {
			if !syncproto.ValidDocID(cl.Kind) || cl.Version < 1 {
				t.Fatalf("accepted checklist %q v%d", cl.Kind, cl.Version)
			}
			for _, it := range cl.Items {
				if it.Code == "" || len(it.Code) > syncproto.MaxIDLen {
					t.Fatalf("accepted item code %q", it.Code)
				}
			}
		}
	})
}
