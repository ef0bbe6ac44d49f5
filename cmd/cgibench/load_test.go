package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgibench/cgibench/bench"
	"github.com/cgibench/cgibench/scripts/go/refapp"
)

// refServer serves the reference app at /app on 127.0.0.1.
func refServer(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/app", refapp.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/app"
}

// TestLoadOpenLoop: `load --rate R` runs a fixed-rate open loop, prints the open-loop columns,
// and writes results JSON with the open-loop figures and interval series, and an interval log.
func TestLoadOpenLoop(t *testing.T) {
	dir := t.TempDir()
	jsonPath, hlogPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.hlog")
	stdout, stderr, code := runCLI("load", refServer(t), "--rate", "300", "--duration", "1s", "--warmup", "0s",
		"--interval", "250ms", "--verify", "--json", jsonPath, "--hlog", hlogPath)
	if code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr)
	}
	header := strings.Fields(strings.SplitN(stdout, "\n", 2)[0])
	for _, col := range []string{"rate", "uncorr-p99", "late", "unsent"} {
		if !strings.Contains(strings.Join(header, " "), col) {
			t.Errorf("table header %q lacks %s:\n%s", header, col, stdout)
		}
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Results
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	c := res.Cells[0]
	if c.RateRPS != 300 || c.OpenLoop == nil || c.OpenLoop.Scheduled != 300 || len(c.Errors) != 0 || len(c.Intervals) < 4 {
		t.Errorf("cell: rate %v, open loop %+v, errors %v, %d intervals; want 300 req/s, 300 due, no errors, 4 intervals or more",
			c.RateRPS, c.OpenLoop, c.Errors, len(c.Intervals))
	}
	log, err := os.ReadFile(hlogPath)
	if err != nil || !strings.HasPrefix(string(log), "#[Histogram log format version") {
		t.Errorf("interval log: %v, starts %q; want an HdrHistogram log", err, string(log[:min(len(log), 40)]))
	}
}

// TestLoadCapacitySearch: `load --rate FROM:TO:STEP` searches; against the reference app in this
// process every rate here is sustainable, and the table says so.
func TestLoadCapacitySearch(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := runCLI("load", refServer(t), "--rate", "100:200:100", "--step", "500ms", "--warmup", "0s",
		"--slo-p99", "2s", "--max-error-rate", "1%", "--hlog", filepath.Join(dir, "s.hlog"))
	if code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "capacity (highest sustainable rate):") || !strings.Contains(stdout, "200 req/s sustained (p99 ≤ 2.00s, errors ≤ 1.0%); every rate tried passed") {
		t.Errorf("table lacks the capacity line:\n%s", stdout)
	}
	for _, name := range []string{"s-step01-r100.hlog", "s-step02-r200.hlog"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("step log: %v", err)
		}
	}
}
