package main_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/sqlite"
)

// TestGracefulShutdown runs the real binary, starts a request, sends SIGTERM
// while the request body is still arriving, and checks that the request
// completes, new connections are refused, the process exits 0 and the
// database reopens clean.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gridsyncd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "serve", "-demo", "-addr", "127.0.0.1:0", "-data", data, "-log-level", "warn")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addr := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "gridsync demo server: http://"); ok {
			addr = u
			break
		}
	}
	if addr == "" {
		t.Fatal("server printed no address")
	}
	go func() {
		for sc.Scan() {
		}
	}()

	body := `{"username":"worker-1-1-1","password":"demo-password","device_id":"phone-worker-111"}`
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /v1/auth/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body[:half])
	time.Sleep(200 * time.Millisecond) // the server is now reading this request

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Once the listener is closed, new connections are refused while the
	// in-flight request is still being served.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := conn.Write([]byte(body[half:])); err != nil {
		t.Fatalf("finish the in-flight request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request got no response: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("in-flight request: got %d, want 200", resp.StatusCode)
	}
	resp.Body.Close()

	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("server exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}

	// The database was closed cleanly: the WAL is checkpointed away and the
	// file passes integrity_check.
	if fi, err := os.Stat(filepath.Join(data, "gridsync.db-wal")); err == nil && fi.Size() > 0 {
		t.Fatalf("WAL left with %d bytes after clean shutdown", fi.Size())
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(data, "gridsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res, err := db.IntegrityCheck(context.Background()); err != nil || res != "ok" {
		t.Fatalf("integrity_check: got %q, %v", res, err)
	}
}
