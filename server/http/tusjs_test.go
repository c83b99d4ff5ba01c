package http_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/internal/testenv"
	"github.com/gridsync/gridsync/server/app/apptest"
)

// tusJSDir finds the node_modules folder holding tus-js-client: in
// $GRIDSYNC_TUSJS_DIR, else <repo>/.tools/node/node_modules (installed by
// scripts/install-tusjs.sh through `make tools`). Without it, or without
// node, the test is skipped, and fails under CI.
func tusJSDir(t *testing.T) (node, modules string) {
	t.Helper()
	modules = os.Getenv("GRIDSYNC_TUSJS_DIR")
	if modules == "" {
		modules, _ = filepath.Abs("../../.tools/node/node_modules")
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(modules, "tus-js-client", "package.json"))
	}
	if err != nil {
		testenv.Missing(t, "tus-js-client or node not found ("+err.Error()+"): run `make tools`")
	}
	return node, modules
}

// A stock tus client, tus-js-client 4, uploads a photo to the real server
// in 64 KiB chunks with every PATCH sent as POST + X-HTTP-Method-Override,
// following the absolute Location; the photo is then stored byte for byte.
func TestTusJSClient(t *testing.T) {
	node, modules := tusJSDir(t)
	srv := apptest.Start(t)
	c := login(t, srv.URL(), "worker-1-1-1", "phone-tusjs-0001")
	photo := photoOf(t, 300<<10, 60)
	c.hazard(t, "hz-tusjs", sha(photo))
	file := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(file, photo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "testdata/tusjs/upload.js", srv.URL()+"/v1/uploads", c.token, file, sha(photo), strconv.Itoa(64<<10))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tus-js-client: %v\n%s", err, stderr.String())
	}
	url := strings.TrimSpace(string(out))
	if !strings.HasPrefix(url, srv.URL()+"/v1/uploads/") {
		t.Fatalf("upload URL %q", url)
	}
	resp, _ := c.tus(t, "HEAD", strings.TrimPrefix(url, srv.URL()), nil)
	if resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(photo)) {
		t.Fatalf("HEAD after tus-js-client: %d %v", resp.StatusCode, resp.Header)
	}
	if _, got := c.download(t, sha(photo)); !bytes.Equal(got, photo) {
		t.Fatalf("downloaded %d bytes, not the %d uploaded", len(got), len(photo))
	}
}
