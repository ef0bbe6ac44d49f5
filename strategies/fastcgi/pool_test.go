package fastcgi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cgibench/cgibench/strategies"
)

// servePool is the strategy minus its HTTP server: a Pool behind a Handler, served by
// httptest, so that a test can reach the pool's counters.
func servePool(t *testing.T, cfg PoolConfig, timeout time.Duration) (*Pool, *httptest.Server, *syncBuffer) {
	t.Helper()
	logBuf := &syncBuffer{}
	cfg.Logger = logBuf.logger()
	pool, err := StartPool(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&Handler{Doer: pool, Program: cfg.Program, Timeout: timeout, Logger: logBuf.logger()})
	t.Cleanup(func() {
		srv.Close()
		pool.Close()
		if t.Failed() {
			t.Logf("log:\n%s", logBuf)
		}
	})
	return pool, srv, logBuf
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

type testProgram struct {
	name string
	prog func(testing.TB) strategies.Program
	path func(mode, arg string) string
}

// testPrograms are the two real FastCGI programs the tests run: the test binary itself
// (net/http/fcgi) and a libfcgi responder in C. path gives each its URL for a test mode.
var testPrograms = []testProgram{
	{"go", goWorker, func(mode, arg string) string {
		switch mode {
		case "hang":
			return "/app/hang?pidfile=" + arg
		case "":
			return "/app?" + arg
		}
		return "/app/" + mode
	}},
	{"libfcgi", libfcgiResponder, func(mode, arg string) string {
		switch mode {
		case "hang":
			return "/app?hang=" + arg
		case "":
			return "/app?" + arg
		}
		return "/app?" + mode
	}},
}

func TestPoolServes(t *testing.T) {
	for _, tp := range testPrograms {
		t.Run(tp.name, func(t *testing.T) {
			pool, srv, logBuf := servePool(t, PoolConfig{Program: tp.prog(t), Workers: 2}, 0)
			if got := pool.PIDs(); len(got) != 2 {
				t.Fatalf("PIDs %v, want 2", got)
			}
			pids := map[string]bool{}
			for i := range 6 {
				code, body := httpGet(t, srv.URL+tp.path("", "i="+strconv.Itoa(i)))
				if code != 200 || field(body, "query") != "i="+strconv.Itoa(i) || field(body, "method") != "GET" {
					t.Fatalf("GET %d: %d %q", i, code, body)
				}
				pids[field(body, "pid")] = true
			}
			if len(pids) != 2 {
				t.Errorf("6 requests served by %d workers, want both", len(pids))
			}
			// A body far larger than one record and than prefill, streamed both ways.
			body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
			resp, err := http.Post(srv.URL+tp.path("", "post"), "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("%d:%08x", len(body), sum(body)); field(string(got), "body") != want {
				t.Errorf("POST of 1 MiB: body=%q, want %q", field(string(got), "body"), want)
			}
			if tp.name == "go" {
				waitLog(t, logBuf, "starting") // the worker's own stderr, fd 2
				if env := field(string(got), "env.SCRIPT_FILENAME"); env != selfPath(t) {
					t.Errorf("SCRIPT_FILENAME=%q, want the program path %q", env, selfPath(t))
				}
			}
			if tp.name == "libfcgi" {
				const n = 3<<20 + 123
				code, big := httpGet(t, srv.URL+"/app?big="+strconv.Itoa(n))
				if code != 200 || len(big) != n || big[:26] != "abcdefghijklmnopqrstuvwxyz" || big[n-1] != byte('a'+(n-1)%4096%26) {
					t.Errorf("big=%d: %d, %d bytes", n, code, len(big))
				}
				code, redirected := httpGet(t, srv.URL+"/app?redirect")
				if code != 200 || redirected != "target method=GET\n" {
					t.Errorf("local redirect: %d %q", code, redirected)
				}
			}
		})
	}
}

func TestPoolStderr(t *testing.T) {
	_, srv, logBuf := servePool(t, PoolConfig{Program: libfcgiResponder(t), Workers: 1}, 0)
	httpGet(t, srv.URL+"/app?stderr")
	for _, line := range []string{"FCGI_STDERR: first problem\n", "FCGI_STDERR: second problem\n"} {
		waitLog(t, logBuf, line)
	}
	_, srv, logBuf = servePool(t, PoolConfig{Program: goWorker(t), Workers: 1}, 0)
	_, body := httpGet(t, srv.URL+"/app/stderr")
	waitLog(t, logBuf, "pid "+field(body, "pid")+": worker "+field(body, "pid")+" says hello on fd 2\n")
}

func TestPoolGetValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		prog func(testing.TB) strategies.Program
		want map[string]string
	}{
		{"libfcgi", libfcgiResponder, map[string]string{MaxConns: "1", MaxReqs: "1", MpxsConns: "0"}},
		{"go", goWorker, map[string]string{MpxsConns: "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := StartPool(context.Background(), PoolConfig{Program: tc.prog(t), Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if got := pool.Values(); !mapsEqual(got, tc.want) {
				t.Errorf("the pool's probe: %v, want %v", got, tc.want)
			}
			// The worker is idle and holds no connection: ask it directly with a Client.
			w := currentWorker(pool, 0)
			c := &Client{Network: w.network, Address: w.addr, MaxConns: 1}
			defer c.Close()
			got, err := c.GetValues(context.Background(), MaxConns, MaxReqs, MpxsConns, "FCGI_NO_SUCH_VALUE")
			if err != nil || !mapsEqual(got, tc.want) {
				t.Errorf("Client.GetValues: %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// idleWorkers counts the workers waiting in the pool's queue for a request.
func idleWorkers(p *Pool) int {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	return len(p.q.items)
}

func currentWorker(p *Pool, slot int) *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current[slot]
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 5*time.Second, "the worker wrote no pid file", func() bool {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			return false
		}
		pid, err = strconv.Atoi(string(b))
		return err == nil
	})
	return pid
}

func TestPoolWorkerKilledMidRequest(t *testing.T) {
	for _, tp := range testPrograms {
		t.Run(tp.name, func(t *testing.T) {
			pool, srv, logBuf := servePool(t, PoolConfig{Program: tp.prog(t), Workers: 2}, 0)
			before := pool.PIDs()
			pidfile := filepath.Join(t.TempDir(), "pid")
			type result struct {
				code int
				body string
			}
			done := make(chan result, 1)
			go func() {
				resp, err := http.Get(srv.URL + tp.path("hang", pidfile))
				if err != nil {
					done <- result{-1, err.Error()}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				done <- result{resp.StatusCode, string(b)}
			}()
			pid := readPID(t, pidfile)
			if !slices.Contains(before, pid) {
				t.Fatalf("pid %d is not one of the workers %v", pid, before)
			}
			// The other worker still serves meanwhile.
			if code, _ := httpGet(t, srv.URL+tp.path("", "meanwhile")); code != 200 {
				t.Errorf("request during the hang: %d", code)
			}
			syscall.Kill(pid, syscall.SIGKILL)
			select {
			case r := <-done:
				if r.code != http.StatusBadGateway {
					t.Errorf("request whose worker was killed: %d %q, want 502", r.code, r.body)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("request whose worker was killed hangs")
			}
			waitFor(t, 10*time.Second, "no restart counted", func() bool { return pool.Restarts() == 1 })
			waitFor(t, 10*time.Second, "the pool did not get back to 2 workers", func() bool {
				pids := pool.PIDs()
				return len(pids) == 2 && !slices.Contains(pids, pid)
			})
			for i := range 4 {
				if code, body := httpGet(t, srv.URL+tp.path("", "after")); code != 200 {
					t.Errorf("request %d after the restart: %d %q", i, code, body)
				}
			}
			waitLog(t, logBuf, fmt.Sprintf("pid %d", pid))
			waitLog(t, logBuf, "signal: killed)")
		})
	}
}

func TestPoolRecycle(t *testing.T) {
	for _, tp := range testPrograms {
		t.Run(tp.name, func(t *testing.T) {
			pool, srv, _ := servePool(t, PoolConfig{Program: tp.prog(t), Workers: 1, MaxRequests: 3}, 0)
			var pids []string
			for i := range 7 {
				code, body := httpGet(t, srv.URL+tp.path("", "n="+strconv.Itoa(i)))
				if code != 200 {
					t.Fatalf("request %d: %d %q", i, code, body)
				}
				pids = append(pids, field(body, "pid"))
			}
			for i, p := range pids {
				if first := pids[i/3*3]; p != first {
					t.Errorf("request %d served by pid %s, want %s (the same worker for 3 requests): %v", i, p, first, pids)
				}
			}
			if pids[0] == pids[3] || pids[3] == pids[6] || pids[0] == pids[6] {
				t.Errorf("pids %v: want a new worker every 3 requests", pids)
			}
			if got := pool.Recycles(); got != 2 {
				t.Errorf("Recycles() = %d, want 2", got)
			}
			if got := pool.Restarts(); got != 0 {
				t.Errorf("Restarts() = %d, want 0", got)
			}
			for _, p := range pids[:6] {
				pid, _ := strconv.Atoi(p)
				waitFor(t, 5*time.Second, fmt.Sprintf("recycled worker %d still runs", pid), func() bool { return processGone(pid) })
			}
		})
	}
}

func TestPoolTimeoutReplacesWorker(t *testing.T) {
	for _, tp := range testPrograms {
		t.Run(tp.name, func(t *testing.T) {
			pool, srv, logBuf := servePool(t, PoolConfig{Program: tp.prog(t), Workers: 1}, 300*time.Millisecond)
			pidfile := filepath.Join(t.TempDir(), "pid")
			start := time.Now()
			code, _ := httpGet(t, srv.URL+tp.path("hang", pidfile))
			if code != http.StatusGatewayTimeout || time.Since(start) > 5*time.Second {
				t.Errorf("hanging request: %d after %v, want 504 after 300ms", code, time.Since(start))
			}
			pid := readPID(t, pidfile)
			waitFor(t, 10*time.Second, "the stuck worker still runs", func() bool { return processGone(pid) })
			// The replacement starts in the background, and on a loaded machine (a -race test
			// binary as the worker) it can take longer than the 300ms that bound the wait for a
			// worker too. The next request therefore goes through a handler on the same pool with
			// the default timeout: it waits for the replacement, which is what is checked here.
			next := httptest.NewServer(&Handler{Doer: pool, Program: tp.prog(t), Logger: logBuf.logger()})
			defer next.Close()
			if code, body := httpGet(t, next.URL+tp.path("", "next")); code != 200 {
				t.Errorf("next request: %d %q", code, body)
			}
			if pool.Restarts() != 1 {
				t.Errorf("Restarts() = %d, want 1", pool.Restarts())
			}
			waitLog(t, logBuf, "a request was abandoned on it")
		})
	}
}

func TestPoolClientGone(t *testing.T) {
	pool, srv, logBuf := servePool(t, PoolConfig{Program: libfcgiResponder(t), Workers: 1}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/app?stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 64)
	n, _ := resp.Body.Read(line)
	pid, _ := strconv.Atoi(strings.TrimSpace(field(string(line[:n]), "pid")))
	cancel() // the client goes away mid-response
	resp.Body.Close()
	waitFor(t, 5*time.Second, "the worker whose request was abandoned still runs", func() bool { return pid > 0 && processGone(pid) })
	waitLog(t, logBuf, "client gone")
	if code, body := httpGet(t, srv.URL+"/app?after"); code != 200 {
		t.Errorf("next request: %d %q", code, body)
	}
	if pool.Restarts() != 1 {
		t.Errorf("Restarts() = %d, want 1", pool.Restarts())
	}
}

func TestPoolCloseLeavesNoProcess(t *testing.T) {
	pool, srv, _ := servePool(t, PoolConfig{Program: goWorker(t), Workers: 3}, 0)
	pids := pool.PIDs()
	_, body := httpGet(t, srv.URL+"/app/spawn")
	child, _ := strconv.Atoi(field(body, "child"))
	if len(pids) != 3 || child == 0 {
		t.Fatalf("PIDs %v, grandchild %d", pids, child)
	}
	// A request in flight when the pool closes fails; it does not keep a worker alive.
	go http.Get(srv.URL + "/app/hang?pidfile=" + filepath.Join(t.TempDir(), "pid"))
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	srv.CloseClientConnections()
	pool.Close()
	if d := time.Since(start); d > DefaultStopGrace+time.Second {
		t.Errorf("Close took %v", d)
	}
	for _, pid := range append(pids, child) {
		if !processGone(pid) {
			t.Errorf("process %d survives Close", pid)
		}
	}
	if _, err := pool.Do(context.Background(), Request{}); err == nil {
		t.Errorf("Do after Close succeeded")
	}
	if _, err := os.Stat(pool.sockDir); !os.IsNotExist(err) {
		t.Errorf("socket directory %s left behind: %v", pool.sockDir, err)
	}
}

func TestPoolTCP(t *testing.T) {
	pool, srv, _ := servePool(t, PoolConfig{Program: libfcgiResponder(t), Workers: 2, Network: "tcp"}, 0)
	if w := currentWorker(pool, 0); w.network != "tcp" || !strings.HasPrefix(w.addr, "127.0.0.1:") {
		t.Errorf("worker 0 listens on %s:%s, want tcp on 127.0.0.1", w.network, w.addr)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if code, body := httpGet(t, srv.URL+"/app?tcp="+strconv.Itoa(i)); code != 200 || field(body, "query") != "tcp="+strconv.Itoa(i) {
				t.Errorf("request %d: %d %q", i, code, body)
			}
		})
	}
	wg.Wait()
}

func TestPoolStartFailures(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "app")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	for _, tc := range []struct {
		name string
		cfg  PoolConfig
		want string
	}{
		{"no program", PoolConfig{}, "a program is required"},
		{"bad config", PoolConfig{Program: programWithEnv("/bin/true", nil), Workers: -1, Network: "udp"}, "workers -1 is negative"},
		{"missing", PoolConfig{Program: programWithEnv(filepath.Join(dir, "none"), nil)}, "no such file"},
		{"not executable", PoolConfig{Program: programWithEnv(notExec, nil)}, "chmod +x"},
		{"exits at once", PoolConfig{Program: programWithEnv("/bin/true", nil), Workers: 2}, "ended (exit status 0) before answering FCGI_GET_VALUES"},
		{"never answers", PoolConfig{Program: programWithEnv("/bin/sleep", []string{"30"}), Workers: 1, StartTimeout: 200 * time.Millisecond}, "did not answer FCGI_GET_VALUES within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := StartPool(context.Background(), tc.cfg)
			if err == nil {
				pool.Close()
				t.Fatal("StartPool succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "fastcgi: ") {
				t.Errorf("error %q, want it to start with \"fastcgi: \" and mention %q", err, tc.want)
			}
		})
	}
}

