package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	client "github.com/gridsync/gridsync/client-sdk"
	"github.com/gridsync/gridsync/syncproto"
)

// The inspection commands: checklists and tasks (the lists sync keeps on
// the device, so both work offline), inspect (offline: a whole
// door-to-door check with its items and the hazards of the failed ones,
// recorded as one batch) and evidence (offline: rectification photos and
// submission).

// checklists shows the checklist templates kept on the device (the latest
// version of each kind, with its items when -kind is given).
func (cmd *command) checklists(args []string) error {
	fs := flag.NewFlagSet("checklists", flag.ContinueOnError)
	kind := fs.String("kind", "", "show this kind's items")
	refresh := fs.Bool("refresh", false, "fetch the lists from the server first")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := cmd.refreshLists(*refresh); err != nil {
		return err
	}
	cls, err := cmd.c.Checklists(*kind, false)
	if err != nil {
		return err
	}
	if len(cls) == 0 {
		return errors.New("no checklists on this device: run gridctl sync while online")
	}
	tw := tabwriter.NewWriter(cmd.out, 0, 0, 2, ' ', 0)
	for _, cl := range cls {
		if *kind == "" {
			fmt.Fprintf(tw, "%s\tv%d\t%d items\t%s\n", cl.Kind, cl.Version, len(cl.Items), cl.Title)
			continue
		}
		fmt.Fprintf(cmd.out, "%s v%d: %s, %d items\n", cl.Kind, cl.Version, cl.Title, len(cl.Items))
		for _, it := range cl.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", it.Code, it.Severity, it.Text)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *kind == "" {
		fmt.Fprintf(cmd.out, "%d checklists on this device\n", len(cls))
	}
	return nil
}

// refreshLists fetches the lists when asked to.
func (cmd *command) refreshLists(refresh bool) error {
	if !refresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(cmd.ctx, time.Minute)
	defer cancel()
	return cmd.c.RefreshLists(ctx)
}

// pairs is a repeatable CODE=VALUE flag.
type pairs map[string][]string

func (p pairs) String() string { return fmt.Sprint(map[string][]string(p)) }
func (p pairs) Set(v string) error {
	code, value, ok := strings.Cut(v, "=")
	if !ok || code == "" || value == "" {
		return fmt.Errorf("want CODE=VALUE, got %q", v)
	}
	p[code] = append(p[code], value)
	return nil
}

