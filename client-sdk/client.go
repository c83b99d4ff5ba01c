package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gridsync/gridsync/syncproto"
)

// Defaults of Options.
const (
	// DefaultMaxRetries is how often one request is retried after a
	// transient failure before Sync gives up (the next Sync resumes).
	DefaultMaxRetries = 6
	// DefaultMinBackoff is the first wait between retries; it doubles up
	// to DefaultMaxBackoff, with random jitter so that a village of phones
	// regaining signal together does not retry in lockstep.
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// DefaultRequestTimeout bounds one attempt of one request. 2G links
	// are slow; a push of MaxOpsPerPush ops is a few hundred kilobytes.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultPageSize is the number of changes or documents asked for per
	// pull or snapshot page (the server caps it).
	DefaultPageSize = 500
	// MaxResponseBytes bounds a decompressed response body.
	MaxResponseBytes = 64 << 20
)

// Options configures a Client. The zero value of every field means its
// default, so fields added later never break callers.
type Options struct {
	// ServerURL is the server's base URL, e.g. "https://sync.example.org".
	// Empty is allowed for a device that only works offline for now.
	ServerURL string
	// HTTPClient sends the requests; nil means a client with no overall
	// timeout (RequestTimeout bounds each attempt).
	HTTPClient *http.Client
	// AppVersion is reported to the server with each push.
	AppVersion string
	// Now is the device's clock; nil means time.Now. Tests set it.
	Now func() time.Time
	// Schema declares the collections; nil means syncproto.DefaultSchema().
	// It must be the server's schema.
	Schema *syncproto.Schema
	// Logger receives the SDK's logs; nil discards them.
	Logger *slog.Logger
	// MaxRetries is how often a request is retried after a transient
	// failure (network error, 5xx, 429, unavailable). 0 means
	// DefaultMaxRetries; negative means never.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries; 0 means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds one attempt of one request; 0 means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// PageSize is the pull and snapshot page size; 0 means DefaultPageSize.
	PageSize int
	// PushBatch is the most ops per push; 0 or more than
	// syncproto.MaxOpsPerPush means syncproto.MaxOpsPerPush.
	PushBatch int
	// ListsMaxAge is how old the local checklists and task list may get
	// before Sync fetches them again; 0 means DefaultListsMaxAge, negative
	// means Sync never does (the app calls RefreshLists).
	ListsMaxAge time.Duration
	// UploadIdleTimeout ends a photo upload request that has sent or
	// received nothing for this long (the bytes the server got are kept and
	// the upload resumes); 0 means DefaultUploadIdleTimeout. A photo upload
	// has no overall time limit: on a 2G link a large photo takes minutes.
	UploadIdleTimeout time.Duration
	// PhotosUnmeteredOnly holds photo uploads while the network is metered
	// (mobile data): records still sync, photos wait for Wi-Fi. The SDK
	// cannot tell the network type; the app supplies Unmetered.
	PhotosUnmeteredOnly bool
	// Unmetered reports whether the device's current network is unmetered
	// (Android: !ConnectivityManager.isActiveNetworkMetered()). With
	// PhotosUnmeteredOnly and no Unmetered, every network counts as
	// metered.
	Unmetered func() bool
}

// DefaultUploadIdleTimeout is the default of Options.UploadIdleTimeout. The
// server ends a PATCH whose body stalls for 60 s too.
const DefaultUploadIdleTimeout = 60 * time.Second

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Schema == nil {
		o.Schema = syncproto.DefaultSchema()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.ListsMaxAge == 0 {
		o.ListsMaxAge = DefaultListsMaxAge
	}
	if o.PushBatch <= 0 || o.PushBatch > syncproto.MaxOpsPerPush {
		o.PushBatch = syncproto.MaxOpsPerPush
	}
	if o.UploadIdleTimeout <= 0 {
		o.UploadIdleTimeout = DefaultUploadIdleTimeout
	}
}

// User is the logged-in user, as the server described them at the last
// login or token refresh.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	AreaID   string `json:"area_id"`
	AreaPath string `json:"area_path"`
}

