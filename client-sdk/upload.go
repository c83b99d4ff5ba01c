package client

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// UploadOptions tunes UploadPhotos. The zero value uploads every photo that
// is due.
type UploadOptions struct {
	// RetryNow also tries photos whose backoff after failed attempts has
	// not run out (the user pressed "retry").
	RetryNow bool
	// MaxPhotos bounds the photos tried in this run; 0 means no bound.
	MaxPhotos int
}

// PhotoReport says what one run of the photo queue did.
type PhotoReport struct {
	// Stored counts photos the server confirmed as stored in this run
	// (their local copies are removed).
	Stored int
	// Received counts photos whose bytes the server verified but could not
	// put into its object store yet: they are safe on the server, and a
	// later run confirms them.
	Received int
	// Refused counts photos the server refused in this run (PendingPhotos
	// shows why; the local copies are kept).
	Refused int
	// BytesSent counts photo bytes handed to the network (PATCH bodies),
	// resent ones included. Bytes still in the device's socket buffers
	// when a link drops count too although they never left; the server's
	// offsets (Photo.Uploaded) say what arrived.
	BytesSent int64
	// Pending counts photos still to be stored after the run: waiting for
	// their record to be accepted, queued, backing off, or received.
	Pending int
	// Metered is true when uploads were held because photos upload only on
	// unmetered networks (Options.PhotosUnmeteredOnly) and this one is not.
	Metered bool
}

// UploadPhotos uploads queued photos whose records the server has accepted,
// highest collection priority first (incident photos before routine
// checks), with tus resumable uploads: an upload interrupted by a lost
// signal, a crash or an app restart resumes where the server's bytes end,
// and failures back off (the backoff survives a restart). A photo counts
// as uploaded only when the server confirms the verified, stored photo;
// then its local copy is removed. Sync calls it after push and pull; call
// it from a background job too. Photos the server refuses are kept and
// reported, not retried. The report is returned (partly filled) also with
// an error.
func (c *Client) UploadPhotos(ctx context.Context, opt UploadOptions) (*PhotoReport, error) {
	rep := &PhotoReport{}
	err := c.uploadPhotos(ctx, opt, rep)
	return rep, err
}

// uploadPhotos is UploadPhotos, reporting into rep.
func (c *Client) uploadPhotos(ctx context.Context, opt UploadOptions, rep *PhotoReport) error {
	c.uploadMu.Lock()
	defer c.uploadMu.Unlock()
	defer func() {
		if n, err := c.countPending(); err == nil {
			rep.Pending = n
		}
	}()
	if c.base == nil {
		return errors.New("no server url configured")
	}
	if c.metered() {
		rep.Metered = true
		return nil
	}
	due, err := c.duePhotos(opt.RetryNow)
	if err != nil {
		return err
	}
	run := &uploadRun{c: c, rep: rep}
	var first error
	for i, p := range due {
		if opt.MaxPhotos > 0 && i >= opt.MaxPhotos {
			break
		}
		if c.metered() {
			rep.Metered = true
			break
		}
		err := run.upload(ctx, p)
		if err == nil {
			continue
		}
		err = fmt.Errorf("photo %s: %w", p.sha, err)
		if first == nil {
			first = err
		}
		// A server that answers may still take the next photo; without a
		// link, a session or time left, the next photo fails the same way.
		var ae *APIError
		if !errors.As(err, &ae) || ctx.Err() != nil {
			break
		}
	}
	return first
}

// metered reports whether photo uploads are held on this network.
func (c *Client) metered() bool {
	return c.opt.PhotosUnmeteredOnly && (c.opt.Unmetered == nil || !c.opt.Unmetered())
}

func (c *Client) countPending() (int, error) {
	var n int
	err := c.r.QueryRow(`SELECT count(*) FROM photos WHERE state IN (?, ?, ?, ?)`,
		PhotoWaitingRef, PhotoQueued, PhotoUploading, PhotoReceived).Scan(&n)
	return n, err
}

// queued is a photo as the uploader works on it.
type queued struct {
	sha, filename, state, url string
	size, uploaded            int64
	attempts                  int
	refs                      []PhotoRef // accepted ones
}

