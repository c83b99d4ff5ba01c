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
	"strconv"
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

// bindFlags declares every flag with its default taken from the environment
// (GRIDSYNC_<NAME>) or the constant, so flags win over variables. A
// variable that does not parse is not ignored: the returned error names it,
// so GRIDSYNC_ACCESS_TTL=15 or GRIDSYNC_DEMO=yes stops the start instead of
// quietly meaning the default.
func (c *Config) bindFlags(fs *flag.FlagSet, getenv func(string) string) error {
	var errs []error
	// env passes the variable of flag name, when set, to parse.
	env := func(name string, parse func(string) error) {
		v := getenv(envName(name))
		if v == "" {
			return
		}
		if err := parse(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", envName(name), v, err))
		}
	}
	str := func(p *string, name, def, usage string) {
		env(name, func(v string) error { def = v; return nil })
		fs.StringVar(p, name, def, usage+" ("+envName(name)+")")
	}
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		env(name, func(v string) error {
			d, err := time.ParseDuration(v)
			if err == nil {
				def = d
			}
			return err
		})
		fs.DurationVar(p, name, def, usage+" ("+envName(name)+")")
	}
	boolean := func(p *bool, name string, usage string) {
		def := false
		env(name, func(v string) error {
			b, err := strconv.ParseBool(v)
			if err == nil {
				def = b
			}
			return err
		})
		fs.BoolVar(p, name, def, usage+" ("+envName(name)+")")
	}
	str(&c.Addr, "addr", DefaultAddr, "listen address")
	dur(&c.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "how long a stop waits for in-flight requests")
	str(&c.DataDir, "data", DefaultDataDir, "data folder: database, photos, keys")
	str(&c.LogLevel, "log-level", DefaultLogLevel, "log level: debug, info, warn, error")
	str(&c.LogFormat, "log-format", DefaultLogFormat, "log format: text or json")
	str(&c.KeysDir, "keys", "", "signing key folder (default DATA/keys)")
	str(&c.Issuer, "jwt-issuer", jwt.DefaultIssuer, "JWT iss")
	str(&c.Audience, "jwt-audience", jwt.DefaultAudience, "JWT aud")
	dur(&c.AccessTTL, "access-ttl", DefaultAccessTTL, "access token lifetime")
	dur(&c.RefreshTTL, "refresh-ttl", sqlite.DefaultRefreshTTL, "refresh token lifetime")
	str(&c.Blob, "blob", DefaultBlob, "photo store: folder (DATA/blobs) or minio")
	str(&c.MinIO.Endpoint, "minio-endpoint", "", "MinIO host:port")
	str(&c.MinIO.Bucket, "minio-bucket", DefaultMinIOBucket, "MinIO bucket (created if missing)")
	str(&c.MinIO.AccessKey, "minio-access-key", "", "MinIO access key")
	// The secret is never a flag default: -h would print it.
	c.MinIO.SecretKey = getenv(envName("minio-secret-key"))
	fs.Func("minio-secret-key", "MinIO secret key (prefer "+envName("minio-secret-key")+")", func(v string) error {
		c.MinIO.SecretKey = v
		return nil
	})
	boolean(&c.MinIO.UseTLS, "minio-tls", "reach MinIO over https")
	maxDist := float64(server.DefaultPhotoMaxDistance)
	env("photo-max-distance", func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err == nil {
			maxDist = f
		}
		return err
	})
	fs.Float64Var(&c.PhotoMaxDistance, "photo-max-distance", maxDist, "metres between a photo's GPS and its site before it is flagged ("+envName("photo-max-distance")+")")
	dur(&c.PhotoTimeWindow, "photo-time-window", server.DefaultPhotoTimeWindow, "EXIF time vs record time before a photo is flagged")
	boolean(&c.Demo, "demo", "load the demo county 青溪县 on start")
	str(&c.PublicURL, "public-url", "", "absolute URL devices reach the server at, for tus Location headers (default: each request's scheme and host)")
	proxies := func(v string) error {
		nets, err := parseNets(v)
		if err == nil {
			c.TrustedProxies = nets
		}
		return err
	}
	env("trusted-proxies", proxies)
	fs.Func("trusted-proxies", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed ("+envName("trusted-proxies")+")", proxies)
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
