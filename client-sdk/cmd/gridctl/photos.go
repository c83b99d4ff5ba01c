package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	client "github.com/gridsync/gridsync/client-sdk"
	"github.com/gridsync/gridsync/syncproto"
)

// The photo commands: attach (offline: check, hash and queue a photo file
// and add it to a record), photos (the queue), upload (online), and
// photo-dismiss. The record commands' -photo flags take a file or a sha256
// (photoArg).

// photoArg reads a PHOTO argument: a photo file, else the sha256 of a
// photo (one already queued or uploaded, or taken by another app).
func photoArg(v string) (sha, file string, err error) {
	if fi, err := os.Stat(v); err == nil && fi.Mode().IsRegular() {
		return "", v, nil
	}
	if syncproto.ValidSHA256(v) {
		return v, "", nil
	}
	return "", "", fmt.Errorf("%w: photo %q is neither a file nor a sha256", errUsage, v)
}

// splitPhotos sorts PHOTO arguments into hashes and files.
func splitPhotos(args []string) (shas, files []string, err error) {
	for _, v := range args {
		sha, file, err := photoArg(v)
		if err != nil {
			return nil, nil, err
		}
		if file != "" {
			files = append(files, file)
		} else {
			shas = append(shas, sha)
		}
	}
	return shas, files, nil
}

// attachFiles attaches photo files to a record's field and prints each.
func (cmd *command) attachFiles(collection, doc, field string, files []string, maxEdge int) ([]string, error) {
	var shas []string
	for _, f := range files {
		sha, err := cmd.c.AttachPhoto(collection, doc, field, f, client.AttachOptions{MaxEdge: maxEdge})
		if err != nil {
			return shas, fmt.Errorf("photo %s: %w", f, err)
		}
		fmt.Fprintf(cmd.out, "photo %s queued (%s)\n", sha, f)
		shas = append(shas, sha)
	}
	return shas, nil
}

// attach: attach COLLECTION DOC FILE [-field F] [-max-edge N].
func (cmd *command) attach(args []string) error {
	fs := flag.NewFlagSet("attach", flag.ContinueOnError)
	field := fs.String("field", "photos", "the record's photo field (photos, evidence, signature...)")
	maxEdge := fs.Int("max-edge", 0, "downscale to this longest side in pixels (0: keep the photo as taken)")
	pos, err := parse(fs, args, 3)
	if err != nil {
		return err
	}
	sha, err := cmd.c.AttachPhoto(pos[0], pos[1], *field, pos[2], client.AttachOptions{MaxEdge: *maxEdge})
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.out, sha)
	return nil
}

// photos lists the photo queue.
func (cmd *command) photos() error {
	ps, err := cmd.c.Photos()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SHA256\tSTATE\tSIZE\tSERVER HAS\tRECORD\tERROR")
	pending := 0
	for _, p := range ps {
		if p.State != client.PhotoStored {
			pending++
		}
		rec := "-"
		if len(p.Refs) > 0 {
			r := p.Refs[0]
			rec = r.Collection + "/" + r.Doc + "." + r.Field
			if len(p.Refs) > 1 {
				rec += fmt.Sprintf(" +%d", len(p.Refs)-1)
			}
		}
		errText := "-"
		if p.ErrorCode != "" {
			errText = p.ErrorCode
			if !p.NextTry.IsZero() && p.State != client.PhotoRefused {
				errText += fmt.Sprintf(", next try in %s", max(time.Until(p.NextTry).Round(time.Second), 0))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", p.SHA256, p.State, p.Size, p.Uploaded, rec, errText)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.out, "%d photos, %d not stored on the server yet\n", len(ps), pending)
	return nil
}

// upload runs the photo queue now, also for photos backing off.
func (cmd *command) upload() error {
	ctx, cancel := context.WithTimeout(cmd.ctx, 30*time.Minute)
	defer cancel()
	rep, err := cmd.c.UploadPhotos(ctx, client.UploadOptions{RetryNow: true})
	cmd.photoReport(rep)
	if err == nil && rep.Stored+rep.Received+rep.Refused == 0 && !rep.Metered {
		fmt.Fprintf(cmd.out, "no photo to upload (%d waiting for their records to sync)\n", rep.Pending)
	}
	return err
}

// photoReport prints what the photo queue did.
func (cmd *command) photoReport(rep *client.PhotoReport) {
	if rep.Stored > 0 {
		fmt.Fprintf(cmd.out, "uploaded %d photos (%d bytes sent)\n", rep.Stored, rep.BytesSent)
	}
	if rep.Received > 0 {
		fmt.Fprintf(cmd.out, "%d photos are safe on the server, waiting for its photo store: they are confirmed at a later sync\n", rep.Received)
	}
	if rep.Refused > 0 {
		fmt.Fprintf(cmd.out, "%d photos were refused: see gridctl photos\n", rep.Refused)
	}
	if rep.Metered && rep.Pending > 0 {
		fmt.Fprintf(cmd.out, "%d photos wait for an unmetered network\n", rep.Pending)
	}
}

// photoDismiss forgets a refused photo.
func (cmd *command) photoDismiss(args []string) error {
	pos, err := parse(flag.NewFlagSet("photo-dismiss", flag.ContinueOnError), args, 1)
	if err != nil {
		return err
	}
	if err := cmd.c.DismissPhoto(pos[0]); err != nil {
		if errors.Is(err, client.ErrConflict) {
			return fmt.Errorf("%w (it is still on its way: gridctl upload)", err)
		}
		return err
	}
	fmt.Fprintf(cmd.out, "photo %s dismissed\n", strings.TrimSpace(pos[0]))
	return nil
}
