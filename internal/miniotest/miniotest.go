// Package miniotest runs a real MinIO server for tests, on loopback ports
// with a data directory and credentials of its own.
//
// The server binary is found in $GRIDSYNC_MINIO_BIN, else in
// <repo>/.tools/bin/minio (installed by `make tools`, which runs
// scripts/install-minio.sh), else on $PATH. Without it a test is skipped,
// or fails when $CI is set, so CI cannot pass by silently skipping.
// Launch starts one for a program (the benchmark), without a test.
package miniotest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/internal/testenv"
	"github.com/gridsync/gridsync/server/minio"
)

// Bucket is the bucket name in the Config of a started server.
const Bucket = "gridsync-test"

// startTimeout bounds how long a server may take to answer its liveness
// probe; a cold start on a slow CI machine takes a few seconds.
const startTimeout = 30 * time.Second

// stopTimeout is how long a server gets to exit after SIGTERM before it is
// killed.
const stopTimeout = 10 * time.Second

// Server is a MinIO server process started for a test. It can be stopped
// and restarted on the same address and data directory, to test outages.
type Server struct {
	bin, dataDir, logPath string
	addr, consoleAddr     string
	user, password        string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// Start starts a MinIO server that is stopped when the test ends, and
// returns the Config to reach it (with Bucket, which may not exist yet).
func Start(tb testing.TB) minio.Config {
	tb.Helper()
	return StartServer(tb).Config()
}

// StartServer starts a MinIO server that is stopped when the test ends.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	bin := findBinary(tb)
	s, err := launch(bin, tb.TempDir())
	if err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Launch starts a MinIO server with its data in dir, for programs (the
// benchmark) that have no testing.TB; the caller stops it. The binary is
// found as for StartServer; without one Launch fails.
func Launch(dir string) (*Server, error) {
	bin, err := lookBinary()
	if err != nil {
		return nil, fmt.Errorf("miniotest: MinIO server binary: %w", err)
	}
	s, err := launch(bin, dir)
	if err != nil {
		return nil, fmt.Errorf("miniotest: %w", err)
	}
	return s, nil
}

func launch(bin, dir string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{
		bin:      bin,
		dataDir:  filepath.Join(dir, "data"),
		logPath:  filepath.Join(dir, "minio.log"),
		user:     "gridsync-" + rand.Text()[:8],
		password: rand.Text(),
	}
	// Free ports are found by binding and releasing them, so another
	// process may take one before MinIO binds it; try again with new ports.
	var err error
	for range 3 {
		if s.addr, err = freeAddr(); err != nil {
			return nil, err
		}
		if s.consoleAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%v\n%s", err, s.log())
}

// Config returns the Config to reach the server.
func (s *Server) Config() minio.Config {
	return minio.Config{
		Endpoint:  s.addr,
		Bucket:    Bucket,
		AccessKey: s.user,
		SecretKey: s.password,
		Region:    "us-east-1",
	}
}

// Stop stops the server gracefully (SIGINT) and waits for it to exit;
// stopping a stopped server does nothing. Data stays in place for Restart.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	// Only the process this Server started is signaled.
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Kill ends the server with SIGKILL, as a crash or the OOM killer does:
// requests in flight get their connections reset, nothing is flushed. Data
// written so far stays for Restart.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts a stopped server again on the same address, with the
// same data and credentials.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		tb.Fatalf("miniotest: restart: %v\n%s", err, s.log())
	}
}

// start runs the server and waits until it is live. On failure the process
// is stopped.
func (s *Server) start() error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(s.bin, "server", s.dataDir, "--address", s.addr, "--console-address", s.consoleAddr)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.user,
		"MINIO_ROOT_PASSWORD="+s.password,
		"MINIO_UPDATE=off",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitLive(); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// waitLive polls MinIO's liveness endpoint until it answers 200.
func (s *Server) waitLive() error {
	client := &http.Client{Timeout: time.Second}
	url := "http://" + s.addr + "/minio/health/live"
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("minio on %s exited before it was live: %v", s.addr, s.cmd.ProcessState)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("minio on %s not live after %v", s.addr, startTimeout)
}

// log returns the server's output, for failure messages.
func (s *Server) log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// findBinary returns the MinIO server binary, or ends the test if there is
// none: Fatal under CI, Skip elsewhere.
func findBinary(tb testing.TB) string {
	tb.Helper()
	bin, err := lookBinary()
	if err == nil {
		return bin
	}
	testenv.Missing(tb, fmt.Sprintf("miniotest: MinIO server binary not found (%v); run `make tools` to install it", err))
	return ""
}

func lookBinary() (string, error) {
	if bin := os.Getenv("GRIDSYNC_MINIO_BIN"); bin != "" {
		// An explicit choice is not second-guessed with other binaries.
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("GRIDSYNC_MINIO_BIN: %w", err)
		}
		return bin, nil
	}
	if root, err := repoRoot(); err == nil {
		bin := filepath.Join(root, ".tools", "bin", "minio")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	bin, err := exec.LookPath("minio")
	if err != nil {
		return "", errors.New("not in $GRIDSYNC_MINIO_BIN, .tools/bin or $PATH")
	}
	return bin, nil
}

// repoRoot walks up from the working directory (a test's package directory)
// to the directory holding the gridsync go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(mod), "module github.com/gridsync/gridsync\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("gridsync go.mod not found")
		}
		dir = parent
	}
}