// Client is one device: a local file and a server. It is safe for
// concurrent use; Sync calls run one at a time.
type Client struct {
	opt    Options
	base   *url.URL
	schema *syncproto.Schema
	log    *slog.Logger
	w, r   *sql.DB // one writer connection, a small read pool

	clock  *syncproto.Clock
	offset atomic.Int64 // ms added to Options.Now once the server showed it wrong

	mu        sync.Mutex // guards the fields below
	device    string
	user      *User
	access    string
	accessExp time.Time
	refresh   string

	syncMu   sync.Mutex // one Sync at a time
	authMu   sync.Mutex // one token refresh at a time
	uploadMu sync.Mutex // one photo upload run at a time; taken after syncMu
	photoMu  sync.Mutex // guards the photo folder between a copy and its row

	photoDir string // <file>.photos: local copies of photos not yet stored

	// crashHook, when set by tests, runs after a reply was received and
	// before it is committed locally; an error aborts there, as if the
	// process had died.
	crashHook func(point string) error
}

// Open opens (creating if needed) the device's file at path. A new file
// gets a device id (a UUIDv7) that it keeps for its lifetime. A file written
// by an older version of the SDK is upgraded in place. Photos attached on
// the device are kept in the folder path+".photos".
func Open(path string, opt Options) (*Client, error) {
	opt.setDefaults()
	c := &Client{opt: opt, schema: opt.Schema, log: opt.Logger.With(slog.String("component", "gridsync-client")),
		photoDir: path + ".photos"}
	if opt.ServerURL != "" {
		u, err := url.Parse(strings.TrimRight(opt.ServerURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("server url %q: want http(s)://host[:port]", opt.ServerURL)
		}
		c.base = u
	}
	var err error
	if c.w, c.r, err = openDB(path); err != nil {
		return nil, err
	}
	if err := c.load(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.sweepPhotos(); err != nil {
		c.Close()
		return nil, err
	}
	c.log.Debug("opened", slog.String("path", path), slog.String("device", c.device))
	return c, nil
}

// load reads meta into memory, creating the device id on first open.
func (c *Client) load() error {
	return c.update(func(tx *sql.Tx) error {
		dev, err := getMeta(tx, metaDevice)
		if err != nil {
			return err
		}
		if dev == "" {
			if dev, err = newDeviceID(); err != nil {
				return err
			}
			if err := setMeta(tx, metaDevice, dev); err != nil {
				return err
			}
			if err := setMetaInt(tx, metaNextSeq, 1); err != nil {
				return err
			}
		}
		c.device = dev
		last, err := getMeta(tx, metaClock)
		if err != nil {
			return err
		}
		var h syncproto.HLC
		if last != "" {
			if h, err = syncproto.ParseHLC(last); err != nil {
				return fmt.Errorf("stored clock: %w", err)
			}
		}
		off, err := getMetaInt(tx, metaClockOffset)
		if err != nil {
			return err
		}
		c.offset.Store(off)
		c.clock = syncproto.NewClock(c.physical, h)
		if u, err := getMeta(tx, metaUser); err != nil {
			return err
		} else if u != "" {
			c.user = new(User)
			if err := json.Unmarshal([]byte(u), c.user); err != nil {
				return fmt.Errorf("stored user: %w", err)
			}
		}
		if c.access, err = getMeta(tx, metaAccess); err != nil {
			return err
		}
		if c.refresh, err = getMeta(tx, metaRefresh); err != nil {
			return err
		}
		exp, err := getMetaInt(tx, metaAccessExpiry)
		if err != nil {
			return err
		}
		if exp > 0 {
			c.accessExp = time.UnixMilli(exp)
		}
		return nil
	})
}

func newDeviceID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("device id: %w", err)
	}
	return id.String(), nil
}

// Close closes the local file. Ops already written are on disk.
func (c *Client) Close() error {
	var errs []error
	if c.r != nil {
		errs = append(errs, c.r.Close())
	}
	if c.w != nil {
		errs = append(errs, c.w.Close())
	}
	return errors.Join(errs...)
}

// DeviceID returns this device's id.
func (c *Client) DeviceID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.device
}

// User returns the logged-in user (kept after Logout, so the outbox stays
// meaningful), or nil if nobody ever logged in on this file.
func (c *Client) User() *User {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.user == nil {
		return nil
	}
	u := *c.user
	return &u
}

// update runs fn in one write transaction. Local transactions ignore the
// caller's context: once a reply has arrived, committing it is cheaper
// than asking the server again.
func (c *Client) update(fn func(tx *sql.Tx) error) error {
	tx, err := c.w.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// view runs fn in one read transaction, a consistent snapshot of the file.
func (c *Client) view(fn func(tx *sql.Tx) error) error {
	tx, err := c.r.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// crash runs the test hook.
func (c *Client) crash(point string) error {
	if c.crashHook == nil {
		return nil
	}
	return c.crashHook(point)
}