// inspect records a whole inspection of a site, offline: the inspection,
// one result per checklist item (pass unless failed or not applicable),
// and a hazard for each failed item, linked both ways.
func (cmd *command) inspect(args []string) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	kind := fs.String("kind", "", "checklist kind (default: the site's kind)")
	version := fs.Int("version", 0, "checklist version (default: the latest kept)")
	fails, photos := pairs{}, pairs{}
	fs.Var(fails, "fail", "CODE=NOTE: the item failed (repeatable)")
	fs.Var(photos, "photo", "CODE=PHOTO: a photo file or sha256 of an item (repeatable)")
	var na multi
	fs.Var(&na, "na", "CODE: the item does not apply (repeatable)")
	note := fs.String("note", "", "note on the whole inspection")
	signature := fs.String("signature", "", "photo file or sha256 of the resident's signature")
	maxEdge := fs.Int("max-edge", 0, "downscale photo files to this longest side in pixels")
	refused := fs.String("refused", "", "the resident refused to sign: why")
	covert := fs.Bool("covert", false, "a covert visit (暗访): its hazards close within 15 days")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	site, err := cmd.c.Get("sites", pos[0])
	if err != nil {
		return fmt.Errorf("site %s: %w", pos[0], err)
	}
	clKind := cmp.Or(*kind, site.String("kind"))
	cls, err := cmd.c.Checklists(clKind, true)
	if err != nil {
		return err
	}
	cl, err := pickChecklist(cls, clKind, *version)
	if err != nil {
		return err
	}
	codes := map[string]syncproto.ChecklistItem{}
	for _, it := range cl.Items {
		codes[it.Code] = it
	}
	for _, c := range slices.Concat(slices.Collect(maps.Keys(fails)), slices.Collect(maps.Keys(photos)), na) {
		if _, ok := codes[c]; !ok {
			return fmt.Errorf("%w: %s v%d has no item %q", errUsage, cl.Kind, cl.Version, c)
		}
	}
	// Check every PHOTO argument before the first record is written.
	shas, files := map[string][]string{}, map[string][]string{}
	for code, vs := range photos {
		if shas[code], files[code], err = splitPhotos(vs); err != nil {
			return err
		}
	}
	var sigSHA, sigFile string
	if *signature != "" {
		if sigSHA, sigFile, err = photoArg(*signature); err != nil {
			return err
		}
	}
	// A failed item is a hazard at the first stage the user's role may
	// take (a grid worker reports it, the station dispatches it); a role
	// that takes none records the failures without hazards refused later.
	stage := ""
	if len(fails) > 0 {
		if stage = firstHazardStage(cmd.c.User()); stage == "" {
			return fmt.Errorf("%w: your role may not report hazards: record failed items as a grid worker, village officer or the station", errUsage)
		}
	}
	now := time.Now().UnixMilli()
	result := syncproto.InspectionPass
	if len(fails) > 0 {
		result = syncproto.InspectionHazardFound
	}
	f := client.Fields{"site": site.ID, "checklist_kind": cl.Kind, "checklist_version": cl.Version,
		"started_at": now, "finished_at": now, "result": result}
	if u := cmd.c.User(); u != nil {
		f["inspectors"] = []string{u.Username}
	}
	for k, v := range map[string]string{"note": *note, "signature": sigSHA, "refusal_note": *refused} {
		if v != "" {
			f[k] = v
		}
	}
	if *refused != "" {
		f["refused"] = true
	}
	if *covert {
		f["covert"] = true
	}

	// The inspection, its items, the hazards and their links: one batch,
	// all in the outbox or nothing.
	b, err := cmd.c.BeginBatch()
	if err != nil {
		return err
	}
	defer b.Rollback()
	insp, err := b.Create("inspections", f)
	if err != nil {
		return err
	}
	items, hazards := map[string]string{}, map[string]string{}
	for _, it := range cl.Items {
		res := syncproto.ItemPass
		switch {
		case fails[it.Code] != nil:
			res = syncproto.ItemFail
		case slices.Contains(na, it.Code):
			res = syncproto.ItemNA
		}
		itemNote := strings.Join(fails[it.Code], "；")
		fi := client.Fields{"inspection": insp, "item": it.Code, "result": res}
		if itemNote != "" {
			fi["note"] = itemNote
		}
		if p := shas[it.Code]; len(p) > 0 {
			fi["photos"] = p
		}
		if items[it.Code], err = b.Create("inspection_items", fi); err != nil {
			return fmt.Errorf("item %s: %w", it.Code, err)
		}
		if res != syncproto.ItemFail {
			continue
		}
		fh := client.Fields{"site": site.ID, "inspection": insp, "item": items[it.Code], "title": hazardTitle(itemNote, it.Text),
			"description": it.Code + " " + it.Text, "severity": it.Severity, "status": stage}
		if p := shas[it.Code]; len(p) > 0 {
			fh["photos"] = p
		}
		if *covert {
			fh["covert"] = true
		}
		if hazards[it.Code], err = b.Create("hazards", fh); err != nil {
			return fmt.Errorf("hazard of %s: %w", it.Code, err)
		}
		if err := b.Update("inspection_items", items[it.Code], client.Change{Set: map[string]any{"hazard": hazards[it.Code]}}); err != nil {
			return err
		}
	}
	if err := b.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "inspection %s of %s with %s v%d: %d items, %d failed, %d not applicable (not synced yet)\n",
		insp, site.String("name"), cl.Kind, cl.Version, len(cl.Items), len(fails), len(na))
	for _, it := range cl.Items {
		if hz := hazards[it.Code]; hz != "" {
			fmt.Fprintf(cmd.out, "hazard %s  %s\n", hz, it.Code)
		}
	}

	// Photo files go into the queue once the records exist; a failed item's
	// photos are its hazard's too.
	if sigFile != "" {
		if _, err := cmd.attachFiles("inspections", insp, "signature", []string{sigFile}, *maxEdge); err != nil {
			return fmt.Errorf("the inspection is recorded; its signature photo is not: %w", err)
		}
	}
	for _, it := range cl.Items {
		attached, err := cmd.attachFiles("inspection_items", items[it.Code], "photos", files[it.Code], *maxEdge)
		if err != nil {
			return fmt.Errorf("the inspection is recorded; photos of item %s are not: %w", it.Code, err)
		}
		if hz := hazards[it.Code]; hz != "" && len(attached) > 0 {
			if err := cmd.c.Update("hazards", hz, client.Change{Add: map[string][]string{"photos": attached}}); err != nil {
				return fmt.Errorf("the inspection is recorded; photos of hazard %s are not: %w", hz, err)
			}
		}
	}
	return nil
}

