package syncproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

func readExample(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/push_example.json")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestPushExample checks the example in docs/PROTOCOL.md (kept in
// testdata) is a valid push whose ops a grid worker may apply in order.
func TestPushExample(t *testing.T) {
	req, err := DecodePush(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Ops) != 2 || req.Ops[1].Remove["photos"][sha256Example][0] != (OpID{"phone-li-7c1e", 41}) {
		t.Fatalf("decoded %+v", req)
	}
	schema := DefaultSchema()
	c := MustCollection(t, "hazards")
	var s DocState
	for i := range req.Ops {
		op := &req.Ops[i]
		if err := schema.ValidateOp(op); err != nil {
			t.Fatalf("op %s: %v", op.ID(), err)
		}
		if err := c.Authorize(RoleGridWorker, op, &s); err != nil {
			t.Fatalf("op %s: %v", op.ID(), err)
		}
		if s, _, err = Apply(c, s, op); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.Status("status"); st.Stage != StageSubmitted {
		t.Errorf("status: got %q, want %q", st.Stage, StageSubmitted)
	}
	if got := s.Elements("photos"); len(got) != 1 || got[0] == sha256Example {
		t.Errorf("photos: got %q", got)
	}
}

const sha256Example = "9f2c4e0b8a7d6c5b4a3928171605f4e3d2c1b0a99887766554433221100ffeed"

func TestDecodePush(t *testing.T) {
	example := string(readExample(t))
	minimal := func(extra string) string {
		return `{"protocol":1,"device":"phone-li-7c1e","device_time":1,"outbox":{"pending":0,"oldest_pending_ms":0,"app_version":"1"},"ops":[]` + extra + `}`
	}
	tests := []struct {
		name string
		body string
		code string
	}{
		{"OK", example, ""},
		{"OKNoOps", minimal(""), ""},
		{"ErrUnknownMember", minimal(`,"extra":1`), CodeInvalidOp},
		{"ErrUnknownOpMember", strings.Replace(example, `"seq": 41`, `"seq": 41, "sequence": 41`, 1), CodeInvalidOp},
		{"ErrCaseVariant", strings.Replace(example, `"protocol"`, `"Protocol"`, 1), CodeInvalidOp},
		{"ErrCaseVariantInOp", strings.Replace(example, `"collection"`, `"COLLECTION"`, 1), CodeInvalidOp},
		{"ErrDuplicateMember", minimal(`,"device":"phone-wang-01"`), CodeInvalidOp},
		{"ErrDuplicateMapKey", strings.Replace(example, `"severity": "general"`, `"severity": "general", "severity": "major"`, 1), CodeInvalidOp},
		{"ErrTrailingData", minimal("") + "{}", CodeInvalidOp},
		{"ErrNotObject", `[]`, CodeInvalidOp},
		{"ErrEmpty", ``, CodeInvalidOp},
		{"ErrBadUTF8", strings.Replace(example, "Extension", "Ext\xffension", 1), CodeInvalidOp},
		{"ErrBadHLC", strings.Replace(example, `"1732599000000-00000"`, `"1732599000000-0"`, 1), CodeInvalidOp},
		{"ErrBadTag", strings.Replace(example, `"phone-li-7c1e:41"`, `"phone-li-7c1e:041"`, 1), CodeInvalidOp},
		{"ErrNegativeSeq", strings.Replace(example, `"seq": 41`, `"seq": -41`, 1), CodeInvalidOp},
		{"ErrDeep", minimal(`,"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100)), CodeInvalidOp},
		{"ErrDeepValue", strings.Replace(example, `"severity": "general"`, `"severity": `+strings.Repeat("[", 40)+strings.Repeat("]", 40), 1), CodeInvalidOp},
		// The push object, ops, an op and its set are 4 levels.
		{"OKMaxJSONDepth", strings.Replace(example, `"severity": "general"`, `"severity": `+strings.Repeat("[", MaxJSONDepth-4)+strings.Repeat("]", MaxJSONDepth-4), 1), ""},
		{"ErrMaxJSONDepth", strings.Replace(example, `"severity": "general"`, `"severity": `+strings.Repeat("[", MaxJSONDepth-3)+strings.Repeat("]", MaxJSONDepth-3), 1), CodeInvalidOp},
		{"ErrProtocol", strings.Replace(minimal(""), `"protocol":1`, `"protocol":2`, 1), CodeUnsupportedProtocol},
		{"ErrNoProtocol", strings.Replace(minimal(""), `"protocol":1,`, ``, 1), CodeUnsupportedProtocol},
		{"ErrDevice", strings.Replace(minimal(""), `"phone-li-7c1e"`, `"p1"`, 1), CodeInvalidOp},
		{"ErrPendingNegative", strings.Replace(minimal(""), `"pending":0`, `"pending":-1`, 1), CodeInvalidOp},
		{"ErrAppVersionLong", strings.Replace(minimal(""), `"app_version":"1"`, `"app_version":"`+strings.Repeat("v", MaxStringLen+1)+`"`, 1), CodeTooLarge},
		{"OKAppVersionMax", strings.Replace(minimal(""), `"app_version":"1"`, `"app_version":"`+strings.Repeat("版", MaxStringLen)+`"`, 1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePush([]byte(tt.body))
			if got := ErrorCode(err); got != tt.code {
				t.Fatalf("got %q (%v), want %q", got, err, tt.code)
			}
		})
	}
}

// pushWithOps returns a push body holding n copies of a small op.
func pushWithOps(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"protocol":1,"device":"phone-li-7c1e","device_time":1,"outbox":{"pending":0,"oldest_pending_ms":0,"app_version":""},"ops":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"device":"phone-li-7c1e","seq":%d,"hlc":"1732600000000-%05d","collection":"hazards","doc":"h1","set":{"title":"t"}}`, i+1, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func TestDecodePushLimits(t *testing.T) {
	t.Run("OKMaxOpsPerPush", func(t *testing.T) {
		req, err := DecodePush(pushWithOps(MaxOpsPerPush))
		if err != nil || len(req.Ops) != MaxOpsPerPush {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrMaxOpsPerPush", func(t *testing.T) {
		if _, err := DecodePush(pushWithOps(MaxOpsPerPush + 1)); ErrorCode(err) != CodeTooLarge {
			t.Fatalf("got %v, want %s", err, CodeTooLarge)
		}
	})
	t.Run("ErrMaxPushBytes", func(t *testing.T) {
		body := []byte(strings.Replace(string(pushWithOps(1)), `"title":"t"`, `"title":"`+strings.Repeat("t", MaxPushBytes)+`"`, 1))
		if _, err := DecodePush(body); ErrorCode(err) != CodeTooLarge {
			t.Fatalf("got %v, want %s", err, CodeTooLarge)
		}
	})
	t.Run("OKMaxPushBytes", func(t *testing.T) {
		body := pushWithOps(1)
		body = append(body[:len(body)-1], bytes.Repeat([]byte(" "), MaxPushBytes-len(body))...)
		body = append(body, '}')
		if len(body) != MaxPushBytes {
			t.Fatalf("test body is %d bytes", len(body))
		}
		if _, err := DecodePush(body); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWireJSONNames pins the snake_case member names of every message.
func TestWireJSONNames(t *testing.T) {
	h := HLC{Wall: t0}
	tests := []struct {
		v    any
		want string
	}{
		{Verdict{Seq: 3, Status: StatusRejected, Code: CodeDocDeleted, Reason: "r", HLC: &h},
			`{"seq":3,"status":"rejected","code":"doc_deleted","reason":"r","hlc":"1732300000000-00000"}`},
		{Verdict{Seq: 4, Status: StatusAccepted, ServerSeq: 99}, `{"seq":4,"status":"accepted","server_seq":99}`},
		{PushResponse{Protocol: 1, ServerHLC: h, LastSeq: 4, AckedSeq: 1, Missing: []uint64{2, 3}, Verdicts: []Verdict{}, ClockReset: true},
			`{"protocol":1,"server_hlc":"1732300000000-00000","last_seq":4,"acked_seq":1,"missing":[2,3],"verdicts":[],"clock_reset":true}`},
		{PullResponse{Protocol: 1, Changes: []Change{{ServerSeq: 1, Op: Op{Device: devLi, Seq: 1, HLC: h, Collection: "c", Doc: "d", Delete: true}, User: "u", ReceivedAt: 5}}, Cursor: "c1", ServerHLC: h},
			`{"protocol":1,"changes":[{"server_seq":1,"op":{"device":"phone-li-7c1e","seq":1,"hlc":"1732300000000-00000","collection":"c","doc":"d","delete":true},"user":"u","received_at":5}],"cursor":"c1","has_more":false,"server_hlc":"1732300000000-00000"}`},
		{SnapshotResponse{Protocol: 1, Cursor: "c1", Docs: []DocState{{Collection: "c", ID: "d"}}, HasMore: true, Next: "n", ServerHLC: h},
			`{"protocol":1,"cursor":"c1","docs":[{"collection":"c","id":"d"}],"next":"n","has_more":true,"server_hlc":"1732300000000-00000"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("got  %s\nwant %s", b, tt.want)
		}
	}
}
