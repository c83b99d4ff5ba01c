// Package app is the gridsync server program as a value: Config, and Main
// with ParseFlags, Run and Close. server/cmd/gridsyncd is a thin main around
// it, and end-to-end tests (here and in client-sdk) start the real program
// through it.
//
// Subcommands:
//
//	gridsyncd [serve] [flags]     run the server (default)
//	gridsyncd import [flags] FILE load a county data set (areas, users, checklists, sites)
//	gridsyncd rotate-key [flags]  add a new JWT signing key; old keys keep verifying
//	gridsyncd check [flags]       run PRAGMA integrity_check and verify the audit chain
//	gridsyncd export-chain [flags] [FILE]  write the audit chain (JSON lines) to FILE or stdout
//	gridsyncd verify-chain FILE   verify an exported audit chain (no database needed)
//	gridsyncd user add -username U -name N -role R -area A   add a user; password on stdin
//	gridsyncd user passwd -username U   set a password (stdin); the user's devices log in again
//	gridsyncd user disable|enable -username U   a disabled user is refused at once
//	gridsyncd user list [-area A] list users
//	gridsyncd device revoke DEVICE_ID  lost phone: refuse the device's tokens and logins
//
// Every flag also reads a GRIDSYNC_* environment variable; run with -h.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/gridsync/gridsync/fixtures"
	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/blob"
	gshttp "github.com/gridsync/gridsync/server/http"
	"github.com/gridsync/gridsync/server/jwt"
	"github.com/gridsync/gridsync/server/minio"
	"github.com/gridsync/gridsync/server/sqlite"
	"github.com/gridsync/gridsync/server/web"
	"github.com/gridsync/gridsync/syncproto"
)

// CloseWait bounds how long, after the shutdown timeout closed every
// connection, Run waits for handlers to return before the database is
// closed under them.
const CloseWait = 5 * time.Second

// Main is the program, as a value so end-to-end tests run the real thing.
type Main struct {
	Config  Config
	Command string
	// Action is the word after "user" or "device" (add, revoke...).
	Action string
	Args   []string
	Log    *slog.Logger
	Stdout io.Writer
	// Stdin is where `user add` and `user passwd` read a password.
	Stdin  io.Reader
	Getenv func(string) string

	admin adminFlags

	db   *sqlite.DB
	sync *sqlite.SyncService
	http *gshttp.Server
	ln   net.Listener
	// addr and ready publish the listening address to other goroutines
	// (tests) while Run goes on in its own.
	addr  atomic.Pointer[string]
	ready chan struct{}

	// photos receives and serves photo evidence; its background loop
	// stores what the blob store refused while down.
	photos *sqlite.PhotoService
}

// NewMain returns a Main writing to the process's stdout and stderr.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stdin: os.Stdin, Getenv: lookupEnv, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), ready: make(chan struct{})}
}

