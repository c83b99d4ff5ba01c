package client

import (
	"errors"
	"net/url"
	"testing"
)

func TestResolveUpload(t *testing.T) {
	base := &url.URL{Scheme: "https", Host: "sync.example.org:8443"}
	tests := []struct {
		name, loc, want string
	}{
		{"Path", "/v1/uploads/ab12", "https://sync.example.org:8443/v1/uploads/ab12"},
		{"Absolute", "https://sync.example.org:8443/v1/uploads/ab12", "https://sync.example.org:8443/v1/uploads/ab12"},
		{"HostCase", "https://SYNC.example.org:8443/v1/uploads/ab12", "https://SYNC.example.org:8443/v1/uploads/ab12"},
		{"FragmentDropped", "/v1/uploads/ab12#x", "https://sync.example.org:8443/v1/uploads/ab12"},
		{"ErrOtherHost", "https://evil.example.com/v1/uploads/ab12", ""},
		{"ErrOtherPort", "https://sync.example.org/v1/uploads/ab12", ""},
		{"ErrDowngrade", "http://sync.example.org:8443/v1/uploads/ab12", ""},
		{"ErrSchemeRelative", "//evil.example.com/v1/uploads/ab12", ""},
		{"ErrUserinfo", "https://u:p@sync.example.org:8443/v1/uploads/ab12", ""},
		{"ErrEmpty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveUpload(base, tt.loc)
			if tt.want == "" {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("got %q, %v; want ErrProtocol", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// What the uploader does with each answer of the server
// (docs/PROTOCOL-photos.md, error codes).
func TestClassifyUploadErrors(t *testing.T) {
	sending := &queued{url: "https://s/v1/uploads/1", size: 100, uploaded: 40}
	allIn := &queued{url: "https://s/v1/uploads/1", size: 100, uploaded: 100}
	u := &uploadRun{}
	api := func(status int, code string, details map[string]any) error {
		return &APIError{Status: status, Code: code, Details: details}
	}
	tests := []struct {
		name string
		err  error
		p    *queued
		want int
	}{
		{"TooLarge", api(413, "too_large", nil), sending, stepRefused},
		{"NotAPhoto", api(415, "unsupported_photo", nil), sending, stepRefused},
		{"WrongContentType", api(415, "unsupported_media", nil), sending, stepRefused},
		{"HashMismatch", api(422, "hash_mismatch", nil), sending, stepRefused},
		{"LocalCopyChanged", &localRefusal{CodeHashMismatch, "changed"}, sending, stepRefused},
		{"Gone", api(404, "not_found", nil), sending, stepGone},
		{"OffsetMismatch", api(409, "offset_mismatch", map[string]any{"offset": 50.0}), sending, stepRetry},
		{"ChecksumMismatch", api(460, "checksum_mismatch", nil), sending, stepRetry},
		{"Locked", api(423, "upload_locked", nil), sending, stepRetry},
		{"Quota", api(429, "quota_exceeded", nil), sending, stepRetry},
		{"BodyBrokeOff", api(400, "invalid", map[string]any{"offset": 10.0}), sending, stepRetry},
		{"StoreDownReceived", api(503, "unavailable", map[string]any{"received": true}), sending, stepReceived},
		{"HEADStoreDownAllSent", api(503, "unavailable", nil), allIn, stepReceived},
		{"Unavailable", api(503, "unavailable", nil), sending, stepRetry},
		{"Internal", api(500, "internal", nil), sending, stepRetry},
		{"Network", netError{errors.New("connection reset")}, sending, stepRetry},
		{"CaptivePortal", protocolError("no Tus-Resumable"), sending, stepRetry},
		{"NoSession", ErrLoginRequired, sending, stepFatal},
		{"Crash", errCrash, sending, stepFatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := u.classify(tt.err, tt.p); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}
