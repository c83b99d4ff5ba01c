package main_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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

// bin is the gridsyncd binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gridsyncd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "gridsyncd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// exitWait bounds how long a test waits for the process to exit; it only
// guards against a hang, it measures nothing.
const exitWait = 60 * time.Second

// process is a running gridsyncd.
type process struct {
	cmd    *exec.Cmd
	addr   string
	data   string
	stderr *bytes.Buffer
	exited chan error
}

// start runs the binary with the demo county on a free port and waits for
// its address.
func start(t *testing.T, args ...string) *process {
	t.Helper()
	return startOn(t, filepath.Join(t.TempDir(), "data"), args...)
}

// startOn is start on the data folder data.
func startOn(t *testing.T, data string, args ...string) *process {
	t.Helper()
	p := &process{data: data, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"serve", "-demo", "-addr", "127.0.0.1:0", "-data", p.data, "-log-level", "warn"}, args...)...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stdout, _ := p.cmd.StdoutPipe()
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "gridsync demo server: http://"); ok {
			p.addr = u
			break
		}
	}
	if p.addr == "" {
		t.Fatal("server printed no address")
	}
	go func() {
		io.Copy(io.Discard, stdout)
		p.exited <- p.cmd.Wait()
	}()
	return p
}

// inFlight opens a login request and sends half its body: the server is
// then running the handler, which waits for the rest.
func (p *process) inFlight(t *testing.T) (net.Conn, string) {
	t.Helper()
	body := `{"username":"worker-1-1-1","password":"demo-password","device_id":"phone-worker-111"}`
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /v1/auth/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", p.addr, len(body), body[:half])
	time.Sleep(200 * time.Millisecond) // the server is now reading this request
	return conn, body[half:]
}

// signal sends sig and waits until the listener is closed, which shows
// the server began its shutdown.
func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(exitWait)
	for {
		c, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections after the signal")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait returns the process's exit code.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(exitWait):
		t.Fatalf("server did not exit; stderr:\n%s", p.stderr)
		return -1
	}
}

// wantCleanDB checks that the database was closed cleanly (WAL
// checkpointed away, when clean) and passes integrity_check.
func (p *process) wantCleanDB(t *testing.T, checkpointed bool) {
	t.Helper()
	if fi, err := os.Stat(filepath.Join(p.data, "gridsync.db-wal")); checkpointed && err == nil && fi.Size() > 0 {
		t.Fatalf("WAL left with %d bytes after a clean close", fi.Size())
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(p.data, "gridsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res, err := db.IntegrityCheck(context.Background()); err != nil || res != "ok" {
		t.Fatalf("integrity_check: got %q, %v", res, err)
	}
}

// TestGracefulShutdown runs the real binary, starts a request, sends SIGTERM
// while the request body is still arriving, and checks that the request
// completes, new connections are refused, the process exits 0 and the
// database reopens clean.
func TestGracefulShutdown(t *testing.T) {
	p := start(t)
	conn, rest := p.inFlight(t)
	p.signal(t, syscall.SIGTERM)
	// The listener is closed while the in-flight request is still served.
	if _, err := conn.Write([]byte(rest)); err != nil {
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
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, p.stderr)
	}
	p.wantCleanDB(t, true)
}

// TestShutdownTimeout: a request that does not finish within the shutdown
// timeout has its connection closed and its handler returns (its access
// log line comes out) before the database is closed and the process exits
// reporting the timeout.
func TestShutdownTimeout(t *testing.T) {
	p := start(t, "-shutdown-timeout", "1s", "-log-level", "info")
	p.inFlight(t)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, p.stderr)
	}
	log := p.stderr.String()
	timedOut := strings.Index(log, "shutdown timed out")
	handled := strings.Index(log, "route=/v1/auth/login status=")
	stopped := strings.Index(log, "gridsyncd stopped")
	if timedOut < 0 || handled < timedOut || stopped < handled {
		t.Fatalf("want the timeout, then the stuck request's access log, then the stop; stderr:\n%s", log)
	}
	p.wantCleanDB(t, true)
}

// TestSecondSignal: while a stop waits for a stuck request (the timeout
// here is long), a second SIGTERM exits at once; the database reopens
// clean.
func TestSecondSignal(t *testing.T) {
	p := start(t, "-shutdown-timeout", "10m")
	p.inFlight(t)
	p.signal(t, syscall.SIGTERM)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "second signal") {
		t.Fatalf("stderr does not report the second signal:\n%s", p.stderr)
	}
	p.wantCleanDB(t, false)
}
