package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func runCLI(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	err := run(context.Background(), &out, &errb, args)
	code = exitCode(&errb, err)
	return out.String(), errb.String(), code
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"run", "--concurrency", "x"}, `invalid argument "x" for "--concurrency`},
		{[]string{"run", "--concurrency", "0"}, "--concurrency 0: give 1 or more"},
		{[]string{"run", "--strategies", "cgi,mod_perl"}, `unknown strategy "mod_perl"`},
		{[]string{"run", "--workloads", "put"}, `unknown workload "put"`},
		{[]string{"run", "--duration", "-1s"}, "--duration -1s is negative"},
		{[]string{"load"}, "usage: cgibench load URL"},
		{[]string{"load", "http://10.1.2.3/app"}, "loopback"},
		{[]string{"load", "http://127.0.0.1:1/app", "--workload", "put"}, "--workload"},
		{[]string{"serve", "--listen", "0.0.0.0:8080"}, "--allow-remote"},
		{[]string{"serve", "--strategy", "nope"}, `unknown strategy "nope"`},
		{[]string{"serve", "--strategy", "fastcgi", "--program", "c", "--fastcgi-network", "udp"}, `--fastcgi-network: network "udp": use unix or tcp`},
		{[]string{"run", "--fastcgi-network", "udp"}, `--fastcgi-network: network "udp": use unix or tcp`},
		{[]string{"run", "--fastcgi-front-end", "nginx"}, `--fastcgi-front-end: front end "nginx": use event-loop or net/http`},
		{[]string{"serve", "--strategy", "fastcgi", "--program", "c", "--shared-socket", "--fastcgi-front-end", "event-loop"}, `--fastcgi-front-end event-loop serves only a pool with a socket per worker`},
		{[]string{"programs", "--mode", "soap"}, `--mode "soap"`},
		{[]string{"run", "--slo-p99", "50ms"}, "--slo-p99 needs --rate"},
		{[]string{"run", "--max-connections", "50"}, "--max-connections needs --rate"},
		{[]string{"run", "--rate", "fast"}, `--rate "fast": at byte 0: "fast" is not a number`},
		{[]string{"run", "--rate", "100", "--step", "5s"}, "--step needs a capacity search: give --rate FROM:TO:STEP"},
		{[]string{"run", "--rate", "100", "--max-connections", "-1"}, "--max-connections"},
		{[]string{"run", "--interval", "1ms"}, "--interval"},
		{[]string{"load", "http://127.0.0.1:1/app", "--rate", "300:100:10"}, "the last rate 100 is below the first 300"},
		{[]string{"load", "http://127.0.0.1:1/app", "--rate", "100:300:100", "--max-error-rate", "lots"}, "--max-error-rate"},
		{[]string{"load", "http://127.0.0.1:1/app", "--rate", "100:300:100", "--attempts", "0"}, "--attempts must be 1 or more"},
		{[]string{"run", "--rate", "100:300:100", "--duration", "5s"}, "--duration does not apply to a capacity search: each rate runs for --step"},
	}
	for _, tt := range tests {
		stdout, stderr, code := runCLI(tt.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d; want %d (stderr %q)", tt.args, code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: stderr %q; want it to contain %q", tt.args, stderr, tt.want)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
			t.Errorf("%v: stderr has %d lines; want a short error:\n%s", tt.args, strings.Count(stderr, "\n"), stderr)
		}
		if stdout != "" {
			t.Errorf("%v: stdout %q; want nothing", tt.args, stdout)
		}
	}
}

func TestHelp(t *testing.T) {
	stdout, _, code := runCLI("--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(stdout, "  "+c.name+" ") {
			t.Errorf("--help lacks command %s:\n%s", c.name, stdout)
		}
		out, _, code := runCLI(c.name, "--help")
		if code != 0 || !strings.Contains(out, "Example:") || !strings.Contains(out, "Usage: cgibench "+c.name) {
			t.Errorf("%s --help: exit %d, output lacks usage or example:\n%s", c.name, code, out)
		}
	}
	out, _, _ := runCLI("run", "--help")
	for _, flag := range []string{"--strategies", "--programs", "--workloads", "--concurrency", "--duration", "--out"} {
		if !strings.Contains(out, flag) {
			t.Errorf("run --help lacks %s", flag)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI("version")
	if code != 0 || !strings.HasPrefix(out, "cgibench ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}
