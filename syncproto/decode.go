package syncproto

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unicode/utf8"
)

// DecodePush decodes an untrusted push body. It refuses, with a
// *RejectError for the whole request:
//
//   - bodies over MaxPushBytes (CodeTooLarge);
//   - anything but one JSON object in valid UTF-8, members that are not in
//     the protocol or differ from it in letter case, duplicate members, and
//     nesting deeper than MaxJSONDepth (CodeInvalidOp);
//   - another protocol version (CodeUnsupportedProtocol);
//   - a malformed device id or outbox report (CodeInvalidOp), more than
//     MaxOpsPerPush ops (CodeTooLarge).
//
// Each op is decoded but not judged: problems with one op must reach the
// device as that op's Verdict, not block the whole outbox, so the server
// checks every op with Schema.ValidateOp and compares op.Device with
// req.Device (CodeWrongDevice).
func DecodePush(data []byte) (*PushRequest, error) {
	if len(data) > MaxPushBytes {
		return nil, reject(CodeTooLarge, "push body is %d bytes, limit %d", len(data), MaxPushBytes)
	}
	if !utf8.Valid(data) {
		return nil, reject(CodeInvalidOp, "push body is not valid UTF-8")
	}
	if err := checkStrict(data, pushShape); err != nil {
		return nil, reject(CodeInvalidOp, "push body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req PushRequest
	if err := dec.Decode(&req); err != nil {
		return nil, reject(CodeInvalidOp, "push body: %v", err)
	}
	switch {
	case req.Protocol != ProtocolVersion:
		return nil, reject(CodeUnsupportedProtocol, "protocol %d, this server speaks %d", req.Protocol, ProtocolVersion)
	case !ValidDeviceID(req.Device):
		return nil, reject(CodeInvalidOp, "device id %q is malformed", req.Device)
	case len(req.Ops) > MaxOpsPerPush:
		return nil, reject(CodeTooLarge, "push has %d ops, limit %d", len(req.Ops), MaxOpsPerPush)
	case req.Outbox.Pending < 0 || req.Outbox.OldestPendingMS < 0:
		return nil, reject(CodeInvalidOp, "outbox report has negative numbers")
	case utf8.RuneCountInString(req.Outbox.AppVersion) > MaxStringLen:
		return nil, reject(CodeTooLarge, "app version longer than %d runes", MaxStringLen)
	}
	return &req, nil
}

// shape describes the JSON a Go type accepts, for checkStrict. A nil
// *shape accepts any JSON value.
type shape struct {
	fields map[string]*shape // struct: exactly these member names
	elem   *shape            // map value or array element
	isMap  bool
}

var (
	pushShape       = shapeOf(reflect.TypeFor[PushRequest]())
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessage      = reflect.TypeFor[json.RawMessage]()
)

// shapeOf derives a shape from a type's json tags, so the strict check can
// never disagree with the wire types. Text-unmarshaled types and raw JSON
// accept any value (their own decoding is strict).
func shapeOf(t reflect.Type) *shape {
	if t == rawMessage || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return shapeOf(t.Elem())
	case reflect.Map:
		return &shape{isMap: true, elem: shapeOf(t.Elem())}
	case reflect.Slice, reflect.Array:
		return &shape{elem: shapeOf(t.Elem())}
	case reflect.Struct:
		s := &shape{fields: make(map[string]*shape)}
		for f := range t.Fields() {
			if !f.IsExported() {
				continue
			}
			name, _, _ := bytes.Cut([]byte(f.Tag.Get("json")), []byte(","))
			switch string(name) {
			case "-":
				continue
			case "":
				name = []byte(f.Name)
			}
			s.fields[string(name)] = shapeOf(f.Type)
		}
		return s
	}
	return nil
}

// checkStrict walks data and refuses what encoding/json would let through
// silently: object members that differ from a struct's in letter case
// (encoding/json matches case-insensitively), duplicate members (the last
// would win, so two readers could see different values), nesting beyond
// MaxJSONDepth, and anything after the first value. Types are left to
// encoding/json.
func checkStrict(data []byte, s *shape) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkStrict(dec, s, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func walkStrict(dec *json.Decoder, s *shape, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if depth >= MaxJSONDepth {
		return fmt.Errorf("JSON nested deeper than %d", MaxJSONDepth)
	}
	var elem *shape
	if s != nil {
		elem = s.elem
	}
	switch delim {
	case '[':
		for dec.More() {
			if err := walkStrict(dec, elem, depth+1); err != nil {
				return err
			}
		}
	case '{':
		seen := make(map[string]bool)
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key := tok.(string) // the decoder only yields string keys
			if seen[key] {
				return fmt.Errorf("duplicate member %q", key)
			}
			seen[key] = true
			sub := elem
			if s != nil && s.fields != nil {
				var ok bool
				if sub, ok = s.fields[key]; !ok {
					return fmt.Errorf("unknown member %q", key)
				}
			}
			if err := walkStrict(dec, sub, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