// duePhotos returns the photos to upload now, in upload order: the highest
// priority of their accepted references first, then those that have not
// been failing, then the oldest.
func (c *Client) duePhotos(retryNow bool) ([]*queued, error) {
	var out []*queued
	err := c.view(func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT p.sha256, p.filename, p.state, p.upload_url, p.size, p.uploaded, p.attempts
			FROM photos p WHERE p.state IN (?, ?, ?) AND (? OR p.next_try_ms <= ?)
			ORDER BY (SELECT max(r.priority) FROM photo_refs r WHERE r.sha256 = p.sha256 AND r.state = ?) DESC,
				p.attempts, p.created_at, p.sha256`,
			PhotoQueued, PhotoUploading, PhotoReceived, retryNow, c.opt.Now().UnixMilli(), RefAccepted)
		if err != nil {
			return err
		}
		for rows.Next() {
			p := &queued{}
			if err := rows.Scan(&p.sha, &p.filename, &p.state, &p.url, &p.size, &p.uploaded, &p.attempts); err != nil {
				rows.Close()
				return err
			}
			out = append(out, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range out {
			if p.refs, err = photoRefs(tx, p.sha, RefAccepted); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// uploadRun is one run of the queue.
type uploadRun struct {
	c   *Client
	rep *PhotoReport
	// missing is GET /v1/photos/missing?scope=device, asked for at most
	// once per run. A photo absent from it is confirmed by its document
	// (the list may also have hit its limit).
	missing map[string]missingPhoto
}

// Outcomes of a failed step, by what the uploader does next.
const (
	stepRetry    = iota // ask the server for the offset (HEAD) and go on, after a backoff
	stepRefused         // the server refused the bytes: keep them for the user
	stepGone            // the upload is gone on the server: find out whether the photo is stored, else start over
	stepReceived        // verified and safe on the server, not yet in its object store: confirm later
	stepFatal           // stop the run (crash, no session, local failure, ctx)
)

// localRefusal is a photo the SDK refuses to send: its local copy is gone
// or changed.
type localRefusal struct{ code, msg string }

func (e *localRefusal) Error() string { return e.code + ": " + e.msg }

// netError is a failure to exchange with the server (no route, a cut
// connection, a stalled body): the request may or may not have arrived.
type netError struct{ error }

func (e netError) Unwrap() error { return e.error }

// refusedCodes are the server's refusals of an upload's bytes or request;
// sending the same again would be refused again.
var refusedCodes = map[string]bool{codeTooLarge: true, CodeUnsupportedPhoto: true, "unsupported_media": true, CodeHashMismatch: true}

func (u *uploadRun) classify(err error, p *queued) int {
	var ae *APIError
	var lr *localRefusal
	switch {
	case errors.As(err, &lr):
		return stepRefused
	case errors.As(err, &ae):
		switch {
		case refusedCodes[ae.Code]:
			return stepRefused
		case ae.Status == http.StatusNotFound:
			return stepGone
		case ae.Status == http.StatusServiceUnavailable && (ae.Details["received"] == true || p.url != "" && p.uploaded == p.size):
			// A HEAD's 503 has no body to say so, but the device knows it
			// had sent every byte.
			return stepReceived
		}
		return stepRetry
	case errors.As(err, new(netError)), errors.Is(err, ErrProtocol):
		return stepRetry
	}
	return stepFatal
}

// upload moves one photo as far as it goes in this run: stored, received,
// refused, or failing past the retry budget (the error). Each step's result
// is committed locally before the next request, so a crash anywhere
// resumes from the last committed step.
func (u *uploadRun) upload(ctx context.Context, p *queued) error {
	c := u.c
	if p.url != "" {
		if l, err := url.Parse(p.url); err != nil || !sameOrigin(c.base, l) {
			// The app now talks to another server: that upload is not
			// there.
			if err := u.forget(p); err != nil {
				return err
			}
		}
	}
	known := false // p.uploaded is the server's offset (else HEAD first)
	tries := 0     // failures in this run since the last progress
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		before := p.uploaded
		var err error
		var done bool
		switch {
		case p.url == "" && p.state == PhotoReceived:
			// The server held the bytes when the upload was lost: find
			// out where they are before sending them again.
			err = errUploadGone("the upload was lost while the server held the photo's bytes")
		case p.url == "":
			err = u.create(ctx, p)
			known = err == nil
		case !known:
			done, err = u.head(ctx, p)
			known = err == nil
		default:
			done, err = u.patch(ctx, p)
		}
		if p.uploaded > before {
			tries = 0
		}
		if err == nil {
			if done {
				return nil
			}
			continue
		}
		known = false
		switch u.classify(err, p) {
		case stepFatal:
			return err
		case stepRefused:
			return u.refuse(p, err)
		case stepReceived:
			return u.received(p, err)
		case stepGone:
			if err := u.forget(p); err != nil {
				return err
			}
			stored, rerr := u.storedOnServer(ctx, p)
			switch {
			case rerr != nil:
				err = rerr
			case stored:
				return u.stored(p)
			case u.missing[p.sha].Received:
				return u.received(p, err)
			}
		}
		tries++
		wait, werr := u.failed(p, err)
		if werr != nil {
			return werr
		}
		if tries > c.opt.MaxRetries {
			return err
		}
		c.log.Debug("photo upload: retrying", slog.String("sha256", p.sha), slog.Int("try", tries), slog.Duration("wait", wait), slog.Any("err", err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// failed records a failed attempt: the count and the time before which the
// photo is not tried again, so the backoff holds across runs and restarts.
func (u *uploadRun) failed(p *queued, cause error) (time.Duration, error) {
	c := u.c
	p.attempts++
	wait := c.backoff(cause, p.attempts)
	code := codeOf(cause)
	err := c.update(func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE photos SET attempts = ?, next_try_ms = ?, error_code = ?, last_error = ? WHERE sha256 = ?`,
			p.attempts, c.opt.Now().Add(wait).UnixMilli(), code, truncate(cause.Error(), 500), p.sha)
		return err
	})
	return wait, err
}

