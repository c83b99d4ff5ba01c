package syncproto

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
)

func FuzzParseHLC(f *testing.F) {
	for _, s := range []string{"1732300000000-00002", "0000000000000-00000", "9999999999999-65535", "9999999999999-65536", "-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHLC(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidHLC) {
				t.Fatalf("error %v does not wrap ErrInvalidHLC", err)
			}
			return
		}
		// One clock value, one spelling.
		if b, err := h.MarshalText(); err != nil || string(b) != s {
			t.Fatalf("ParseHLC(%q) = %v, which marshals to %q, %v", s, h, b, err)
		}
	})
}

func FuzzParseStamp(f *testing.F) {
	for _, s := range []string{"1732300000000-00002@phone-li-7c1e", "1732300000000-00002@", "@phone-li-7c1e", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStamp(s)
		if err != nil {
			return
		}
		if b, err := st.MarshalText(); err != nil || string(b) != s {
			t.Fatalf("ParseStamp(%q) = %v, which marshals to %q, %v", s, st, b, err)
		}
		var back Stamp
		if err := back.UnmarshalText([]byte(s)); err != nil || back != st {
			t.Fatalf("UnmarshalText(%q) = %v, %v", s, back, err)
		}
	})
}

func FuzzParseOpID(f *testing.F) {
	for _, s := range []string{"phone-li-7c1e:42", "phone-li-7c1e:0", "phone-li-7c1e:18446744073709551616", ":1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseOpID(s)
		if err != nil {
			return
		}
		if b, err := id.MarshalText(); err != nil || string(b) != s {
			t.Fatalf("ParseOpID(%q) = %v, which marshals to %q, %v", s, id, b, err)
		}
	})
}

// FuzzDecodePush feeds untrusted push bodies through everything the server
// does with them: decode, validate, authorize, apply. Besides not
// panicking, it checks that a decoded push re-encodes to an equivalent
// push, that every op ValidateOp accepts can be applied, and that applying
// it is idempotent.
func FuzzDecodePush(f *testing.F) {
	if b, err := os.ReadFile("testdata/push_example.json"); err == nil {
		f.Add(b)
	}
	f.Add(pushWithOps(2))
	f.Add([]byte(`{"protocol":1,"device":"phone-li-7c1e","device_time":0,"outbox":{"pending":0,"oldest_pending_ms":0,"app_version":""},"ops":[{"device":"phone-li-7c1e","seq":1,"hlc":"1732600000000-00000","collection":"sites","doc":"s1","set":{"grid":"g1","name":"n","kind":"household","location":{"lat":1,"lng":2}}}]}`))
	schema := DefaultSchema()
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodePush(data)
		if err != nil {
			if ErrorCode(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("decoded push does not re-encode: %v", err)
		}
		req2, err := DecodePush(again)
		if err != nil {
			t.Fatalf("re-encoded push refused: %v\n%s", err, again)
		}
		if third, _ := json.Marshal(req2); string(third) != string(again) {
			t.Fatalf("re-encoding is not stable:\n%s\n%s", again, third)
		}
		for i := range req.Ops {
			op := &req.Ops[i]
			if err := schema.ValidateOp(op); err != nil {
				if ErrorCode(err) == "" {
					t.Fatalf("error without a code: %v", err)
				}
				continue
			}
			c, _ := schema.Collection(op.Collection)
			for _, role := range Roles() {
				_ = c.Authorize(role, op, nil)
			}
			s, _, err := Apply(c, DocState{}, op)
			if err != nil {
				t.Fatalf("valid op %s does not apply: %v", op.ID(), err)
			}
			if err := c.Authorize(RoleStationStaff, op, &s); ErrorCode(err) == "" && err != nil {
				t.Fatalf("error without a code: %v", err)
			}
			s2, conflicts, err := Apply(c, s, op)
			if err != nil || !s2.Equal(s) || len(conflicts) != 0 {
				t.Fatalf("re-applying %s changed the state (%v, %v)", op.ID(), err, conflicts)
			}
		}
	})
}

// FuzzMergeStates checks the join laws on arbitrary decoded states, which
// need not be ones honest replicas produce (unsorted tags, tied stamps).
func FuzzMergeStates(f *testing.F) {
	f.Add([]byte(`{"collection":"hazards","id":"h1","fields":{"title":{"v":"a","s":"1732300000000-00000@phone-li-7c1e"}}}`),
		[]byte(`{"collection":"hazards","id":"h1","fields":{"title":{"v":"b","s":"1732300000001-00000@phone-zhao-29b0","b":"1732300000000-00000@phone-li-7c1e"}}}`))
	f.Add([]byte(`{"sets":{"photos":{"x":{"a":["phone-li-7c1e:2","phone-li-7c1e:1"],"r":["phone-li-7c1e:1"]}}}}`),
		[]byte(`{"sets":{"photos":{"x":{"a":["phone-zhao-29b0:1"]}}},"deleted":"1732300000000-00000@phone-li-7c1e"}`))
	f.Add([]byte(`{"flows":{"status":{"round":2,"stage":"rectifying","rank":2,"s":"1732300000000-00000@phone-li-7c1e"}}}`),
		[]byte(`{"flows":{"status":{"round":1,"stage":"closed","rank":5,"s":"1732300000009-00000@phone-li-7c1e"}}}`))
	f.Fuzz(func(t *testing.T, x, y []byte) {
		var a, b DocState
		if json.Unmarshal(x, &a) != nil || json.Unmarshal(y, &b) != nil {
			return
		}
		ab, cab := Merge(a, b)
		ba, cba := Merge(b, a)
		if !ab.Equal(ba) || !reflect.DeepEqual(conflictKeys(cab, ""), conflictKeys(cba, "")) {
			t.Fatal("Merge is not commutative")
		}
		if len(cab) != len(cba) {
			t.Fatalf("conflicts depend on order: %d vs %d", len(cab), len(cba))
		}
		if m, _ := Merge(ab, a); !m.Equal(ab) {
			t.Fatal("merging a part back changed the whole")
		}
		if m, c := Merge(ab, ab); !m.Equal(ab) || len(c) != 0 {
			t.Fatal("Merge is not idempotent on its own output")
		}
	})
}
