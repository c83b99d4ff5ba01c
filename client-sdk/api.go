package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// gzipAbove is the request body size from which pushes are gzipped; below
// it the gzip header costs more than it saves.
const gzipAbove = 1024

// request is one API call.
type request struct {
	method string
	path   string // below the server URL, e.g. "/v1/sync/push"
	query  url.Values
	body   []byte // JSON, nil for none
	auth   bool   // send the access token (and refresh it on 401)
}

// call sends r, retrying transient failures with exponential backoff and
// jitter within ctx and the retry options, and passes the body of the
// successful reply to decode. An error from decode is not retried.
func (c *Client) call(ctx context.Context, r request, decode func([]byte) error) error {
	if c.base == nil {
		return errors.New("no server url configured")
	}
	for attempt := 0; ; attempt++ {
		body, err := c.attempt(ctx, r)
		if err == nil {
			return decode(body)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w (last error: %v)", r.method, r.path, ctx.Err(), err)
		}
		wait, ok := c.retryable(err, attempt)
		if !ok {
			return fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) < wait {
			return fmt.Errorf("%s %s: %w (no time left to retry)", r.method, r.path, err)
		}
		c.log.Debug("retrying", slog.String("path", r.path), slog.Int("attempt", attempt+1),
			slog.Duration("wait", wait), slog.Any("err", err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s %s: %w (last error: %v)", r.method, r.path, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// retryable decides whether err is worth another attempt and how long to
// wait first: the server's Retry-After if it gave one, otherwise
// MinBackoff·2^attempt capped at MaxBackoff, of which a random half is
// waited ("equal jitter").
func (c *Client) retryable(err error, attempt int) (time.Duration, bool) {
	if attempt >= c.opt.MaxRetries {
		return 0, false
	}
	var ae *APIError
	if errors.As(err, &ae) && !ae.transient() || errors.Is(err, ErrLoginRequired) || errors.Is(err, ErrProtocol) {
		return 0, false
	}
	return c.backoff(err, attempt+1), true
}

// backoff is how long to wait after the attempts-th failure in a row: the
// server's Retry-After if it said one, else MinBackoff·2^(attempts-1), both
// capped at MaxBackoff; a random half of the exponential wait is waited
// (jitter, so a village of phones regaining signal does not retry in
// lockstep).
func (c *Client) backoff(err error, attempts int) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return min(ae.RetryAfter, c.opt.MaxBackoff)
	}
	d := c.opt.MinBackoff << min(max(attempts-1, 0), 30)
	if d <= 0 || d > c.opt.MaxBackoff {
		d = c.opt.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// attempt sends r once (with auth, through authed).
func (c *Client) attempt(ctx context.Context, r request) (body []byte, err error) {
	if !r.auth {
		return c.send(ctx, r, "")
	}
	err = c.authed(ctx, func(token string) (err error) {
		body, err = c.send(ctx, r, token)
		return err
	})
	return body, err
}

// authed runs one exchange, do, with the access token. It refreshes the
// token first if it has expired by the device clock, and once more if the
// server answers 401 unauthorized (the token may have expired by the
// server's clock, or the user's account changed), then runs do again. An
// answer that ends the session for good becomes ErrLoginRequired.
func (c *Client) authed(ctx context.Context, do func(token string) error) error {
	token, err := c.accessToken(ctx)
	if err != nil {
		return err
	}
	err = do(token)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != codeUnauthorized {
		return c.sessionEnded(err)
	}
	if err := c.refreshToken(ctx, token); err != nil {
		return err
	}
	if token, err = c.accessToken(ctx); err != nil {
		return err
	}
	return c.sessionEnded(do(token))
}

// send performs one HTTP exchange and returns the body of a 2xx reply, or
// an *APIError for an error reply, or the transport's error.
func (c *Client) send(ctx context.Context, r request, token string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.RequestTimeout)
	defer cancel()
	u := *c.base
	u.Path += r.path
	u.RawQuery = r.query.Encode()
	var body io.Reader
	gz := false
	if r.body != nil {
		b := r.body
		if len(b) > gzipAbove {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(b)
			zw.Close()
			b, gz = buf.Bytes(), true
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	// Asked for explicitly (which turns off the transport's transparent
	// decompression) so that any RoundTripper an app plugs in gets
	// compressed replies on 2G links.
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Accept", "application/json")
	if c.opt.AppVersion != "" {
		req.Header.Set("User-Agent", "gridsync-client/"+c.opt.AppVersion)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.opt.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, decodeError(resp.StatusCode, resp.Header.Get("Retry-After"), data)
	}
	return data, nil
}

// readBody reads a reply, decompressing gzip, up to MaxResponseBytes.
func readBody(resp *http.Response) ([]byte, error) {
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxResponseBytes {
		return nil, protocolError("reply larger than %d bytes", MaxResponseBytes)
	}
	return data, nil
}

// retryAfter parses a Retry-After header given in seconds (the form the
// server uses); dates and garbage count as absent.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(h)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(min(n, 24*3600)) * time.Second
}
