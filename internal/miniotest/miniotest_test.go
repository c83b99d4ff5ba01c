package miniotest_test

import (
	"net/http"
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

func live(addr string) bool {
	resp, err := http.Get("http://" + addr + "/minio/health/live")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