// codeOf is the code shown for an upload failure.
func codeOf(err error) string {
	var ae *APIError
	var lr *localRefusal
	switch {
	case errors.As(err, &lr):
		return lr.code
	case errors.As(err, &ae):
		return ae.Code
	case errors.Is(err, ErrProtocol):
		return "protocol"
	}
	return "network"
}

// progress records the server's offset of the upload; bytes that arrived
// reset the failure count.
func (u *uploadRun) progress(p *queued, offset int64) error {
	grew := offset > p.uploaded
	p.uploaded, p.state = offset, PhotoUploading
	if grew {
		p.attempts = 0
	}
	return u.c.update(func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE photos SET uploaded = ?, state = ?, attempts = ?, next_try_ms = CASE WHEN ? THEN 0 ELSE next_try_ms END
			WHERE sha256 = ?`, offset, PhotoUploading, p.attempts, grew, p.sha)
		return err
	})
}

// forget drops the photo's upload (gone, or on another server); the next
// step starts a new one.
func (u *uploadRun) forget(p *queued) error {
	p.url, p.uploaded, p.state = "", 0, PhotoQueued
	return u.c.update(func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE photos SET upload_url = '', uploaded = 0, state = ? WHERE sha256 = ?`, PhotoQueued, p.sha)
		return err
	})
}

// stored records the server's confirmation and removes the local copy.
func (u *uploadRun) stored(p *queued) error {
	c := u.c
	err := c.update(func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE photos SET state = ?, upload_url = '', uploaded = size, attempts = 0, next_try_ms = 0,
			error_code = '', last_error = '', stored_at = ? WHERE sha256 = ?`, PhotoStored, c.opt.Now().UnixMilli(), p.sha)
		return err
	})
	if err != nil {
		return err
	}
	u.rep.Stored++
	if err := os.Remove(c.photoPath(p.sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Open's sweep removes it next time.
		c.log.Warn("photo stored, its local copy not removed", slog.String("sha256", p.sha), slog.Any("err", err))
	}
	c.log.Info("photo stored", slog.String("sha256", p.sha), slog.Int64("size", p.size))
	return nil
}

// received records that the server holds the verified bytes and waits for
// its object store; the photo is confirmed by a later run.
func (u *uploadRun) received(p *queued, cause error) error {
	c := u.c
	p.state, p.uploaded = PhotoReceived, p.size
	p.attempts++
	wait := c.backoff(cause, p.attempts)
	err := c.update(func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE photos SET state = ?, uploaded = size, attempts = ?, next_try_ms = ?, error_code = ?, last_error = ?
			WHERE sha256 = ?`, PhotoReceived, p.attempts, c.opt.Now().Add(wait).UnixMilli(), codeOf(cause), truncate(cause.Error(), 500), p.sha)
		return err
	})
	if err == nil {
		u.rep.Received++
	}
	return err
}

