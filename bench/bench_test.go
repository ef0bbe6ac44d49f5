package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/loadgen"
)

// The test binary doubles as `cgibench serve`: Run starts it with ServeCommand.
func TestMain(m *testing.M) {
	if os.Getenv("CGIBENCH_BENCH_SERVE") == "1" {
		os.Exit(serveMain(os.Args[2:]))
	}
	// Children built with -race would otherwise sleep a second at exit.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	os.Exit(m.Run())
}

func serveMain(args []string) int {
	var o ServeOptions
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.Flags(fs)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Serve(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func serveCommand(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CGIBENCH_BENCH_SERVE", "1")
	return []string{exe, "serve"}
}

// testCache shares built apps between the tests of one run.
func testCache(t *testing.T) string {
	if dir := os.Getenv("CGIBENCH_CACHE"); dir != "" {
		return dir
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return t.TempDir()
	}
	return filepath.Join(dir, "cgibench")
}

func TestRunMatrix(t *testing.T) {
	var saved int
	var events []Event
	log := &strings.Builder{}
	cfg := Config{
		Strategies:   []string{"cgi", "inprocess"},
		Programs:     []string{"c", "go", "sh"},
		Workloads:    []string{"get", "multipart"},
		Concurrency:  []int{2},
		Duration:     400 * time.Millisecond,
		Warmup:       100 * time.Millisecond,
		CacheDir:     testCache(t),
		ServeCommand: serveCommand(t),
		Log:          log,
		OnEvent:      func(e Event) { events = append(events, e) },
		OnCell:       func(*Results) error { saved++; return nil },
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\nbackend log:\n%s", err, log)
	}
	// cgi: c, go × get, multipart; sh × get. inprocess: go × get, multipart.
	want := []string{
		"cgi/c/get", "cgi/c/multipart", "cgi/go/get", "cgi/go/multipart", "cgi/sh/get",
		"inprocess/go/get", "inprocess/go/multipart",
	}
	var got []string
	for _, c := range res.Cells {
		got = append(got, c.Strategy+"/"+c.Program+"/"+c.Workload)
		if c.Error != "" {
			t.Errorf("%s/%s/%s failed: %s", c.Strategy, c.Program, c.Workload, c.Error)
			continue
		}
		if c.Requests == 0 || c.ThroughputRPS <= 0 {
			t.Errorf("%s/%s/%s: %d requests, %.0f req/s; want some", c.Strategy, c.Program, c.Workload, c.Requests, c.ThroughputRPS)
		}
		if len(c.Errors) != 0 {
			t.Errorf("%s/%s/%s: errors %v; want none (verified against the reference)", c.Strategy, c.Program, c.Workload, c.Errors)
		}
		h, err := DecodeHistogram(c.Histogram)
		if err != nil || h.TotalCount() != c.Requests {
			t.Errorf("%s/%s/%s: histogram holds %v requests (err %v); want %d", c.Strategy, c.Program, c.Workload, h.TotalCount(), err, c.Requests)
		}
		if c.LatencyNS.P50 <= 0 || c.LatencyNS.P50 > c.LatencyNS.P99 || c.LatencyNS.P99 > c.LatencyNS.Max {
			t.Errorf("%s/%s/%s: latency %+v not ordered", c.Strategy, c.Program, c.Workload, c.LatencyNS)
		}
		r := c.Resources
		if r == nil || r.Samples == 0 || r.PeakRSSBytes <= 0 || r.ServerCPUNS+r.ChildrenCPUNS <= 0 {
			t.Errorf("%s/%s/%s: resources %+v; want samples, memory and CPU", c.Strategy, c.Program, c.Workload, r)
		} else if c.Strategy == "cgi" && r.ChildrenCPUNS == 0 {
			t.Errorf("cgi/%s/%s: children CPU 0; want the CGI programs' CPU", c.Program, c.Workload)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cells = %v; want %v", got, want)
	}
	if saved != len(res.Cells) {
		t.Errorf("OnCell called %d times; want once per cell (%d)", saved, len(res.Cells))
	}
	var skipped []string
	for _, s := range res.Skipped {
		skipped = append(skipped, s.Strategy+"/"+s.Program+"/"+s.Workload)
	}
	wantSkipped := "cgi/sh/multipart inprocess/c/ inprocess/sh/"
	if strings.Join(skipped, " ") != wantSkipped {
		t.Errorf("skipped = %v; want %s", skipped, wantSkipped)
	}
	if res.Partial {
		t.Errorf("Partial = true; want false")
	}
	if len(events) == 0 {
		t.Errorf("no progress events")
	} else if last := events[len(events)-1]; last.Index != len(want) {
		t.Errorf("progress events end at %+v; want the last cell", last)
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var cells int
	cfg := Config{
		Strategies:   []string{"cgi"},
		Programs:     []string{"c"},
		Workloads:    []string{"get"},
		Concurrency:  []int{1, 2, 4},
		Duration:     30 * time.Second,
		Warmup:       -1,
		CacheDir:     testCache(t),
		ServeCommand: serveCommand(t),
		OnEvent: func(e Event) {
			if e.Phase == "load" {
				time.AfterFunc(300*time.Millisecond, cancel)
			}
		},
		OnCell: func(*Results) error { cells++; return nil },
	}
	t0 := time.Now()
	res, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("Run took %v after an interrupt at 300ms; want a prompt stop", d)
	}
	if !res.Partial || len(res.Cells) != 1 || !res.Cells[0].Partial || res.Cells[0].Requests == 0 {
		t.Fatalf("results partial=%v cells=%d; want partial with the interrupted cell's requests kept", res.Partial, len(res.Cells))
	}
	if cells != 1 {
		t.Errorf("saved %d times; want the interrupted cell saved", cells)
	}
	// No backend process may outlive the run.
	if kids := descendants(os.Getpid())[1:]; len(kids) > 0 {
		t.Errorf("processes left behind: %v", kids)
	}
}

func TestUserProgram(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "hello.cgi")
	os.WriteFile(prog, []byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n"), 0o755)
	res, err := Run(context.Background(), Config{
		Strategies:   []string{"cgi"},
		Programs:     []string{prog},
		Workloads:    []string{"get"},
		Requests:     50,
		Warmup:       -1,
		CacheDir:     testCache(t),
		ServeCommand: serveCommand(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Cells[0]
	if c.Program != "hello.cgi" || c.Requests != 50 || len(c.Errors) != 0 {
		t.Errorf("cell %s: %d requests, errors %v; want hello.cgi with 50 unverified requests, no errors", c.Program, c.Requests, c.Errors)
	}

	// Verified, the same program fails the contract on every request.
	res, err = Run(context.Background(), Config{
		Strategies: []string{"cgi"}, Programs: []string{prog}, Workloads: []string{"get"},
		Requests: 20, Warmup: -1, Verify: true, CacheDir: testCache(t), ServeCommand: serveCommand(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Cells[0].Errors[loadgen.ClassMismatch]; got != 20 {
		t.Errorf("verified user program: %d mismatches; want 20", got)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{
		Strategies:  []string{"cgi", "bogus"},
		Workloads:   []string{"put"},
		Concurrency: []int{0},
		Duration:    -time.Second,
		Work:        []int{0, -1},
	}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{`--strategies: unknown strategy "bogus"`, `--workloads: unknown workload "put"`, "--concurrency 0", "--duration", "--work -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q lacks %q", err, want)
		}
	}
}

func TestServeOptionsRoundTrip(t *testing.T) {
	in := ServeOptions{Strategy: "cgi", Program: "/x/y.cgi", Listen: "127.0.0.1:0", Timeout: 3 * time.Second, Workers: 3, MaxRequests: 9, FastCGIAddr: "tcp:127.0.0.1:9000", SharedSocket: true, FastCGINetwork: "tcp", FastCGIFrontEnd: "net/http", CacheDir: "/c"}
	var out ServeOptions
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	out.Flags(fs)
	if err := fs.Parse(in.Args()); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip: got %+v; want %+v", out, in)
	}
	if err := (ServeOptions{Strategy: "cgi", Listen: "0.0.0.0:80"}).Validate(); err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Errorf("non-loopback --listen: err = %v; want a refusal naming --allow-remote", err)
	}
}

// TestRunFastCGIModels runs the fastcgi strategy's four pool models, socket per worker or
// shared, unix or TCP, the first under both front ends, and checks that the cells say which
// they measured.
func TestRunFastCGIModels(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		for _, m := range []struct {
			shared           bool
			front, wantFront string
		}{{false, "", "event-loop"}, {false, "net/http", "net/http"}, {true, "", "net/http"}} {
			shared := m.shared
			log := &strings.Builder{}
			res, err := Run(context.Background(), Config{
				Strategies: []string{"fastcgi"}, Programs: []string{"c"}, Workloads: []string{"multipart"},
				Concurrency: []int{4}, Workers: 2, SharedSocket: shared, FastCGINetwork: network, FastCGIFrontEnd: m.front,
				Requests: 400, Warmup: -1, CacheDir: testCache(t), ServeCommand: serveCommand(t), Log: log,
			})
			if err != nil {
				t.Fatalf("%s shared=%v: %v", network, shared, err)
			}
			c := res.Cells[0]
			if c.Error != "" || c.Requests != 400 || len(c.Errors) != 0 || c.Workers != 2 {
				t.Errorf("%s shared=%v: %d requests, errors %v %s, workers %d; want 400 verified, 2 workers", network, shared, c.Requests, c.Errors, c.Error, c.Workers)
			}
			if c.FastCGISocket != network || c.SharedSocket != shared || c.FrontEnd != m.wantFront {
				t.Errorf("%s shared=%v front %q: the cell says fastcgi_socket %q, shared_socket %v, front_end %q", network, shared, m.front, c.FastCGISocket, c.SharedSocket, c.FrontEnd)
			}
			if want := "through the " + m.wantFront + " front end"; !strings.Contains(log.String(), want) {
				t.Errorf("%s shared=%v front %q: the backend log lacks %q", network, shared, m.front, want)
			}
			// What the pool said when it started: the sockets it really used.
			want := "ready on a " + network + " socket each"
			if shared {
				want = "ready on one shared socket, " + network + ":"
			}
			if !strings.Contains(log.String(), want) {
				t.Errorf("%s shared=%v: the backend log lacks %q:\n%s", network, shared, want, log.String())
			}
		}
	}
	if err := (Config{SharedSocket: true, MaxRequests: 5}).Validate(); err == nil || !strings.Contains(err.Error(), "--shared-socket") {
		t.Errorf("shared socket with max-requests: err = %v; want a refusal", err)
	}
	if err := (Config{FastCGINetwork: "udp"}).Validate(); err == nil || !strings.Contains(err.Error(), "--fastcgi-network") {
		t.Errorf("--fastcgi-network udp: err = %v; want a refusal naming the flag", err)
	}
}