// ParseFlags reads the subcommand, flags and environment into m.Config and
// sets up logging.
func (m *Main) ParseFlags(args []string) error {
	m.Command = "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		m.Command, args = args[0], args[1:]
	}
	switch m.Command {
	case "serve", "import", "rotate-key", "check", "export-chain", "verify-chain", "user", "device":
	default:
		return fmt.Errorf("unknown command %q (serve, import, rotate-key, check, export-chain, verify-chain, user, device)", m.Command)
	}
	fs := flag.NewFlagSet("gridsyncd "+m.Command, flag.ContinueOnError)
	envErr := m.Config.bindFlags(fs, m.Getenv)
	if m.Command == "user" || m.Command == "device" {
		var err error
		if args, err = m.parseAction(fs, args); err != nil {
			return err
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if envErr != nil {
		return envErr
	}
	m.Args = fs.Args()
	if err := m.Config.validate(); err != nil {
		return err
	}
	opts := &slog.HandlerOptions{Level: m.Config.level}
	if m.Config.LogFormat == "json" {
		m.Log = slog.New(slog.NewJSONHandler(os.Stderr, opts))
	} else {
		m.Log = slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return nil
}

// Run executes the subcommand; "serve" runs until ctx is done, then shuts
// down gracefully.
func (m *Main) Run(ctx context.Context) error {
	switch m.Command {
	case "rotate-key":
		k, err := jwt.GenerateKey(m.Config.KeysDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "new signing key %s; restart the server to sign with it\n", k.ID)
		return nil
	case "verify-chain":
		return m.verifyChainFile()
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	var err error
	if m.db, err = sqlite.Open(ctx, m.Config.DBPath()); err != nil {
		return err
	}
	switch m.Command {
	case "check":
		res, err := m.db.IntegrityCheck(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, "integrity_check:", res)
		if res != "ok" {
			return errors.New("database integrity check failed")
		}
		return m.checkChain(ctx)
	case "export-chain":
		return m.exportChain(ctx)
	case "user", "device":
		return m.runAdmin(ctx)
	case "import":
		if len(m.Args) != 1 {
			return errors.New("usage: gridsyncd import FILE")
		}
		return m.importFile(ctx, m.Args[0])
	}
	return m.serve(ctx)
}

func (m *Main) importFile(ctx context.Context, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var d server.Dataset
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sync, err := sqlite.NewSyncService(ctx, m.db, syncproto.DefaultSchema(), m.Log)
	if err != nil {
		return err
	}
	defer sync.Close()
	r, err := sqlite.NewImportService(m.db, sync).Import(ctx, &d)
	if err != nil {
		return err
	}
	if r.Resumed {
		fmt.Fprintf(m.Stdout, "finished an interrupted import: %d more sites\n", r.Sites)
		return nil
	}
	fmt.Fprintf(m.Stdout, "imported %d areas, %d users, %d checklists, %d sites\n", r.Areas, r.Users, r.Checklists, r.Sites)
	return nil
}

func (m *Main) serve(ctx context.Context) error {
	keys, err := jwt.LoadOrCreateKeys(m.Config.KeysDir)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	signer, err := jwt.NewSigner(keys, jwt.Options{Issuer: m.Config.Issuer, Audience: m.Config.Audience, TTL: m.Config.AccessTTL})
	if err != nil {
		return err
	}
	auth, err := sqlite.NewAuthService(m.db, signer)
	if err != nil {
		return err
	}
	auth.RefreshTTL = m.Config.RefreshTTL
	if m.sync, err = sqlite.NewSyncService(ctx, m.db, syncproto.DefaultSchema(), m.Log); err != nil {
		return err
	}
	if m.Config.Demo {
		if err := m.loadDemo(ctx); err != nil {
			return err
		}
	}
	areas := sqlite.NewAreaService(m.db)
	blobs, err := m.openBlobs()
	if err != nil {
		return err
	}
	if m.photos, err = sqlite.NewPhotoService(m.db, sqlite.PhotoOptions{Blobs: blobs, Dir: m.Config.UploadDir(),
		Log:    m.Log.With(slog.String("component", "photos")),
		Checks: server.PhotoChecks{MaxDistance: m.Config.PhotoMaxDistance, TimeWindow: m.Config.PhotoTimeWindow}}); err != nil {
		return err
	}
	ready := map[string]gshttp.Pinger{"database": m.db}
	if p, ok := blobs.(blob.Pinger); ok {
		ready["blobs"] = p
	}
	domain := sqlite.NewDomainService(m.db)
	dashboard, err := m.dashboard(auth, areas, domain, blobs)
	if err != nil {
		return err
	}
	m.http = gshttp.NewServer(m.Log, gshttp.Services{Auth: auth, Areas: areas, Sync: m.sync, Domain: domain, Photos: m.photos, Web: dashboard},
		ready, gshttp.TrustProxies(m.Config.TrustedProxies))
	if err := m.http.SetPublicURL(m.Config.PublicURL); err != nil {
		return err
	}
	if m.ln, err = net.Listen("tcp", m.Config.Addr); err != nil {
		return err
	}
	addr := m.ln.Addr().String()
	m.addr.Store(&addr)
	close(m.ready)
	url := "http://" + addr
	m.Log.Info("gridsyncd listening", slog.String("url", url), slog.String("data", m.Config.DataDir), slog.Bool("demo", m.Config.Demo))
	if m.Config.Demo {
		fmt.Fprintf(m.Stdout, "\ngridsync demo server: %s\n  demo logins (password %s): county, station-1, station-2, village-1-1,\n  worker-1-1-1, worker-1-1-2, worker-2-1-1, officer-1-a, officer-1-b\n  try: curl -s %s/v1/auth/login -d '{\"username\":\"worker-1-1-1\",\"password\":\"%s\",\"device_id\":\"my-phone-0001\"}'\n\n",
			url, fixtures.DemoPassword, url, fixtures.DemoPassword)
	}
	errc := make(chan error, 1)
	go func() { errc <- m.http.Serve(m.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	m.Log.Info("shutting down: finishing in-flight requests", slog.Duration("timeout", m.Config.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	if err := m.http.Shutdown(sctx); err != nil {
		// Out of time: cut the remaining connections and let their
		// handlers return before Close closes the database.
		m.Log.Warn("shutdown timed out: closing the remaining connections")
		cctx, cancel := context.WithTimeout(context.Background(), CloseWait)
		defer cancel()
		return errors.Join(fmt.Errorf("shutdown: %w", err), m.http.Close(cctx))
	}
	return <-errc
}

// openBlobs opens the photo store the configuration names: the local
// folder DATA/blobs, or a MinIO bucket. MinIO is not contacted here: the
// server starts and syncs records while it is down (/readyz says so), and
// uploads wait for it. The secret key is never logged.
func (m *Main) openBlobs() (blob.Store, error) {
	if m.Config.Blob == "minio" {
		s, err := minio.Open(m.Config.MinIO)
		if err != nil {
			return nil, fmt.Errorf("photo store: %w", err)
		}
		m.Log.Info("photo store: minio", slog.String("endpoint", m.Config.MinIO.Endpoint), slog.String("bucket", m.Config.MinIO.Bucket))
		return s, nil
	}
	s, err := blob.NewFolder(m.Config.BlobDir())
	if err != nil {
		return nil, fmt.Errorf("photo folder: %w", err)
	}
	return s, nil
}

// dashboard builds the station dashboard (server/web) on the same
// services as the API (the domain views and the photo service too, so the
// pages and /v1 agree), reading photos from the same store.
func (m *Main) dashboard(auth server.AuthService, areas server.AreaService, domain server.DomainService, blobs blob.Store) (*web.Handler, error) {
	dash := sqlite.NewDashboardService(m.db)
	return web.New(web.Services{Auth: auth, Areas: areas, Sync: m.sync, Dashboard: dash, Domain: domain, Photos: m.photos,
		Sessions: dash, Schema: syncproto.DefaultSchema()}, web.Options{Log: m.Log.With(slog.String("component", "web"))})
}

// loadDemo imports the demo county through the import code path, until
// the import is recorded complete: a start interrupted during the import
// finishes it on the next start.
func (m *Main) loadDemo(ctx context.Context) error {
	d, err := fixtures.DemoCounty()
	if err != nil {
		return err
	}
	imp := sqlite.NewImportService(m.db, m.sync)
	if done, err := imp.Imported(ctx, d.Areas[0].ID); err != nil || done {
		return err
	}
	r, err := imp.Import(ctx, d)
	if err != nil {
		return fmt.Errorf("demo county: %w", err)
	}
	m.Log.Info("demo county loaded", slog.Bool("resumed", r.Resumed), slog.Int("areas", r.Areas), slog.Int("users", r.Users),
		slog.Int("checklists", r.Checklists), slog.Int("sites", r.Sites))
	return nil
}

// checkChain verifies the audit hash chain of the op log and prints its
// length and head.
func (m *Main) checkChain(ctx context.Context) error {
	sync, err := sqlite.NewSyncService(ctx, m.db, syncproto.DefaultSchema(), m.Log)
	if err != nil {
		return err
	}
	defer sync.Close()
	n, head, err := sync.VerifyChainHead(ctx)
	if err != nil {
		return fmt.Errorf("audit chain: %w", err)
	}
	fmt.Fprintf(m.Stdout, "audit chain: %d ops verified, head %x\n", n, head)
	return nil
}

// exportChain writes the audit chain to the file named by the argument, or
// to stdout, and reports its head on stderr's log.
func (m *Main) exportChain(ctx context.Context) error {
	if len(m.Args) > 1 {
		return errors.New("usage: gridsyncd export-chain [FILE]")
	}
	sync, err := sqlite.NewSyncService(ctx, m.db, syncproto.DefaultSchema(), m.Log)
	if err != nil {
		return err
	}
	defer sync.Close()
	w := m.Stdout
	var file *os.File
	if len(m.Args) == 1 {
		if file, err = os.Create(m.Args[0]); err != nil {
			return err
		}
		defer file.Close() // a no-op after the checked Close below
		w = file
	}
	n, head, err := sync.ExportChain(ctx, w)
	if err != nil {
		return err
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "exported %d ops, head %x\n", n, head)
	}
	m.Log.Info("audit chain exported", slog.Int("ops", n), slog.String("head", fmt.Sprintf("%x", head)))
	return nil
}

// verifyChainFile verifies an exported audit chain and prints its length
// and head, to compare with `gridsyncd check` on the live database.
func (m *Main) verifyChainFile() error {
	if len(m.Args) != 1 {
		return errors.New("usage: gridsyncd verify-chain FILE")
	}
	f, err := os.Open(m.Args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	n, head, err := sqlite.VerifyChainExport(f)
	if err != nil {
		return fmt.Errorf("%s: %w", m.Args[0], err)
	}
	fmt.Fprintf(m.Stdout, "audit chain: %d ops verified, head %x\n", n, head)
	return nil
}

// Addr is the address the server listens on, "" until Run listens. It is
// safe to call from any goroutine.
func (m *Main) Addr() string {
	if a := m.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Ready is closed once "serve" listens (Addr is then set). The Main must
// be made by NewMain.
func (m *Main) Ready() <-chan struct{} { return m.ready }

// Close stops the sync writer (finishing queued pushes) and closes the
// database cleanly (WAL checkpointed).
func (m *Main) Close() error {
	if m.photos != nil {
		m.photos.Close()
	}
	if m.sync != nil {
		m.sync.Close()
	}
	if m.db != nil {
		return m.db.Close()
	}
	return nil
}