// refuse keeps a photo the server (or the SDK) refused, with the reason,
// for the user; it is not tried again.
func (u *uploadRun) refuse(p *queued, cause error) error {
	c := u.c
	err := c.update(func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE photos SET state = ?, upload_url = '', uploaded = 0, attempts = 0, next_try_ms = 0, error_code = ?, last_error = ?
			WHERE sha256 = ?`, PhotoRefused, codeOf(cause), truncate(cause.Error(), 500), p.sha)
		return err
	})
	if err != nil {
		return err
	}
	u.rep.Refused++
	c.log.Warn("photo refused; the local copy is kept", slog.String("sha256", p.sha), slog.String("code", codeOf(cause)), slog.Any("err", cause))
	return nil
}

// create starts a tus upload (POST) and commits its URL before any byte is
// sent, so that a crash after this point resumes that upload. The local
// copy is checked against its hash first: a changed copy would only be
// refused after it was sent.
func (u *uploadRun) create(ctx context.Context, p *queued) error {
	c := u.c
	sum, err := hashFile(c.photoPath(p.sha))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &localRefusal{CodeLocalCopyMissing, "the local copy of the photo is gone"}
	case err != nil:
		return err
	case sum != p.sha:
		return &localRefusal{CodeHashMismatch, "the local copy no longer has the photo's sha256 (it was changed on the device)"}
	}
	meta := "sha256 " + b64(p.sha)
	if p.filename != "" {
		meta += ",filename " + b64(p.filename)
	}
	if len(p.refs) > 0 {
		meta += ",doc " + b64(p.refs[0].Collection+"/"+p.refs[0].Doc)
	}
	target := *c.base
	target.Path += "/v1/uploads"
	reply, err := c.tus(ctx, http.MethodPost, target.String(), map[string]string{"Upload-Length": strconv.FormatInt(p.size, 10),
		"Upload-Metadata": meta}, nil, u.rep)
	if err != nil {
		return err
	}
	if err := c.crash("photo-post"); err != nil {
		return err
	}
	err = c.update(func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE photos SET upload_url = ?, uploaded = 0, state = ? WHERE sha256 = ?`, reply.location, PhotoUploading, p.sha)
		return err
	})
	if err != nil {
		return err
	}
	p.url, p.uploaded, p.state = reply.location, 0, PhotoUploading
	return nil
}

