// Package cutproxy is a loopback TCP proxy for tests that cuts connections
// like a phone losing its signal mid-upload: each connection carries the
// next byte budget from the device, then is cut. Every other cut leaves the
// server's side open (a half-open connection the server does not know is
// dead), so the device's next request must take the upload over. After
// the last budget it forwards without cuts.
package cutproxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards to a target with cuts.
type Proxy struct {
	// Sent counts the bytes forwarded from the device to the server.
	Sent atomic.Int64
	// OnCut, if set before the first cut, runs after each cut with the
	// number of cuts so far.
	OnCut func(n int)

	ln      net.Listener
	target  string
	budgets []int64
	mu      sync.Mutex
	cuts    int
	hanging []net.Conn
}

// Start listens on a free loopback port and forwards to target (host:port),
// cutting after each budget in turn; it stops at the test's cleanup.
func Start(tb testing.TB, target string, budgets ...int64) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, budgets: budgets}
	tb.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.hanging {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	return p
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Cuts returns how many cuts were made.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// budget returns the byte budget of the next cut and whether that cut
// leaves the server's side hanging; -1 once every cut is done.
func (p *Proxy) budget() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cuts >= len(p.budgets) {
		return -1, false
	}
	return p.budgets[p.cuts], p.cuts%2 == 1
}

func (p *Proxy) forward(dev net.Conn) {
	srv, err := net.Dial("tcp", p.target)
	if err != nil {
		dev.Close()
		return
	}
	go func() {
		io.Copy(dev, srv)
		dev.Close()
	}()
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := dev.Read(buf)
		budget, hang := p.budget()
		if budget >= 0 && n+int64(k) > budget {
			k = int(budget - n)
		}
		if k > 0 {
			srv.Write(buf[:k])
			n += int64(k)
			p.Sent.Add(int64(k))
		}
		if budget >= 0 && n >= budget {
			// Only one connection at a time carries a large body, so cuts
			// follow each other in order.
			p.mu.Lock()
			p.cuts++
			cuts := p.cuts
			if hang {
				p.hanging = append(p.hanging, srv)
			}
			p.mu.Unlock()
			dev.Close()
			if !hang {
				srv.Close()
			}
			if p.OnCut != nil {
				p.OnCut(cuts)
			}
			return
		}
		if err != nil {
			srv.Close()
			return
		}
	}
}
