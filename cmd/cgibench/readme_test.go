package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cgibench/cgibench/bench"
	"github.com/cgibench/cgibench/scripts"
)

// readmeCommands returns the README's first two shell blocks: the set-up commands.
func readmeCommands(t *testing.T) (mainJob, tests string) {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)\n```").FindAllStringSubmatch(string(data), 2)
	if len(blocks) < 2 {
		t.Fatalf("README has %d sh blocks before anything else; want the two set-up commands", len(blocks))
	}
	first := strings.Index(string(data), "```")
	if strings.Count(string(data)[:first], "\n") > 4 {
		t.Errorf("README does not start with the set-up commands (first block at line %d)", strings.Count(string(data)[:first], "\n")+1)
	}
	return blocks[0][1], blocks[1][1]
}

// TestReadmeTestCommandIsCI keeps README and CI on the same test command.
func TestReadmeTestCommandIsCI(t *testing.T) {
	_, tests := readmeCommands(t)
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(tests) + `$`).Match(ci) {
		t.Errorf(".ci/run does not run the README's test command %q", tests)
	}
	if !strings.Contains(string(ci), "./scripts/setup-debian.sh") {
		t.Errorf(".ci/run does not run the README's set-up script")
	}
}

// TestReadmeQuickStart runs the README's main job as written (the set-up script has run where
// this matters: CI runs it first) and checks what it promises: a table, results.json with every
// available program under every strategy, and no verification error.
func TestReadmeQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("the quick-start takes about two minutes; skipped with -short")
	}
	mainJob, _ := readmeCommands(t)
	setup, goRun, ok := strings.Cut(mainJob, " && ")
	if !ok || setup != "./scripts/setup-debian.sh" || !strings.HasPrefix(goRun, "go run ./cmd/cgibench ") {
		t.Fatalf("README main job %q; want './scripts/setup-debian.sh && go run ./cmd/cgibench …'", mainJob)
	}
	if fi, err := os.Stat("../../scripts/setup-debian.sh"); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("scripts/setup-debian.sh missing or not executable: %v", err)
	}
	args := strings.Fields(strings.TrimPrefix(goRun, "go run ./cmd/cgibench "))

	// go run, without the race detector the test itself may carry: build, then run in a
	// fresh folder as a user would in the checkout.
	bin := filepath.Join(t.TempDir(), "cgibench")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = work
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(work, "cgibench-results", "backend.log"))
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s\nbackend log (tail):\n%s", goRun, err, stdout.String(), stderr.String(), tail(log, 3000))
	}
	t.Logf("%s took %v\n%s", goRun, time.Since(t0).Round(time.Second), stdout.String())

	data, err := os.ReadFile(filepath.Join(work, "cgibench-results", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Results
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Schema != bench.SchemaVersion || res.Partial {
		t.Errorf("results: schema %d, partial %v", res.Schema, res.Partial)
	}
	seen := map[string]bool{}
	for _, c := range res.Cells {
		seen[c.Strategy+"/"+c.Program+"/"+c.Workload] = true
		if c.Error != "" || len(c.Errors) != 0 || c.Requests == 0 {
			t.Errorf("%s/%s/%s: %d requests, errors %v %s", c.Strategy, c.Program, c.Workload, c.Requests, c.Errors, c.Error)
		}
	}
	// Every program available here appears under every strategy that has it.
	cat := &scripts.Catalog{}
	for _, s := range bench.StrategyNames() {
		for _, name := range bench.DefaultPrograms(s) {
			if _, err := bench.ResolveProgram(t.Context(), cat, s, name); err != nil {
				t.Logf("%s/%s unavailable here: %v", s, name, err)
				continue
			}
			if !seen[s+"/"+name+"/get"] {
				t.Errorf("results lack %s/%s/get", s, name)
			}
		}
	}
	if !strings.Contains(stdout.String(), "req/s") {
		t.Errorf("no table on stdout")
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
