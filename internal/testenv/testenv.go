// Package testenv is what tests do when a real dependency they drive (the
// MinIO server, Chromium, node with tus-js-client) is not installed.
package testenv

import (
	"os"
	"testing"
)

// Missing ends the test for a missing real dependency: it fails when the
// environment variable CI is set (CI installs every dependency through
// make tools, so a missing one is a broken set-up, not a reason to pass),
// and skips elsewhere so that a partial checkout still runs the rest.
func Missing(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatal(msg + " (CI requires it)")
	}
	tb.Skip(msg)
}
