// Package apptest starts the real gridsync server (package app) on loopback
// for end-to-end tests, with the demo county in a temp data folder.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gridsync/gridsync/fixtures"
	"github.com/gridsync/gridsync/server/app"
)

// StartTimeout bounds the server's start (migrations, demo import) on a
// loaded machine.
const StartTimeout = 60 * time.Second

// Server is a running gridsyncd.
type Server struct {
	*app.Main
	tb     testing.TB
	data   string
	args   []string
	cancel context.CancelFunc
	done   chan error
}

// Start runs the server on a free loopback port with the demo county and
// stops it at cleanup. Extra args are passed to `serve`.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	s := &Server{tb: tb, data: tb.TempDir(), args: args}
	s.start("127.0.0.1:0")
	tb.Cleanup(func() { s.Stop() })
	return s
}

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// DataDir is the server's data folder.
func (s *Server) DataDir() string { return s.data }

func (s *Server) start(addr string) {
	s.tb.Helper()
	m := app.NewMain()
	m.Stdout = io.Discard
	m.Getenv = func(string) string { return "" }
	args := append([]string{"serve", "-addr", addr, "-data", s.data, "-demo", "-log-level", "warn"}, s.args...)
	if err := m.ParseFlags(args); err != nil {
		s.tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		cancel()
		s.tb.Fatalf("server stopped: %v", err)
	case <-time.After(StartTimeout):
		cancel()
		s.tb.Fatal("server did not start")
	}
	s.Main, s.cancel, s.done = m, cancel, done
}

// Stop shuts the server down gracefully and closes its database; it is
// safe to call twice.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	if err := <-s.done; err != nil {
		s.tb.Error(err)
	}
	if err := s.Close(); err != nil {
		s.tb.Error(err)
	}
	s.cancel = nil
}

// Restart stops the server and starts it again on the same address and
// data folder, as after a crash-free restart of the process.
func (s *Server) Restart() {
	s.tb.Helper()
	addr := s.Addr()
	s.Stop()
	s.start(addr)
}

// Login logs a demo user in on device through POST /v1/auth/login of the
// server at base and returns the access token; it fails the test if the
// login does not succeed.
func Login(tb testing.TB, base, user, device string) string {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": fixtures.DemoPassword, "device_id": device})
	resp, err := http.Post(base+"/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.AccessToken == "" {
		tb.Fatalf("login %s: %d %v", user, resp.StatusCode, err)
	}
	return s.AccessToken
}
