package app

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/minio"
)

// Defaults of Config; every field can be set by flag or GRIDSYNC_* variable.
const (
	DefaultAddr      = "127.0.0.1:8080"
	DefaultDataDir   = "./data"
	DefaultAccessTTL = 15 * time.Minute
	DefaultLogLevel  = "info"
)

// Config is the whole configuration of the server, parsed only in main.
type Config struct {
	Addr       string        // GRIDSYNC_ADDR: listen address
	DataDir    string        // GRIDSYNC_DATA: SQLite file, local blobs, keys
	Demo       bool          // GRIDSYNC_DEMO: load the demo county on start
	LogLevel   string        // GRIDSYNC_LOG_LEVEL: debug, info, warn, error
	LogFormat  string        // GRIDSYNC_LOG_FORMAT: text or json
	AccessTTL  time.Duration // GRIDSYNC_ACCESS_TTL: access token lifetime
	RefreshTTL time.Duration // GRIDSYNC_REFRESH_TTL: refresh token lifetime
	KeysDir    string        // GRIDSYNC_KEYS: signing keys (default DATA/keys)
	Issuer     string        // GRIDSYNC_JWT_ISSUER
	Audience   string        // GRIDSYNC_JWT_AUDIENCE

	// Photo evidence.
	Blob             string        // GRIDSYNC_BLOB: folder (DATA/blobs) or minio
	MinIO            minio.Config  // GRIDSYNC_MINIO_ENDPOINT, _BUCKET, _ACCESS_KEY, _SECRET_KEY, _TLS
	PhotoMaxDistance float64       // GRIDSYNC_PHOTO_MAX_DISTANCE: metres from the site before a photo is flagged
	PhotoTimeWindow  time.Duration // GRIDSYNC_PHOTO_TIME_WINDOW: EXIF time vs record time before a photo is flagged

	PublicURL string // GRIDSYNC_PUBLIC_URL: absolute URL devices reach the server at (tus Location); empty: from each request
}

// DBPath is the SQLite file inside the data folder.
func (c *Config) DBPath() string { return filepath.Join(c.DataDir, "gridsync.db") }

// BlobDir is the local photo folder inside the data folder.
func (c *Config) BlobDir() string { return filepath.Join(c.DataDir, "blobs") }

// UploadDir holds partial photo uploads inside the data folder.
func (c *Config) UploadDir() string { return filepath.Join(c.DataDir, "uploads") }

// bindFlags declares every flag with its default taken from the environment
// (GRIDSYNC_<NAME>) or the constant, so flags win over variables.
func (c *Config) bindFlags(fs *flag.FlagSet, getenv func(string) string) {
	str := func(p *string, name, def, usage string) {
		if v := getenv(envName(name)); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, usage+" ("+envName(name)+")")
	}
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		if v, err := time.ParseDuration(getenv(envName(name))); err == nil {
			def = v
		}
		fs.DurationVar(p, name, def, usage+" ("+envName(name)+")")
	}
	str(&c.Addr, "addr", DefaultAddr, "listen address")
	str(&c.DataDir, "data", DefaultDataDir, "data folder: database, photos, keys")
	str(&c.LogLevel, "log-level", DefaultLogLevel, "log level: debug, info, warn, error")
	str(&c.LogFormat, "log-format", "text", "log format: text or json")
	str(&c.KeysDir, "keys", "", "signing key folder (default DATA/keys)")
	str(&c.Issuer, "jwt-issuer", "gridsync", "JWT iss")
	str(&c.Audience, "jwt-audience", "gridsync-api", "JWT aud")
	dur(&c.AccessTTL, "access-ttl", DefaultAccessTTL, "access token lifetime")
	dur(&c.RefreshTTL, "refresh-ttl", 30*24*time.Hour, "refresh token lifetime")
	str(&c.Blob, "blob", "folder", "photo store: folder (DATA/blobs) or minio")
	str(&c.MinIO.Endpoint, "minio-endpoint", "", "MinIO host:port")
	str(&c.MinIO.Bucket, "minio-bucket", "gridsync-photos", "MinIO bucket (created if missing)")
	str(&c.MinIO.AccessKey, "minio-access-key", "", "MinIO access key")
	// The secret is never a flag default: -h would print it.
	c.MinIO.SecretKey = getenv(envName("minio-secret-key"))
	fs.Func("minio-secret-key", "MinIO secret key (prefer "+envName("minio-secret-key")+")", func(v string) error {
		c.MinIO.SecretKey = v
		return nil
	})
	useTLS, _ := strconv.ParseBool(getenv(envName("minio-tls")))
	fs.BoolVar(&c.MinIO.UseTLS, "minio-tls", useTLS, "reach MinIO over https ("+envName("minio-tls")+")")
	maxDist := float64(server.DefaultPhotoMaxDistance)
	if v, err := strconv.ParseFloat(getenv(envName("photo-max-distance")), 64); err == nil {
		maxDist = v
	}
	fs.Float64Var(&c.PhotoMaxDistance, "photo-max-distance", maxDist, "metres between a photo's GPS and its site before it is flagged ("+envName("photo-max-distance")+")")
	dur(&c.PhotoTimeWindow, "photo-time-window", server.DefaultPhotoTimeWindow, "EXIF time vs record time before a photo is flagged")
	str(&c.PublicURL, "public-url", "", "absolute URL devices reach the server at, for tus Location headers (default: each request's scheme and host)")
	demo, _ := strconv.ParseBool(getenv(envName("demo")))
	fs.BoolVar(&c.Demo, "demo", demo, "load the demo county 青溪县 on start ("+envName("demo")+")")
}

func envName(flag string) string {
	return "GRIDSYNC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// validate checks the parsed values and fills derived defaults.
func (c *Config) validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("data folder is empty")
	}
	if c.KeysDir == "" {
		c.KeysDir = filepath.Join(c.DataDir, "keys")
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > time.Hour {
		return fmt.Errorf("access-ttl %s: want 1m..1h (access tokens are short-lived)", c.AccessTTL)
	}
	if c.RefreshTTL < time.Hour {
		return fmt.Errorf("refresh-ttl %s: want at least 1h", c.RefreshTTL)
	}
	switch c.Blob {
	case "folder":
	case "minio":
		if c.MinIO.Endpoint == "" || c.MinIO.Bucket == "" {
			return fmt.Errorf("blob minio: minio-endpoint and minio-bucket are required")
		}
	default:
		return fmt.Errorf("blob %q: want folder or minio", c.Blob)
	}
	if c.PhotoMaxDistance <= 0 || c.PhotoTimeWindow <= 0 {
		return fmt.Errorf("photo-max-distance and photo-time-window must be positive")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log-format %q: want text or json", c.LogFormat)
	}
	return nil
}

func lookupEnv(name string) string { return os.Getenv(name) }