// TestPoolDiesWithParent kills a process that runs a pool (the test binary again) with
// SIGKILL, which runs no cleanup: Pdeathsig must take the workers down with it.
func TestPoolDiesWithParent(t *testing.T) {
	cmd := exec.Command(selfPath(t), "-test.run=^$")
	cmd.Env = []string{"FASTCGI_TEST_PARENT=1", raceNoExitSleep}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("parent: %q, %v", line, err)
	}
	// Killed, the parent cannot remove its socket directory: the test does.
	dir, list, _ := strings.Cut(line, " ")
	if strings.HasPrefix(dir, os.TempDir()) {
		defer os.RemoveAll(dir)
	}
	var pids []int
	for _, f := range strings.Fields(strings.Trim(list, "[]\n")) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("parent printed %q", line)
		}
		pids = append(pids, pid)
	}
	time.Sleep(200 * time.Millisecond) // the locked-thread goroutines exit meanwhile
	for _, pid := range pids {
		if processGone(pid) {
			t.Fatalf("worker %d died while its parent lived", pid)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	for _, pid := range pids {
		waitFor(t, 5*time.Second, fmt.Sprintf("worker %d outlives its killed parent", pid), func() bool { return processGone(pid) })
	}
}

// TestStalledClientFreesWorker: a client that stops sending its body, or stops reading the
// answer, holds its worker until the timeout at most; then the worker serves others again,
// and nothing keeps reading the stalled body after the handler returned.
func TestStalledClientFreesWorker(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, tt := range []struct{ name, head, body string }{
		// The first part of a short body is read before the request goes out.
		{"short body", "POST /app?x HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 20000\r\n\r\n", "0123456789"},
		// A long body is streamed by a goroutine while the answer is read.
		{"long body", "POST /app?x HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n", strings.Repeat("a", 100000)},
		// 10 MB of answer to a client with a small receive buffer that reads none of it.
		{"answer", "GET /app?big=10000000 HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool, srv, _ := servePool(t, PoolConfig{Program: libfcgiResponder(t), Workers: 1}, timeout)
			nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.(*net.TCPConn).SetReadBuffer(4096)
			io.WriteString(nc, tt.head+tt.body)
			time.Sleep(timeout + 300*time.Millisecond)
			deadline := time.Now().Add(5 * time.Second)
			for idleWorkers(pool) == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if idleWorkers(pool) == 0 {
				t.Fatalf("the worker is still held %v after the %v timeout", 5*time.Second, timeout)
			}
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(srv.URL + "/app?get")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET after the stall: %d; want 200", resp.StatusCode)
			}
			buf := make([]byte, 1<<20)
			for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
				if strings.Contains(g, "copyStdin") && strings.Contains(g, "net/http.(*body).Read") {
					t.Errorf("a goroutine still reads the stalled body after its handler returned:\n%s", g)
				}
			}
		})
	}
}
