package app_test

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/app"
	"github.com/gridsync/gridsync/server/jwt"
	"github.com/gridsync/gridsync/server/sqlite"
)

// parse runs ParseFlags with the given environment and arguments, as main
// does, and returns the Main.
func parse(env map[string]string, args ...string) (*app.Main, error) {
	m := app.NewMain()
	m.Stdout = io.Discard
	m.Getenv = func(name string) string { return env[name] }
	return m, m.ParseFlags(args)
}

func TestConfig(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		m, err := parse(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := m.Config
		for _, f := range []struct {
			name      string
			got, want any
		}{
			{"command", m.Command, "serve"},
			{"addr", c.Addr, "127.0.0.1:8080"},
			{"shutdown-timeout", c.ShutdownTimeout, 20 * time.Second},
			{"data", c.DataDir, "./data"},
			{"keys", c.KeysDir, filepath.Join("data", "keys")},
			{"demo", c.Demo, false},
			{"log-level", c.LogLevel, "info"},
			{"log-format", c.LogFormat, "text"},
			{"access-ttl", c.AccessTTL, 15 * time.Minute},
			{"refresh-ttl", c.RefreshTTL, sqlite.DefaultRefreshTTL},
			{"jwt-issuer", c.Issuer, jwt.DefaultIssuer},
			{"jwt-audience", c.Audience, jwt.DefaultAudience},
			{"blob", c.Blob, "folder"},
			{"minio-bucket", c.MinIO.Bucket, "gridsync-photos"},
			{"minio-endpoint", c.MinIO.Endpoint, ""},
			{"minio-tls", c.MinIO.UseTLS, false},
			{"photo-max-distance", c.PhotoMaxDistance, float64(server.DefaultPhotoMaxDistance)},
			{"photo-time-window", c.PhotoTimeWindow, server.DefaultPhotoTimeWindow},
			{"trusted-proxies", len(c.TrustedProxies), 0},
		} {
			if f.got != f.want {
				t.Errorf("%s: got %v, want %v", f.name, f.got, f.want)
			}
		}
	})

	env := map[string]string{
		"GRIDSYNC_ADDR":               "127.0.0.1:9999",
		"GRIDSYNC_SHUTDOWN_TIMEOUT":   "45s",
		"GRIDSYNC_DATA":               "/srv/gridsync",
		"GRIDSYNC_DEMO":               "true",
		"GRIDSYNC_LOG_LEVEL":          "debug",
		"GRIDSYNC_LOG_FORMAT":         "json",
		"GRIDSYNC_ACCESS_TTL":         "5m",
		"GRIDSYNC_REFRESH_TTL":        "240h",
		"GRIDSYNC_KEYS":               "/etc/gridsync/keys",
		"GRIDSYNC_JWT_ISSUER":         "county-330399",
		"GRIDSYNC_JWT_AUDIENCE":       "county-api",
		"GRIDSYNC_BLOB":               "minio",
		"GRIDSYNC_MINIO_ENDPOINT":     "127.0.0.1:9000",
		"GRIDSYNC_MINIO_BUCKET":       "photos",
		"GRIDSYNC_MINIO_ACCESS_KEY":   "access",
		"GRIDSYNC_MINIO_SECRET_KEY":   "secret",
		"GRIDSYNC_MINIO_TLS":          "1",
		"GRIDSYNC_PHOTO_MAX_DISTANCE": "150.5",
		"GRIDSYNC_PHOTO_TIME_WINDOW":  "2h",
		"GRIDSYNC_TRUSTED_PROXIES":    "10.0.0.0/8, 192.0.2.7,2001:db8::/32",
	}
	t.Run("Env", func(t *testing.T) {
		m, err := parse(env)
		if err != nil {
			t.Fatal(err)
		}
		c := m.Config
		for _, f := range []struct {
			name      string
			got, want any
		}{
			{"addr", c.Addr, "127.0.0.1:9999"},
			{"shutdown-timeout", c.ShutdownTimeout, 45 * time.Second},
			{"data", c.DataDir, "/srv/gridsync"},
			{"keys", c.KeysDir, "/etc/gridsync/keys"},
			{"demo", c.Demo, true},
			{"log-level", c.LogLevel, "debug"},
			{"log-format", c.LogFormat, "json"},
			{"access-ttl", c.AccessTTL, 5 * time.Minute},
			{"refresh-ttl", c.RefreshTTL, 240 * time.Hour},
			{"jwt-issuer", c.Issuer, "county-330399"},
			{"jwt-audience", c.Audience, "county-api"},
			{"blob", c.Blob, "minio"},
			{"minio-endpoint", c.MinIO.Endpoint, "127.0.0.1:9000"},
			{"minio-bucket", c.MinIO.Bucket, "photos"},
			{"minio-access-key", c.MinIO.AccessKey, "access"},
			{"minio-secret-key", c.MinIO.SecretKey, "secret"},
			{"minio-tls", c.MinIO.UseTLS, true},
			{"photo-max-distance", c.PhotoMaxDistance, 150.5},
			{"photo-time-window", c.PhotoTimeWindow, 2 * time.Hour},
			{"trusted-proxies", fmt.Sprint(c.TrustedProxies), "[10.0.0.0/8 192.0.2.7/32 2001:db8::/32]"},
		} {
			if f.got != f.want {
				t.Errorf("%s: got %v, want %v", f.name, f.got, f.want)
			}
		}
	})
	t.Run("FlagBeatsEnv", func(t *testing.T) {
		m, err := parse(env, "serve", "-trusted-proxies", "", "-addr", "127.0.0.1:7000", "-access-ttl", "30m", "-demo=false", "-minio-tls=false",
			"-minio-secret-key", "other", "-photo-max-distance", "80", "-log-format", "text", "-blob", "folder")
		if err != nil {
			t.Fatal(err)
		}
		c := m.Config
		if c.Addr != "127.0.0.1:7000" || c.AccessTTL != 30*time.Minute || c.Demo || c.MinIO.UseTLS ||
			c.MinIO.SecretKey != "other" || c.PhotoMaxDistance != 80 || c.LogFormat != "text" || c.Blob != "folder" ||
			fmt.Sprint(c.TrustedProxies) != "[]" {
			t.Fatalf("got %+v", c)
		}
		// What no flag overrides still comes from the environment.
		if c.DataDir != "/srv/gridsync" || c.RefreshTTL != 240*time.Hour {
			t.Fatalf("got data %q refresh %s, want the environment's", c.DataDir, c.RefreshTTL)
		}
	})
	// Every value that does not parse or is out of range is refused, and
	// the error names the setting.
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"EnvAccessTTLNoUnit", map[string]string{"GRIDSYNC_ACCESS_TTL": "15"}, nil, "GRIDSYNC_ACCESS_TTL"},
		{"EnvShutdownTimeout", map[string]string{"GRIDSYNC_SHUTDOWN_TIMEOUT": "20"}, nil, "GRIDSYNC_SHUTDOWN_TIMEOUT"},
		{"EnvShutdownTimeoutZero", map[string]string{"GRIDSYNC_SHUTDOWN_TIMEOUT": "0s"}, nil, "GRIDSYNC_SHUTDOWN_TIMEOUT"},
		{"EnvRefreshTTL", map[string]string{"GRIDSYNC_REFRESH_TTL": "a month"}, nil, "GRIDSYNC_REFRESH_TTL"},
		{"EnvPhotoTimeWindow", map[string]string{"GRIDSYNC_PHOTO_TIME_WINDOW": "1 day"}, nil, "GRIDSYNC_PHOTO_TIME_WINDOW"},
		{"EnvPhotoMaxDistance", map[string]string{"GRIDSYNC_PHOTO_MAX_DISTANCE": "300m"}, nil, "GRIDSYNC_PHOTO_MAX_DISTANCE"},
		{"EnvMinIOTLSOn", map[string]string{"GRIDSYNC_MINIO_TLS": "on"}, nil, "GRIDSYNC_MINIO_TLS"},
		{"EnvDemoYes", map[string]string{"GRIDSYNC_DEMO": "yes"}, nil, "GRIDSYNC_DEMO"},
		{"EnvBadEvenIfFlagSet", map[string]string{"GRIDSYNC_DEMO": "yes"}, []string{"-demo"}, "GRIDSYNC_DEMO"},
		{"EnvAccessTTLTooLong", map[string]string{"GRIDSYNC_ACCESS_TTL": "2h"}, nil, "GRIDSYNC_ACCESS_TTL"},
		{"EnvAccessTTLTooShort", map[string]string{"GRIDSYNC_ACCESS_TTL": "30s"}, nil, "GRIDSYNC_ACCESS_TTL"},
		{"EnvRefreshTTLTooShort", map[string]string{"GRIDSYNC_REFRESH_TTL": "30m"}, nil, "GRIDSYNC_REFRESH_TTL"},
		{"EnvBlob", map[string]string{"GRIDSYNC_BLOB": "s3"}, nil, "GRIDSYNC_BLOB"},
		{"EnvMinIONoEndpoint", map[string]string{"GRIDSYNC_BLOB": "minio"}, nil, "GRIDSYNC_MINIO_ENDPOINT"},
		{"EnvPhotoMaxDistanceZero", map[string]string{"GRIDSYNC_PHOTO_MAX_DISTANCE": "0"}, nil, "GRIDSYNC_PHOTO_MAX_DISTANCE"},
		{"EnvPhotoMaxDistanceNaN", map[string]string{"GRIDSYNC_PHOTO_MAX_DISTANCE": "NaN"}, nil, "GRIDSYNC_PHOTO_MAX_DISTANCE"},
		{"EnvPhotoTimeWindowNegative", map[string]string{"GRIDSYNC_PHOTO_TIME_WINDOW": "-1h"}, nil, "GRIDSYNC_PHOTO_TIME_WINDOW"},
		{"EnvLogLevel", map[string]string{"GRIDSYNC_LOG_LEVEL": "verbose"}, nil, "GRIDSYNC_LOG_LEVEL"},
		{"EnvLogFormat", map[string]string{"GRIDSYNC_LOG_FORMAT": "xml"}, nil, "GRIDSYNC_LOG_FORMAT"},
		{"EnvTrustedProxiesHostname", map[string]string{"GRIDSYNC_TRUSTED_PROXIES": "proxy.local"}, nil, "GRIDSYNC_TRUSTED_PROXIES"},
		{"EnvTrustedProxiesBadMask", map[string]string{"GRIDSYNC_TRUSTED_PROXIES": "10.0.0.0/33"}, nil, "GRIDSYNC_TRUSTED_PROXIES"},
		{"FlagTrustedProxies", nil, []string{"-trusted-proxies", "10.0.0.1,nope"}, "trusted-proxies"},
		{"FlagAccessTTLNoUnit", nil, []string{"-access-ttl", "15"}, "access-ttl"},
		{"FlagDemoValue", nil, []string{"-demo=yes"}, "demo"},
		{"FlagDataEmpty", nil, []string{"-data", ""}, "GRIDSYNC_DATA"},
		{"FlagUnknown", nil, []string{"-no-such-flag"}, "no-such-flag"},
		{"UnknownCommand", nil, []string{"serv"}, `"serv"`},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			_, err := parse(tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