// errUploadGone is a step that finds the upload missing on the server
// without it having said 404.
func errUploadGone(msg string) error {
	return &APIError{Status: http.StatusNotFound, Code: codeNotFound, Message: msg}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// head asks the server where the upload stands. An upload whose offset is
// its length is stored (the server finishes an upload before it answers).
func (u *uploadRun) head(ctx context.Context, p *queued) (done bool, err error) {
	reply, err := u.c.tus(ctx, http.MethodHead, p.url, nil, nil, u.rep)
	if err != nil {
		return false, err
	}
	if reply.length != p.size {
		return false, errUploadGone(fmt.Sprintf("the upload has length %d, the photo %d bytes: not this photo's", reply.length, p.size))
	}
	if reply.offset == p.size {
		return true, u.stored(p)
	}
	return false, u.progress(p, reply.offset)
}

// patch sends the rest of the photo from the server's offset. The final
// PATCH is answered 204 only once the photo is verified and stored.
func (u *uploadRun) patch(ctx context.Context, p *queued) (done bool, err error) {
	c := u.c
	f, err := os.Open(c.photoPath(p.sha))
	if errors.Is(err, fs.ErrNotExist) {
		return false, &localRefusal{CodeLocalCopyMissing, "the local copy of the photo is gone"}
	} else if err != nil {
		return false, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return false, err
	} else if fi.Size() != p.size {
		return false, &localRefusal{CodeHashMismatch, fmt.Sprintf("the local copy changed on the device: %d bytes, the photo %d", fi.Size(), p.size)}
	}
	from := p.uploaded
	body := func() *io.SectionReader { return io.NewSectionReader(f, from, p.size-from) }
	reply, err := c.tus(ctx, http.MethodPatch, p.url, map[string]string{"Content-Type": "application/offset+octet-stream",
		"Upload-Offset": strconv.FormatInt(from, 10), "Expect": "100-continue"}, body, u.rep)
	if err != nil {
		return false, err
	}
	if reply.offset <= from || reply.offset > p.size {
		return false, protocolError("PATCH from %d answered offset %d of %d", from, reply.offset, p.size)
	}
	if err := c.crash("photo-patch"); err != nil {
		return false, err
	}
	if reply.offset == p.size {
		return true, u.stored(p)
	}
	return false, u.progress(p, reply.offset)
}

// storedOnServer decides, once an upload is gone from the server (its
// record expired after the photo was stored, or it was never finished),
// whether the server has the photo: not while /v1/photos/missing lists it
// for this device; yes if a document that references it says present.
// Only the document's word counts as yes, because the missing list omits
// photos whose reference was removed meanwhile.
func (u *uploadRun) storedOnServer(ctx context.Context, p *queued) (bool, error) {
	c := u.c
	if u.missing == nil {
		q := url.Values{"scope": {"device"}}
		var list []missingPhoto
		err := c.call(ctx, request{method: http.MethodGet, path: "/v1/photos/missing", query: q, auth: true}, func(b []byte) (err error) {
			list, err = decodeMissing(b)
			return err
		})
		if err != nil {
			return false, err
		}
		u.missing = make(map[string]missingPhoto, len(list))
		for _, m := range list {
			u.missing[m.SHA256] = m
		}
	}
	if _, listed := u.missing[p.sha]; listed {
		return false, nil
	}
	for _, r := range p.refs {
		var present map[string]bool
		err := c.call(ctx, request{method: http.MethodGet, path: "/v1/docs/" + url.PathEscape(r.Collection) + "/" + url.PathEscape(r.Doc) + "/photos",
			auth: true}, func(b []byte) (err error) {
			present, err = decodeDocPhotos(b)
			return err
		})
		if errors.Is(err, ErrNotFound) {
			continue // out of the user's area now, or deleted: ask another
		}
		if err != nil {
			return false, err
		}
		if present[p.sha] {
			return true, nil
		}
	}
	return false, nil
}

// tus performs one tus exchange through authed (token refresh on 401).
// body, when not nil, makes a fresh reader of the request body for each
// try; the bytes it yields are counted into rep.
func (c *Client) tus(ctx context.Context, method, target string, headers map[string]string, body func() *io.SectionReader,
	rep *PhotoReport) (*tusReply, error) {
	var reply *tusReply
	err := c.authed(ctx, func(token string) error {
		var sent int64
		var err error
		reply, sent, err = c.tusOnce(ctx, method, target, headers, body, token)
		rep.BytesSent += sent
		return err
	})
	return reply, err
}

// errIdle ends a tus request that made no progress for UploadIdleTimeout.
var errIdle = errors.New("no progress within the upload idle timeout")

// tusOnce sends one tus request. A request with a body has no overall
// deadline, only an inactivity one: it is cancelled when the body has not
// been read from (the link takes nothing) for UploadIdleTimeout, counting
// the wait for the reply after the last byte. Others have RequestTimeout.
func (c *Client) tusOnce(ctx context.Context, method, target string, headers map[string]string, body func() *io.SectionReader,
	token string) (*tusReply, int64, error) {
	var rd *progressReader
	var size int64
	var cancel context.CancelFunc
	if body == nil {
		ctx, cancel = context.WithTimeout(ctx, c.opt.RequestTimeout)
	} else {
		var cancelCause context.CancelCauseFunc
		ctx, cancelCause = context.WithCancelCause(ctx)
		sr := body()
		rd, size = &progressReader{r: sr}, sr.Size()
		stop := rd.watch(c.opt.UploadIdleTimeout, func() { cancelCause(errIdle) })
		cancel = func() { stop(); cancelCause(nil) }
	}
	defer cancel()
	var r io.Reader
	if rd != nil {
		r = rd
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return nil, 0, err
	}
	req.ContentLength = size
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	if c.opt.AppVersion != "" {
		req.Header.Set("User-Agent", "gridsync-client/"+c.opt.AppVersion)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.opt.HTTPClient.Do(req)
	sent := int64(0)
	if rd != nil {
		sent = rd.n.Load()
	}
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errIdle) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return nil, sent, netError{err}
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		return nil, sent, netError{fmt.Errorf("read reply: %w", err)}
	}
	if resp.StatusCode/100 != 2 {
		return nil, sent, decodeError(resp.StatusCode, resp.Header.Get("Retry-After"), data)
	}
	reply, err := decodeTusReply(c.base, method, resp.StatusCode, resp.Header)
	return reply, sent, err
}

// progressReader counts the bytes read from r and when the last read was.
type progressReader struct {
	r    io.Reader
	n    atomic.Int64
	last atomic.Int64 // unix nanoseconds
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.n.Add(int64(n))
		p.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// watch calls expire once nothing was read for idle; stop, called once,
// ends the watch.
func (p *progressReader) watch(idle time.Duration, expire func()) (stop func()) {
	p.last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(max(idle/8, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if now.Sub(time.Unix(0, p.last.Load())) > idle {
					expire()
					return
				}
			}
		}
	}()
	return func() { close(done) }
}
