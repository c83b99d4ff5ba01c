package main

import (
	"strings"
	"testing"
)

// TestRunQuick runs every sync scenario at small sizes, so that the report
// `make bench` writes keeps working. It checks that each section is there
// with figures, not how fast they are.
func TestRunQuick(t *testing.T) {
	r := &report{}
	run(quickConfig, r)
	text := strings.Join(r.lines, "\n")
	for _, want := range []string{"## Push throughput", "## Pull throughput", "## Typical device sync with 50 devices",
		"## Bytes on the wire", "## Pull latency vs database size", "| 5000 |", "| 20000 |", "Ratio push / raw ceiling", "bytes up"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}
