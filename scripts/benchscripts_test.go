package scripts

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBenchScripts runs each comparison script for one short round, so that none rots: it must
// finish and print a ratio for each generator it uses. The figures mean nothing at this length.
func TestBenchScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers under load for seconds")
	}
	requireAll := os.Getenv("CGIBENCH_REQUIRE_ALL") == "1"
	ratio := regexp.MustCompile(`(?m)^(cgibench_load|wrk) .* ratio [0-9.]+x`)
	for _, tc := range []struct {
		script string
		args   []string
		needs  []string
	}{
		{"bench-cgi-host.sh", []string{"1s", "4", "1"}, nil},
		{"bench-fastcgi.sh", []string{"1s", "4", "2", "1"}, []string{"lighttpd"}},
	} {
		t.Run(tc.script, func(t *testing.T) {
			for _, cmd := range append([]string{"python3", "curl", "go"}, tc.needs...) {
				if _, err := exec.LookPath(cmd); err != nil {
					if requireAll {
						t.Fatalf("%s needs %s: %v", tc.script, cmd, err)
					}
					t.Skipf("%s needs %s", tc.script, cmd)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "./"+tc.script, tc.args...)
			// On the timeout, SIGTERM: the script's exit trap stops the servers it started.
			cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
			cmd.WaitDelay = 10 * time.Second
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", tc.script, strings.Join(tc.args, " "), err, out)
			}
			want := 1
			if _, err := exec.LookPath("wrk"); err == nil {
				want = 2
			}
			if got := len(ratio.FindAll(out, -1)); got != want {
				t.Errorf("%s printed %d ratio lines, want %d:\n%s", tc.script, got, want, out)
			}
		})
	}
}
