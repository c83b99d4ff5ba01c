package miniotest_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/gridsync/gridsync/internal/miniotest"
)

func TestStopRestart(t *testing.T) {
	s := miniotest.StartServer(t)
	addr := s.Config().Endpoint
	if !live(addr) {
		t.Fatalf("server on %s not live after StartServer", addr)
	}
	s.Stop()
	if live(addr) {
		t.Fatalf("server on %s still live after Stop", addr)
	}
	s.Restart(t)
	if got := s.Config().Endpoint; got != addr {
		t.Fatalf("got endpoint %s after Restart, want %s", got, addr)
	}
	if !live(addr) {
		t.Fatalf("server on %s not live after Restart", addr)
	}
}

// Kill ends the server at once (SIGKILL); it restarts on the same address
// with the data written before.
func TestKillRestart(t *testing.T) {
	s := miniotest.StartServer(t)
	addr := s.Config().Endpoint
	s.Kill()
	if live(addr) {
		t.Fatalf("server on %s still live after Kill", addr)
	}
	s.Kill() // killing a stopped server does nothing
	s.Restart(t)
	if !live(addr) {
		t.Fatalf("server on %s not live after Restart", addr)
	}
}

// Launch serves programs without a testing.TB; the caller stops the server.
func TestLaunch(t *testing.T) {
	miniotest.StartServer(t).Stop() // skips, or fails under CI, without a binary
	s, err := miniotest.Launch(filepath.Join(t.TempDir(), "not-yet"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if addr := s.Config().Endpoint; !live(addr) {
		t.Fatalf("launched server on %s not live", addr)
	}
}

func live(addr string) bool {
	resp, err := http.Get("http://" + addr + "/minio/health/live")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