// firstHazardStage is the first stage of a hazard's workflow that the
// user's role may take ("" if none): a new hazard starts there.
func firstHazardStage(u *client.User) string {
	col, ok := syncproto.DefaultSchema().Collection("hazards")
	if u == nil || !ok {
		return ""
	}
	f, _ := col.Field("status")
	for _, stage := range f.Stages {
		if slices.Contains(f.Steps[syncproto.Role(u.Role)], stage) {
			return stage
		}
	}
	return ""
}

func pickChecklist(cls []syncproto.Checklist, kind string, version int) (syncproto.Checklist, error) {
	var best *syncproto.Checklist
	for i, cl := range cls {
		if cl.Kind != kind || version > 0 && cl.Version != version {
			continue
		}
		if best == nil || cl.Version > best.Version {
			best = &cls[i]
		}
	}
	if best == nil {
		return syncproto.Checklist{}, fmt.Errorf("no checklist %s (version %d) kept: run gridctl sync while online", kind, version)
	}
	return *best, nil
}

// hazardTitle is the failed item's note, or the item's text marked as not
// met, cut to the title's limit.
func hazardTitle(note, text string) string {
	t := note
	if t == "" {
		t = "不符合：" + text
	}
	if utf8.RuneCountInString(t) > syncproto.MaxStringLen {
		t = string([]rune(t)[:syncproto.MaxStringLen])
	}
	return t
}

// evidence records rectification evidence on a hazard (photos, a note)
// and, with -submit, submits the rectification for verification. The
// submission is its own op: if the station reopened the hazard meanwhile,
// only the submission is refused, never the evidence.
func (cmd *command) evidence(args []string) error {
	fs := flag.NewFlagSet("evidence", flag.ContinueOnError)
	var photos multi
	fs.Var(&photos, "photo", "a photo file or sha256 of the rectification (repeatable)")
	note := fs.String("note", "", "what was done")
	submit := fs.Bool("submit", false, "submit the rectification for verification")
	maxEdge := fs.Int("max-edge", 0, "downscale photo files to this longest side in pixels")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	shas, files, err := splitPhotos(photos)
	if err != nil {
		return err
	}
	if _, err := cmd.attachFiles("hazards", pos[0], "evidence", files, *maxEdge); err != nil {
		return err
	}
	ch := client.Change{Set: map[string]any{}}
	if len(shas) > 0 {
		ch.Add = map[string][]string{"evidence": shas}
	}
	if *note != "" {
		ch.Set["rectification_note"] = *note
	}
	if len(ch.Add)+len(ch.Set) > 0 {
		if err := cmd.c.Update("hazards", pos[0], ch); err != nil {
			return err
		}
	}
	if *submit {
		if err := cmd.c.Update("hazards", pos[0], client.Change{Flow: map[string]string{"status": syncproto.StageSubmitted}}); err != nil {
			return err
		}
	}
	fmt.Fprintf(cmd.out, "hazard %s: %d evidence photos", pos[0], len(photos))
	if *submit {
		fmt.Fprint(cmd.out, ", submitted")
	}
	fmt.Fprintln(cmd.out, " (not synced yet)")
	return nil
}

// tasks shows what the user's area must check: the task list sync keeps,
// brought up to date with the inspections made on this device since.
func (cmd *command) tasks(args []string) error {
	fs := flag.NewFlagSet("tasks", flag.ContinueOnError)
	area := fs.String("area", "", "only this grid's sites")
	status := fs.String("status", "", "comma-separated: ok, due, overdue, never")
	refresh := fs.Bool("refresh", false, "fetch the lists from the server first")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := cmd.refreshLists(*refresh); err != nil {
		return err
	}
	q := client.TaskQuery{Area: *area}
	if *status != "" {
		q.Statuses = strings.Split(*status, ",")
	}
	tasks, err := cmd.c.Tasks(q)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tLAST CHECK\tDUE BY\tSITE\tRISK\tNAME")
	for _, t := range tasks {
		last, due := "never", "now"
		if t.LastCheckedAt != nil {
			last = fmt.Sprintf("%d days ago", t.AgeDays)
			due = t.DueAt.Add(-time.Millisecond).Local().Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Status, last, due, t.SiteID, or(t.RiskLevel, "-"), t.SiteName)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "%d sites\n", len(tasks))
	return nil
}

// parseDeadline reads a -deadline date: the end of that day, local time.
func parseDeadline(v string) (int64, error) {
	d, err := time.ParseInLocation(time.DateOnly, v, time.Local)
	if err != nil {
		return 0, fmt.Errorf("%w: deadline %q: want YYYY-MM-DD", errUsage, v)
	}
	return d.AddDate(0, 0, 1).UnixMilli() - 1, nil
}
