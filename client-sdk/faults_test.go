package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// faults is an http.RoundTripper between a device and the real server that
// misbehaves like a 2G link: it drops requests, drops replies after the
// server processed the request, delivers requests twice, delivers a stale
// copy of a request later (after newer ones), and delays requests and
// replies. Mocks stay at the network boundary: everything behind it is the
// real server.
type faults struct {
	base http.RoundTripper

	mu  sync.Mutex
	rng *rand.Rand
	// Probabilities per request.
	dropRequest, dropReply, duplicate, late float64
	maxDelay                                time.Duration
	// onReply, if set, sees every reply delivered to the device.
	onReply func(path string, req, reply []byte)

	// late copies still in flight.
	inflight sync.WaitGroup
}

var (
	errDroppedRequest = errors.New("faults: request dropped")
	errDroppedReply   = errors.New("faults: reply dropped")
)

func (f *faults) set(dropRequest, dropReply, duplicate, late float64, maxDelay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropRequest, f.dropReply, f.duplicate, f.late, f.maxDelay = dropRequest, dropReply, duplicate, late, maxDelay
}

type plan struct {
	dropRequest, dropReply, duplicate, late bool
	// delay holds the request back before it is sent, replyDelay holds
	// the reply back after the server answered (other devices go on
	// meanwhile), lateDelay is how late a stale copy arrives.
	delay, replyDelay, lateDelay time.Duration
}

func (f *faults) plan() plan {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := plan{dropRequest: f.rng.Float64() < f.dropRequest, dropReply: f.rng.Float64() < f.dropReply,
		duplicate: f.rng.Float64() < f.duplicate, late: f.rng.Float64() < f.late}
	if f.maxDelay > 0 {
		p.delay = time.Duration(f.rng.Int64N(int64(f.maxDelay)))
		p.replyDelay = time.Duration(f.rng.Int64N(int64(f.maxDelay)))
		p.lateDelay = time.Duration(f.rng.Int64N(int64(10 * f.maxDelay)))
	}
	return p
}

func (f *faults) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := rawBody(req)
	if err != nil {
		return nil, err
	}
	p := f.plan()
	if p.delay > 0 {
		select {
		case <-time.After(p.delay):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	if p.dropRequest {
		return nil, errDroppedRequest
	}
	send := func(ctx context.Context) (*http.Response, error) {
		r := req.Clone(ctx)
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		return f.base.RoundTrip(r)
	}
	if p.late {
		// A stale copy arrives later, after newer requests of the device.
		f.inflight.Add(1)
		go func() {
			defer f.inflight.Done()
			time.Sleep(p.lateDelay)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if resp, err := send(ctx); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	if p.duplicate {
		if resp, err := send(req.Context()); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	resp, err := send(req.Context())
	if err != nil {
		return nil, err
	}
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if p.replyDelay > 0 {
		select {
		case <-time.After(p.replyDelay):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	if p.dropReply {
		return nil, errDroppedReply
	}
	if f.onReply != nil && resp.StatusCode == http.StatusOK {
		f.onReply(req.URL.Path, decompress(req.Header.Get("Content-Encoding"), body), decompress(resp.Header.Get("Content-Encoding"), reply))
	}
	resp.Body = io.NopCloser(bytes.NewReader(reply))
	return resp, nil
}

// rawBody reads a request's body as sent (possibly gzipped) and leaves a
// fresh copy in place.
func rawBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// readRequestBody returns a request's JSON body, decompressed.
func readRequestBody(req *http.Request) ([]byte, error) {
	b, err := rawBody(req)
	return decompress(req.Header.Get("Content-Encoding"), b), err
}

func decompress(encoding string, b []byte) []byte {
	if encoding != "gzip" {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	out, _ := io.ReadAll(zr)
	return out
}
