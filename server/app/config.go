package app

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/jwt"
	"github.com/gridsync/gridsync/server/minio"
	"github.com/gridsync/gridsync/server/sqlite"
)

// Defaults of Config; every field can be set by flag or GRIDSYNC_* variable.
const (
	DefaultAddr      = "127.0.0.1:8080"
	DefaultDataDir   = "./data"
	DefaultAccessTTL = jwt.DefaultTTL
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
	// DefaultBlob keeps photos in DATA/blobs, so `make run` needs no server.
	DefaultBlob        = "folder"
	DefaultMinIOBucket = "gridsync-photos"
	// DefaultShutdownTimeout bounds how long in-flight requests may take to
	// finish after SIGINT/SIGTERM before their connections are closed.
	DefaultShutdownTimeout = 20 * time.Second
)

// Config is the whole configuration of the server, parsed only in main.
type Config struct {
	Addr            string        // GRIDSYNC_ADDR: listen address
	DataDir         string        // GRIDSYNC_DATA: SQLite file, local blobs, keys
	Demo            bool          // GRIDSYNC_DEMO: load the demo county on start
	LogLevel        string        // GRIDSYNC_LOG_LEVEL: debug, info, warn, error
	LogFormat       string        // GRIDSYNC_LOG_FORMAT: text or json
	ShutdownTimeout time.Duration // GRIDSYNC_SHUTDOWN_TIMEOUT: how long a stop waits for in-flight requests
	AccessTTL       time.Duration // GRIDSYNC_ACCESS_TTL: access token lifetime
	RefreshTTL      time.Duration // GRIDSYNC_REFRESH_TTL: refresh token lifetime
	KeysDir         string        // GRIDSYNC_KEYS: signing keys (default DATA/keys)
	Issuer          string        // GRIDSYNC_JWT_ISSUER
	Audience        string        // GRIDSYNC_JWT_AUDIENCE
	// TrustedProxies (GRIDSYNC_TRUSTED_PROXIES, comma-separated CIDRs or
	// addresses) are the reverse proxies whose X-Forwarded-For / X-Real-IP
	// name the client; from any other peer those headers are ignored.
	TrustedProxies []*net.IPNet

	// Photo evidence.
	Blob             string        // GRIDSYNC_BLOB: folder (DATA/blobs) or minio
	MinIO            minio.Config  // GRIDSYNC_MINIO_ENDPOINT, _BUCKET, _ACCESS_KEY, _SECRET_KEY, _TLS
	PhotoMaxDistance float64       // GRIDSYNC_PHOTO_MAX_DISTANCE: metres from the site before a photo is flagged
	PhotoTimeWindow  time.Duration // GRIDSYNC_PHOTO_TIME_WINDOW: EXIF time vs record time before a photo is flagged

	PublicURL string // GRIDSYNC_PUBLIC_URL: absolute URL devices reach the server at (tus Location); empty: from each request

	level slog.Level // LogLevel, parsed by validate
}

// DBPath is the SQLite file inside the data folder.
func (c *Config) DBPath() string { return filepath.Join(c.DataDir, "gridsync.db") }

// BlobDir is the local photo folder inside the data folder.
func (c *Config) BlobDir() string { return filepath.Join(c.DataDir, "blobs") }

// UploadDir holds partial photo uploads inside the data folder.
func (c *Config) UploadDir() string { return filepath.Join(c.DataDir, "uploads") }

