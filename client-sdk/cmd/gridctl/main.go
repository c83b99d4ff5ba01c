// Command gridctl is a gridsync device in the terminal: it keeps its state
// in a local file like a phone does, works offline, and syncs on demand.
// It is built on the SDK in client-sdk (package client).
//
//	gridctl [-db FILE] [-server URL] COMMAND [ARGS]
//
// Run gridctl -h for the commands.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	client "github.com/gridsync/gridsync/client-sdk"
	"github.com/gridsync/gridsync/syncproto"
)

// Defaults of the global flags.
const (
	DefaultDB     = "./gridctl.db"
	DefaultServer = "http://127.0.0.1:8080"
)

const usage = `gridctl: a gridsync device in the terminal (state in a local file, works offline)

usage: gridctl [-db FILE] [-server URL] [-unmetered-only] [-metered] [-v] COMMAND [ARGS]

A PHOTO argument is a photo file (checked, optionally downscaled with -max-edge,
hashed and queued for upload) or the sha256 of a photo already queued or uploaded.

commands:
  login USER [-password P]        log in (asks for the password if not given)
  logout                          forget the session (unsynced work stays)
  whoami                          the logged-in user and this device
  sites                           list sites on this device
  site-add -name N -kind K [-sub-kind S] [-grid G] [-address A] [-phone P]
                                  register a site (kind: household, rented_housing,
                                  shared_use, self_built, nine_small, crowded_place,
                                  factory_warehouse, high_rise, elderly_alone)
  site-set SITE [-name N] [-address A] [-phone P] [-responsible R] [-risk LEVEL]
                                  edit a site (risk: major, significant, general, low;
                                  set by station staff)
  check SITE [-result R] [-note N] [-photo PHOTO]... [-max-edge N]
                                  record an inspection (result: pass, hazard_found, no_access)
  hazard-add SITE -title T [-severity general|major] [-description D]
                                  report a hazard
  hazards                         list hazards on this device
  hazard-step HAZARD STAGE [-reopen] [-deadline YYYY-MM-DD] [-assignee A]
          [-close-reason not_a_hazard|duplicate] [-note N]
                                  move a hazard (reported dispatched rectifying
                                  submitted verified closed); -reopen starts a new round
                                  (-note: why the verification failed); a dispatch or
                                  reopen without -deadline gets the county's default;
                                  closing before verified needs -close-reason
  checklists [-kind K] [-refresh] the checklist templates kept on this device (sync keeps
                                  them; -refresh fetches them now)
  inspect SITE [-fail CODE=NOTE]... [-photo CODE=PHOTO]... [-na CODE]... [-note N]
          [-signature PHOTO | -refused WHY] [-covert] [-kind K] [-version V] [-max-edge N]
                                  a whole inspection against the site's checklist: every
                                  item passes unless failed or n/a; each failed item
                                  reports a hazard; all recorded at once or nothing
  evidence HAZARD [-photo PHOTO]... [-note N] [-submit] [-max-edge N]
                                  rectification evidence; -submit asks for verification
  attach COLLECTION DOC FILE [-field photos] [-max-edge N]
                                  attach a photo to a record (offline); prints its sha256
  photos                          the photo queue: each photo's state and last error
  upload                          upload queued photos now (also those backing off)
  photo-dismiss SHA256            forget a refused photo (its local copy is deleted)
  tasks [-status overdue,never,due,ok] [-area GRID] [-refresh]
                                  the sites your area must check (the list sync keeps,
                                  with this device's inspections since)
  sync                            push the outbox, pull changes, refresh the lists,
                                  upload photos
  outbox                          unsynced ops
  rejected                        ops the server refused
  conflicts                       concurrent edits that lost (from the server)

global flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gridctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", DefaultDB, "the device's local file")
	server := fs.String("server", DefaultServer, "the gridsync server")
	verbose := fs.Bool("v", false, "log what the SDK does")
	unmeteredOnly := fs.Bool("unmetered-only", false, "upload photos only on an unmetered network (records still sync)")
	metered := fs.Bool("metered", false, "this network is metered (as a phone's system would tell the app)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	c, err := client.Open(*db, client.Options{ServerURL: *server, AppVersion: "gridctl",
		Logger:              slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		PhotosUnmeteredOnly: *unmeteredOnly, Unmetered: func() bool { return !*metered }})
	if err != nil {
		fmt.Fprintln(stderr, "gridctl:", err)
		return 1
	}
	defer c.Close()
	cmd := &command{c: c, ctx: ctx, in: stdin, out: stdout, db: *db}
	if err := cmd.run(fs.Arg(0), fs.Args()[1:]); err != nil {
		fmt.Fprintln(stderr, "gridctl:", explain(err))
		if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

// explain adds what to do to the errors a user can act on.
func explain(err error) string {
	switch {
	case errors.Is(err, client.ErrLoginRequired):
		return err.Error() + " (run: gridctl login USER)"
	case syncproto.ErrorCode(err) != "":
		return "refused: " + err.Error()
	}
	return err.Error()
}

type command struct {
	c   *client.Client
	ctx context.Context
	in  io.Reader
	out io.Writer
	db  string // the device's file
}

func (cmd *command) run(name string, args []string) error {
	switch name {
	case "login":
		return cmd.login(args)
	case "logout":
		return cmd.c.Logout(cmd.ctx)
	case "whoami":
		return cmd.whoami()
	case "sites":
		return cmd.sites()
	case "site-add":
		return cmd.siteAdd(args)
	case "site-set":
		return cmd.siteSet(args)
	case "check":
		return cmd.check(args)
	case "hazard-add":
		return cmd.hazardAdd(args)
	case "hazards":
		return cmd.hazards()
	case "hazard-step":
		return cmd.hazardStep(args)
	case "checklists":
		return cmd.checklists(args)
	case "inspect":
		return cmd.inspect(args)
	case "evidence":
		return cmd.evidence(args)
	case "tasks":
		return cmd.tasks(args)
	case "sync":
		return cmd.sync()
	case "attach":
		return cmd.attach(args)
	case "photos":
		return cmd.photos()
	case "upload":
		return cmd.upload()
	case "photo-dismiss":
		return cmd.photoDismiss(args)
	case "outbox":
		return cmd.outbox()
	case "rejected":
		return cmd.rejected()
	case "conflicts":
		return cmd.conflicts()
	}
	return fmt.Errorf("%w: unknown command %q (gridctl -h lists them)", errUsage, name)
}

// parse parses a command's flags, which may come before or after its
// positional arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != positional {
		return nil, fmt.Errorf("%w: %s takes %d argument(s), got %d", errUsage, fs.Name(), positional, len(pos))
	}
	return pos, nil
}

func (cmd *command) login(args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	password := fs.String("password", "", "the password (asked for if empty)")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *password == "" {
		fmt.Fprint(cmd.out, "password: ")
		line, err := bufio.NewReader(cmd.in).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read password: %w", err)
		}
		*password = strings.TrimRight(line, "\r\n")
	}
	if err := cmd.c.Login(cmd.ctx, pos[0], *password); err != nil {
		return err
	}
	return cmd.whoami()
}

func (cmd *command) whoami() error {
	u := cmd.c.User()
	if u == nil {
		fmt.Fprintf(cmd.out, "not logged in (device %s)\n", cmd.c.DeviceID())
		return nil
	}
	fmt.Fprintf(cmd.out, "%s (%s), %s in area %s, device %s\n", u.Username, u.Name, u.Role, u.AreaID, cmd.c.DeviceID())
	return nil
}

func (cmd *command) sites() error {
	docs, err := cmd.c.List("sites", client.Query{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tGRID\tKIND\tRISK\tSYNC\tNAME")
	for _, d := range docs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.String("grid"), d.String("kind"), or(d.String("risk_level"), "-"), syncState(d), d.String("name"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "%d sites\n", len(docs))
	return nil
}

func (cmd *command) siteAdd(args []string) error {
	fs := flag.NewFlagSet("site-add", flag.ContinueOnError)
	name := fs.String("name", "", "name of the site")
	kind := fs.String("kind", "", "kind of site")
	subKind := fs.String("sub-kind", "", "which of the nine small places (nine_small sites: small_shop, small_restaurant, ...)")
	grid := fs.String("grid", "", "grid (default: your area)")
	address := fs.String("address", "", "address")
	phone := fs.String("phone", "", "contact phone")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *grid == "" && cmd.c.User() != nil {
		*grid = cmd.c.User().AreaID
	}
	f := client.Fields{"name": *name, "kind": *kind, "grid": *grid}
	if *address != "" {
		f["address"] = *address
	}
	if *phone != "" {
		f["phone"] = *phone
	}
	if *subKind != "" {
		f["sub_kind"] = *subKind
	}
	id, err := cmd.c.Create("sites", f)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "site %s registered (not synced yet)\n", id)
	return nil
}

func (cmd *command) siteSet(args []string) error {
	fs := flag.NewFlagSet("site-set", flag.ContinueOnError)
	set := map[string]*string{}
	for _, f := range []struct{ flag, field string }{{"name", "name"}, {"address", "address"}, {"phone", "phone"},
		{"responsible", "responsible"}, {"risk", "risk_level"}} {
		set[f.field] = fs.String(f.flag, "", f.field)
	}
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	ch := client.Change{Set: map[string]any{}}
	for field, v := range set {
		if *v != "" {
			ch.Set[field] = *v
		}
	}
	if err := cmd.c.Update("sites", pos[0], ch); err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "site %s updated (not synced yet)\n", pos[0])
	return nil
}

// multi is a flag that may be given several times.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func (cmd *command) check(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	result := fs.String("result", "pass", "pass, hazard_found or no_access")
	note := fs.String("note", "", "note")
	var photos multi
	fs.Var(&photos, "photo", "a photo file or sha256 (repeatable)")
	maxEdge := fs.Int("max-edge", 0, "downscale photo files to this longest side in pixels")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	shas, files, err := splitPhotos(photos)
	if err != nil {
		return err
	}
	f := client.Fields{"site": pos[0], "result": *result, "checked_at": time.Now().UnixMilli()}
	if u := cmd.c.User(); u != nil {
		f["inspectors"] = []string{u.Username}
	}
	if *note != "" {
		f["note"] = *note
	}
	if len(shas) > 0 {
		f["photos"] = shas
	}
	id, err := cmd.c.Create("inspections", f)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "inspection %s recorded (not synced yet)\n", id)
	_, err = cmd.attachFiles("inspections", id, "photos", files, *maxEdge)
	return err
}

func (cmd *command) hazardAdd(args []string) error {
	fs := flag.NewFlagSet("hazard-add", flag.ContinueOnError)
	title := fs.String("title", "", "what is wrong")
	severity := fs.String("severity", "general", "general or major")
	description := fs.String("description", "", "details")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	stage := syncproto.StageReported
	if u := cmd.c.User(); u != nil && u.Role == string(syncproto.RoleStationStaff) {
		stage = syncproto.StageDispatched // the station's first step
	}
	f := client.Fields{"site": pos[0], "title": *title, "severity": *severity, "status": stage}
	if *description != "" {
		f["description"] = *description
	}
	id, err := cmd.c.Create("hazards", f)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "hazard %s reported (not synced yet)\n", id)
	return nil
}

func (cmd *command) hazards() error {
	docs, err := cmd.c.List("hazards", client.Query{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSITE\tSTATUS\tSEVERITY\tSYNC\tTITLE")
	for _, d := range docs {
		status := d.Stage("status")
		if r := d.Round("status"); r > 1 {
			status += fmt.Sprintf(" (round %d)", r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.String("site"), status, d.String("severity"), syncState(d), d.String("title"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "%d hazards\n", len(docs))
	return nil
}

func (cmd *command) hazardStep(args []string) error {
	fs := flag.NewFlagSet("hazard-step", flag.ContinueOnError)
	reopen := fs.Bool("reopen", false, "start a new round (reopen)")
	deadline := fs.String("deadline", "", "rectification deadline, YYYY-MM-DD (station)")
	assignee := fs.String("assignee", "", "who rectifies (station)")
	reason := fs.String("close-reason", "", "close without verification: not_a_hazard or duplicate (station)")
	note := fs.String("note", "", "why (a verification that failed: what is still wrong)")
	pos, err := parse(fs, args, 2)
	if err != nil {
		return err
	}
	ch := client.Change{Flow: map[string]string{"status": pos[1]}, Set: map[string]any{}}
	if *reopen {
		ch = client.Change{Reopen: map[string]string{"status": pos[1]}, Set: map[string]any{}}
	}
	if *reason != "" {
		ch.Set["close_reason"] = *reason
	}
	if *note != "" {
		ch.Set["verification_note"] = *note
	}
	if *deadline != "" {
		if ch.Set["deadline"], err = parseDeadline(*deadline); err != nil {
			return err
		}
	}
	if *assignee != "" {
		ch.Set["assignee"] = *assignee
	}
	if err := cmd.c.Update("hazards", pos[0], ch); err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "hazard %s → %s (not synced yet)\n", pos[0], pos[1])
	return nil
}

func (cmd *command) sync() error {
	ctx, cancel := context.WithTimeout(cmd.ctx, 5*time.Minute)
	defer cancel()
	rep, err := cmd.c.Sync(ctx)
	if rep != nil && rep.Pushed > 0 {
		fmt.Fprintf(cmd.out, "pushed %d ops: %d accepted, %d rejected\n", rep.Pushed, rep.Accepted, rep.Rejected)
	}
	if err != nil {
		if rep != nil {
			cmd.photoReport(&rep.Photos)
		}
		return err
	}
	if rep.Rescoped {
		fmt.Fprintln(cmd.out, "your area or role changed: the local copy was rebuilt")
	}
	if rep.SnapshotDocs > 0 {
		fmt.Fprintf(cmd.out, "downloaded %d documents\n", rep.SnapshotDocs)
	}
	fmt.Fprintf(cmd.out, "pulled %d changes\n", rep.Pulled)
	if rep.Rejected > 0 {
		fmt.Fprintln(cmd.out, "some ops were refused: see gridctl rejected")
	}
	if len(rep.Lost) > 0 {
		fmt.Fprintf(cmd.out, "%d ops were lost on this device before reaching the server (seqs %v): record them again\n", len(rep.Lost), rep.Lost)
	}
	cmd.photoReport(&rep.Photos)
	return nil
}

func (cmd *command) outbox() error {
	st, err := cmd.c.Outbox()
	if err != nil {
		return err
	}
	if st.Pending == 0 {
		fmt.Fprintf(cmd.out, "outbox empty (%d accepted, awaiting pull; %d rejected)\n", st.Accepted, st.Rejected)
		return nil
	}
	fmt.Fprintf(cmd.out, "%d ops pending, oldest %s ago\n", st.Pending, st.OldestAge.Round(time.Second))
	ops, err := cmd.c.OutboxOps()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tCOLLECTION\tDOC\tMADE\tCHANGE")
	for _, o := range ops {
		if o.Accepted {
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", o.Seq, o.Collection, o.Doc, o.CreatedAt.Format(time.TimeOnly), describe(&o.Op))
	}
	return tw.Flush()
}

func (cmd *command) rejected() error {
	rej, err := cmd.c.Rejected()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tCOLLECTION\tDOC\tCODE\tREASON")
	for _, r := range rej {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Seq, r.Collection, r.Doc, r.Code, r.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "%d rejected ops\n", len(rej))
	return nil
}

func (cmd *command) conflicts() error {
	cs, err := cmd.c.Conflicts(cmd.ctx, client.ConflictQuery{OpenOnly: true})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTION\tDOC\tFIELD\tKEPT\tLOST")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Collection, c.Doc, c.Field, c.Winner.Value, c.Loser.Value)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "%d open conflicts\n", len(cs))
	return nil
}

// describe summarises an op in one line.
func describe(op *syncproto.Op) string {
	if op.Delete {
		return "delete"
	}
	var parts []string
	for f, v := range op.Set {
		parts = append(parts, f+"="+string(v))
	}
	for f, es := range op.Add {
		parts = append(parts, fmt.Sprintf("%s+%d", f, len(es)))
	}
	for f, es := range op.Remove {
		parts = append(parts, fmt.Sprintf("%s-%d", f, len(es)))
	}
	for f, s := range op.Flow {
		parts = append(parts, fmt.Sprintf("%s→%s", f, s.To))
	}
	slices.Sort(parts)
	s := strings.Join(parts, " ")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}

func syncState(d *client.Doc) string {
	if d.Pending > 0 {
		return fmt.Sprintf("%d pending", d.Pending)
	}
	return "synced"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