// bindFlags declares every flag, then takes each flag's default from its
// variable (GRIDSYNC_<NAME>) if set, so flags win over variables. A
// variable that does not parse is not ignored: the returned error names it,
// so GRIDSYNC_ACCESS_TTL=15 or GRIDSYNC_DEMO=yes stops the start instead of
// quietly meaning the default.
func (c *Config) bindFlags(fs *flag.FlagSet, getenv func(string) string) error {
	usage := func(name, text string) string { return text + " (" + envName(name) + ")" }
	fs.StringVar(&c.Addr, "addr", DefaultAddr, usage("addr", "listen address"))
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, usage("shutdown-timeout", "how long a stop waits for in-flight requests"))
	fs.StringVar(&c.DataDir, "data", DefaultDataDir, usage("data", "data folder: database, photos, keys"))
	fs.StringVar(&c.LogLevel, "log-level", DefaultLogLevel, usage("log-level", "log level: debug, info, warn, error"))
	fs.StringVar(&c.LogFormat, "log-format", DefaultLogFormat, usage("log-format", "log format: text or json"))
	fs.StringVar(&c.KeysDir, "keys", "", usage("keys", "signing key folder (default DATA/keys)"))
	fs.StringVar(&c.Issuer, "jwt-issuer", jwt.DefaultIssuer, usage("jwt-issuer", "JWT iss"))
	fs.StringVar(&c.Audience, "jwt-audience", jwt.DefaultAudience, usage("jwt-audience", "JWT aud"))
	fs.DurationVar(&c.AccessTTL, "access-ttl", DefaultAccessTTL, usage("access-ttl", "access token lifetime"))
	fs.DurationVar(&c.RefreshTTL, "refresh-ttl", sqlite.DefaultRefreshTTL, usage("refresh-ttl", "refresh token lifetime"))
	fs.StringVar(&c.Blob, "blob", DefaultBlob, usage("blob", "photo store: folder (DATA/blobs) or minio"))
	fs.StringVar(&c.MinIO.Endpoint, "minio-endpoint", "", usage("minio-endpoint", "MinIO host:port"))
	fs.StringVar(&c.MinIO.Bucket, "minio-bucket", DefaultMinIOBucket, usage("minio-bucket", "MinIO bucket (created if missing)"))
	fs.StringVar(&c.MinIO.AccessKey, "minio-access-key", "", usage("minio-access-key", "MinIO access key"))
	fs.Func("minio-secret-key", "MinIO secret key (prefer "+envName("minio-secret-key")+")", func(v string) error {
		c.MinIO.SecretKey = v
		return nil
	})
	fs.BoolVar(&c.MinIO.UseTLS, "minio-tls", false, usage("minio-tls", "reach MinIO over https"))
	fs.Float64Var(&c.PhotoMaxDistance, "photo-max-distance", server.DefaultPhotoMaxDistance,
		usage("photo-max-distance", "metres between a photo's GPS and its site before it is flagged"))
	fs.DurationVar(&c.PhotoTimeWindow, "photo-time-window", server.DefaultPhotoTimeWindow, usage("photo-time-window", "EXIF time vs record time before a photo is flagged"))
	fs.BoolVar(&c.Demo, "demo", false, usage("demo", "load the demo county 青溪县 on start"))
	fs.StringVar(&c.PublicURL, "public-url", "", usage("public-url", "absolute URL devices reach the server at, for tus Location headers (default: each request's scheme and host)"))
	fs.Func("trusted-proxies", usage("trusted-proxies", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed"), func(v string) error {
		nets, err := parseNets(v)
		if err == nil {
			c.TrustedProxies = nets
		}
		return err
	})

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			return
		}
		// -h shows the variable's value as the default, but never the
		// secret.
		if f.Name != "minio-secret-key" {
			f.DefValue = v
		}
	})
	return errors.Join(errs...)
}

// parseNets parses a comma-separated list of CIDRs; a bare address means
// that address alone.
func parseNets(list string) ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip := net.ParseIP(f)
			if ip == nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR", f)
			}
			bits := 8 * len(ip)
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			return nil, err
		}
		nets = append(nets, n)
	}
	return nets, nil
}

func envName(flag string) string {
	return "GRIDSYNC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// setting names a flag and its variable in an error message, since either
// may have set the value.
func setting(flag string) string { return "-" + flag + " (" + envName(flag) + ")" }

// validate checks the parsed values and fills derived defaults.
func (c *Config) validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("%s is empty", setting("data"))
	}
	if c.KeysDir == "" {
		c.KeysDir = filepath.Join(c.DataDir, "keys")
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > time.Hour {
		return fmt.Errorf("%s %s: want 1m..1h (access tokens are short-lived)", setting("access-ttl"), c.AccessTTL)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("%s %s: want a positive duration", setting("shutdown-timeout"), c.ShutdownTimeout)
	}
	if c.RefreshTTL < time.Hour {
		return fmt.Errorf("%s %s: want at least 1h", setting("refresh-ttl"), c.RefreshTTL)
	}
	switch c.Blob {
	case "folder":
	case "minio":
		if c.MinIO.Endpoint == "" || c.MinIO.Bucket == "" {
			return fmt.Errorf("%s minio: %s and %s are required", setting("blob"), setting("minio-endpoint"), setting("minio-bucket"))
		}
	default:
		return fmt.Errorf("%s %q: want folder or minio", setting("blob"), c.Blob)
	}
	if !(c.PhotoMaxDistance > 0) || math.IsInf(c.PhotoMaxDistance, 0) {
		return fmt.Errorf("%s %v: want a positive number of metres", setting("photo-max-distance"), c.PhotoMaxDistance)
	}
	if c.PhotoTimeWindow <= 0 {
		return fmt.Errorf("%s %s: want a positive duration", setting("photo-time-window"), c.PhotoTimeWindow)
	}
	if err := c.level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("%s %q: want debug, info, warn or error", setting("log-level"), c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("%s %q: want text or json", setting("log-format"), c.LogFormat)
	}
	return nil
}

func lookupEnv(name string) string { return os.Getenv(name) }
