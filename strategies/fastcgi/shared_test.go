package fastcgi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cgibench/cgibench/scripts"
	"github.com/cgibench/cgibench/strategies"
)

// sharedPrograms are the programs the shared-socket tests run: the two of testPrograms, and
// php-cgi as the catalog runs it, serving testdata/hello.php. sleep gives the URL of a
// request answered after ms milliseconds; oneConn says that a worker serves one connection
// at a time, so that n requests in flight at once are n different workers.
var sharedPrograms = []struct {
	name    string
	prog    func(*testing.T) strategies.Program
	sleep   func(ms int, query string) string
	oneConn bool
}{
	{"go", func(t *testing.T) strategies.Program { return goWorker(t) }, func(ms int, q string) string {
		return fmt.Sprintf("/app/sleep?ms=%d&%s", ms, q)
	}, false},
	{"libfcgi", func(t *testing.T) strategies.Program { return libfcgiResponder(t) }, func(ms int, q string) string {
		return fmt.Sprintf("/app?sleep=%d&%s", ms, q)
	}, true},
	{"php", catalogHelloPHP, func(ms int, q string) string {
		return fmt.Sprintf("/app?sleep=%d&%s", ms, q)
	}, true},
}

// catalogHelloPHP is php-cgi as the catalog runs it in FastCGI mode, with testdata/hello.php
// (which reports its pid) in place of the catalog's app. env replaces variables of its Env.
func catalogHelloPHP(t *testing.T) strategies.Program {
	t.Helper()
	requirePHP(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prog, err := (&scripts.Catalog{}).Resolve(ctx, "php", scripts.FastCGI)
	var unavailable *scripts.UnavailableError
	if errors.As(err, &unavailable) && os.Getenv("CGIBENCH_REQUIRE_ALL") != "1" {
		t.Skipf("%v", unavailable)
	}
	if err != nil {
		t.Fatal(err)
	}
	return withEnv(prog, "SCRIPT_FILENAME="+helloPHP(t))
}

// withEnv returns p with the variables of env set in its Env, replacing any of the same name.
func withEnv(p strategies.Program, env ...string) strategies.Program {
	out := slices.Clone(p.Env)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(old string) bool { return strings.HasPrefix(old, name+"=") })
		out = append(out, kv)
	}
	p.Env = out
	return p
}

// getAll sends the GETs at once and returns the status and body of each.
func getAll(t *testing.T, urls []string) ([]int, []string) {
	t.Helper()
	codes, bodies := make([]int, len(urls)), make([]string, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() {
			resp, err := http.Get(u)
			if err != nil {
				codes[i], bodies[i] = -1, err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes[i], bodies[i] = resp.StatusCode, string(b)
		})
	}
	wg.Wait()
	return codes, bodies
}

func TestSharedPoolServes(t *testing.T) {
	for _, sp := range sharedPrograms {
		t.Run(sp.name, func(t *testing.T) {
			const workers = 3
			pool, srv, _ := servePool(t, PoolConfig{Program: sp.prog(t), Workers: workers, SharedSocket: true}, 0)
			pids := pool.PIDs()
			if len(pids) != workers {
				t.Fatalf("PIDs %v, want %d", pids, workers)
			}
			if dir := filepath.Dir(pool.shared.addr); pool.shared.network != "unix" || dir != pool.sockDir {
				t.Errorf("shared socket %s:%s, want unix in %s", pool.shared.network, pool.shared.addr, pool.sockDir)
			}
			// As many requests in flight as workers, twice.
			served := map[string]int{}
			for round := range 2 {
				var urls []string
				for i := range workers {
					urls = append(urls, srv.URL+sp.sleep(200, fmt.Sprintf("r=%d&i=%d", round, i)))
				}
				codes, bodies := getAll(t, urls)
				for i := range urls {
					pid := field(bodies[i], "pid")
					if codes[i] != 200 || !strings.Contains(field(bodies[i], "query"), fmt.Sprintf("r=%d&i=%d", round, i)) {
						t.Fatalf("request %d.%d: %d %q", round, i, codes[i], bodies[i])
					}
					if n, _ := strconv.Atoi(pid); !slices.Contains(pids, n) {
						t.Errorf("request %d.%d served by pid %s, not a worker %v", round, i, pid, pids)
					}
					served[pid]++
				}
			}
			t.Logf("requests per worker pid: %v", served)
			// A worker that serves one connection at a time takes one of the client's
			// connections: requests in flight at once are on different workers.
			if sp.oneConn && len(served) != workers {
				t.Errorf("%d requests in flight at once served by %d workers %v, want %d", workers, len(served), served, workers)
			}
			body := strings.Repeat("0123456789abcdef", 1<<12)
			resp, err := http.Post(srv.URL+sp.sleep(0, "post"), "application/octet-stream", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if b := field(string(got), "body"); resp.StatusCode != 200 || !strings.HasPrefix(b, strconv.Itoa(len(body))) {
				t.Errorf("POST of %d bytes: %d, body=%q", len(body), resp.StatusCode, b)
			}
			if pool.Restarts() != 0 || pool.Recycles() != 0 {
				t.Errorf("Restarts() = %d, Recycles() = %d, want 0", pool.Restarts(), pool.Recycles())
			}
			if v := pool.Values(); sp.name == "libfcgi" && v[MaxConns] != "1" {
				t.Errorf("Values() = %v, want libfcgi's answer", v)
			}
		})
	}
}

func TestSharedPoolWorkerKilledMidRequest(t *testing.T) {
	for _, tp := range testPrograms {
		t.Run(tp.name, func(t *testing.T) {
			pool, srv, logBuf := servePool(t, PoolConfig{Program: tp.prog(t), Workers: 2, SharedSocket: true}, 0)
			before := pool.PIDs()
			// A first request leaves a kept connection, which the next request takes: the
			// one that breaks must not be sent again, although it was on a kept connection.
			if code, body := httpGet(t, srv.URL+tp.path("", "warm")); code != 200 {
				t.Fatalf("first request: %d %q", code, body)
			}
			pidfile := filepath.Join(t.TempDir(), "pid")
			done := make(chan int, 1)
			go func() {
				resp, err := http.Get(srv.URL + tp.path("hang", pidfile))
				if err != nil {
					done <- -1
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
			pid := readPID(t, pidfile)
			if !slices.Contains(before, pid) {
				t.Fatalf("pid %d is not one of the workers %v", pid, before)
			}
			if code, _ := httpGet(t, srv.URL+tp.path("", "meanwhile")); code != 200 {
				t.Errorf("request during the hang: %d", code)
			}
			syscall.Kill(pid, syscall.SIGKILL)
			select {
			case code := <-done:
				if code != http.StatusBadGateway {
					t.Errorf("request whose worker was killed: %d, want 502", code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("request whose worker was killed hangs")
			}
			waitLog(t, logBuf, "not sent again")
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
			if pool.Recycles() != 0 {
				t.Errorf("Recycles() = %d, want 0", pool.Recycles())
			}
			waitLog(t, logBuf, fmt.Sprintf("pid %d ended (signal: killed); restarting it", pid))
		})
	}
}

// TestSharedPoolAppRecycles runs workers that exit with status 0 after 3 requests, as php-cgi
// does after PHP_FCGI_MAX_REQUESTS: every request succeeds (one that raced a worker's exit on
// a kept connection is sent again), and each exit counts as a recycle, not a restart.
func TestSharedPoolAppRecycles(t *testing.T) {
	for _, tc := range []struct {
		name string
		prog func(*testing.T) strategies.Program
		url  string
	}{
		{"libfcgi", func(t *testing.T) strategies.Program {
			return withEnv(libfcgiResponder(t), "RESPONDER_MAX_REQUESTS=3")
		}, "/app?i="},
		{"php", func(t *testing.T) strategies.Program {
			return withEnv(catalogHelloPHP(t), "PHP_FCGI_MAX_REQUESTS=3")
		}, "/app?i="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, srv, logBuf := servePool(t, PoolConfig{Program: tc.prog(t), Workers: 2, SharedSocket: true}, 10*time.Second)
			const clients, each = 4, 12
			var wg sync.WaitGroup
			pids := make([]map[string]bool, clients)
			for c := range clients {
				pids[c] = map[string]bool{}
				wg.Go(func() {
					for i := range each {
						resp, err := http.Get(srv.URL + tc.url + strconv.Itoa(c*each+i))
						if err != nil {
							t.Error(err)
							return
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							t.Errorf("request %d: %d %q", c*each+i, resp.StatusCode, b)
						}
						pids[c][field(string(b), "pid")] = true
					}
				})
			}
			wg.Wait()
			all := map[string]bool{}
			for _, m := range pids {
				for p := range m {
					all[p] = true
				}
			}
			// 48 requests, 3 per worker's life: at least 16 lives, all but the last 2 ended.
			const want = clients*each/3 - 2
			waitFor(t, 10*time.Second, fmt.Sprintf("Recycles() = %d, want at least %d", pool.Recycles(), want), func() bool {
				return pool.Recycles() >= want
			})
			if len(all) < want {
				t.Errorf("%d requests served by %d pids, want at least %d", clients*each, len(all), want)
			}
			if pool.Restarts() != 0 {
				t.Errorf("Restarts() = %d, want 0: a worker that recycles itself is no failure", pool.Restarts())
			}
			waitLog(t, logBuf, "(exit status 0) after requests were served: the app recycles itself")
			t.Logf("%d requests, %d worker pids, %d recycles, %d requests sent again", clients*each, len(all), pool.Recycles(), strings.Count(logBuf.String(), "sending the request again"))
		})
	}
}

// TestPoolAppRecyclesOwnSocket: with a socket per worker too, a worker that exits with status
// 0 after serving counts as a recycle.
func TestPoolAppRecyclesOwnSocket(t *testing.T) {
	pool, srv, logBuf := servePool(t, PoolConfig{Program: withEnv(libfcgiResponder(t), "RESPONDER_MAX_REQUESTS=2"), Workers: 1}, 0)
	pid := pool.PIDs()[0]
	for i := range 2 {
		if code, body := httpGet(t, srv.URL+"/app?i="+strconv.Itoa(i)); code != 200 {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	waitFor(t, 5*time.Second, "no recycle counted", func() bool { return pool.Recycles() == 1 })
	waitFor(t, 5*time.Second, "no new worker", func() bool {
		pids := pool.PIDs()
		return len(pids) == 1 && pids[0] != pid
	})
	if code, body := httpGet(t, srv.URL+"/app?after"); code != 200 {
		t.Errorf("request after: %d %q", code, body)
	}
	if pool.Restarts() != 0 {
		t.Errorf("Restarts() = %d, want 0", pool.Restarts())
	}
	waitLog(t, logBuf, "exited on its own after 2 requests (exit status 0): the app recycles itself")
}

// TestSharedPoolTimeout pins what a shared socket cannot do: the pool does not know which
// worker a timed-out request is stuck in, so that worker is not replaced; the others serve.
func TestSharedPoolTimeout(t *testing.T) {
	pool, srv, _ := servePool(t, PoolConfig{Program: libfcgiResponder(t), Workers: 2, SharedSocket: true}, time.Second)
	pidfile := filepath.Join(t.TempDir(), "pid")
	if code, _ := httpGet(t, srv.URL+"/app?hang="+pidfile); code != http.StatusGatewayTimeout {
		t.Errorf("hanging request: %d, want 504", code)
	}
	pid := readPID(t, pidfile)
	for i := range 3 {
		if code, body := httpGet(t, srv.URL+"/app?next="+strconv.Itoa(i)); code != 200 || field(body, "pid") == strconv.Itoa(pid) {
			t.Errorf("request %d: %d %q", i, code, body)
		}
	}
	if processGone(pid) || pool.Restarts() != 0 {
		t.Errorf("stuck worker gone: %v, Restarts() = %d; want it left running", processGone(pid), pool.Restarts())
	}
	pool.Close()
	if !processGone(pid) {
		t.Errorf("stuck worker %d survives Close", pid)
	}
}

func TestSharedPoolCloseLeavesNoProcess(t *testing.T) {
	pool, srv, _ := servePool(t, PoolConfig{Program: goWorker(t), Workers: 3, SharedSocket: true}, 0)
	pids := pool.PIDs()
	_, body := httpGet(t, srv.URL+"/app/spawn")
	child, _ := strconv.Atoi(field(body, "child"))
	if len(pids) != 3 || child == 0 {
		t.Fatalf("PIDs %v, grandchild %d", pids, child)
	}
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
	if _, err := pool.Do(context.Background(), Request{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(pool.sockDir); !os.IsNotExist(err) {
		t.Errorf("socket directory %s left behind: %v", pool.sockDir, err)
	}
	if len(pool.PIDs()) != 0 {
		t.Errorf("PIDs() after Close = %v", pool.PIDs())
	}
}

func TestSharedPoolTCP(t *testing.T) {
	pool, srv, _ := servePool(t, PoolConfig{Program: libfcgiResponder(t), Workers: 2, SharedSocket: true, Network: "tcp"}, 0)
	if s := pool.shared; s.network != "tcp" || !strings.HasPrefix(s.addr, "127.0.0.1:") || pool.sockDir != "" {
		t.Errorf("shared socket %s:%s (directory %q), want tcp on 127.0.0.1 and no directory", s.network, s.addr, pool.sockDir)
	}
	codes, bodies := getAll(t, []string{srv.URL + "/app?sleep=200&a", srv.URL + "/app?sleep=200&b"})
	if codes[0] != 200 || codes[1] != 200 || field(bodies[0], "pid") == field(bodies[1], "pid") {
		t.Errorf("two requests at once: %v %q, want 200s from two workers", codes, bodies)
	}
	var urls []string
	for i := range 8 {
		urls = append(urls, srv.URL+"/app?tcp="+strconv.Itoa(i))
	}
	codes, bodies = getAll(t, urls)
	for i := range urls {
		if codes[i] != 200 || field(bodies[i], "query") != "tcp="+strconv.Itoa(i) {
			t.Errorf("request %d: %d %q", i, codes[i], bodies[i])
		}
	}
}

func TestSharedPoolConfig(t *testing.T) {
	cfg := PoolConfig{Program: libfcgiResponder(t), SharedSocket: true, MaxRequests: 100}
	err := cfg.Validate()
	if !errors.Is(err, ErrSharedMaxRequests) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "drop --shared-socket") {
		t.Errorf("Validate() = %v, want one line naming the fix", err)
	}
	if _, err := StartPool(context.Background(), cfg); err == nil || !strings.HasPrefix(err.Error(), "fastcgi: max-requests needs per-worker sockets") {
		t.Errorf("StartPool: %v", err)
	}
	_, err = Strategy{SharedSocket: true}.Start(context.Background(), strategies.Config{Program: cfg.Program, MaxRequests: 100})
	if !errors.Is(err, ErrSharedMaxRequests) || strings.Contains(err.Error(), "\n") {
		t.Errorf("Strategy.Start: %v", err)
	}
	cfg.MaxRequests = 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() without MaxRequests: %v", err)
	}

	for _, tc := range []struct {
		name string
		cfg  PoolConfig
		want string
	}{
		{"exits at once", PoolConfig{Program: programWithEnv("/bin/true", nil), Workers: 2}, "ended (exit status 0) before answering FCGI_GET_VALUES"},
		{"never answers", PoolConfig{Program: programWithEnv("/bin/sleep", []string{"30"}), Workers: 1, StartTimeout: 200 * time.Millisecond}, "did not answer FCGI_GET_VALUES within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.SharedSocket = true
			start := time.Now()
			pool, err := StartPool(context.Background(), tc.cfg)
			if err == nil {
				pool.Close()
				t.Fatal("StartPool succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "fastcgi: ") {
				t.Errorf("error %q, want it to start with \"fastcgi: \" and mention %q", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("StartPool took %v to fail", d)
			}
		})
	}
}

func TestStrategySharedSocket(t *testing.T) {
	for _, sp := range sharedPrograms {
		if sp.name == "go" {
			continue // TestSharedPoolServes
		}
		t.Run(sp.name, func(t *testing.T) {
			logBuf := &syncBuffer{}
			sb, err := Strategy{SharedSocket: true}.Start(context.Background(), strategies.Config{Program: sp.prog(t), Workers: 2, Log: logBuf})
			if err != nil {
				t.Fatal(err)
			}
			b := &closeOnce{Backend: sb}
			t.Cleanup(func() {
				b.Close()
				if t.Failed() {
					t.Logf("log:\n%s", logBuf)
				}
			})
			pids := b.PIDs()
			if len(pids) != 2 {
				t.Fatalf("PIDs() = %v, want 2 workers", pids)
			}
			base := strings.TrimSuffix(b.URL(), "/app")
			codes, bodies := getAll(t, []string{base + sp.sleep(200, "a"), base + sp.sleep(200, "b")})
			if codes[0] != 200 || codes[1] != 200 || field(bodies[0], "pid") == field(bodies[1], "pid") {
				t.Errorf("two requests at once: %v %q, want 200s from both workers", codes, bodies)
			}
			pb := sb.(*PoolBackend)
			if pb.Restarts() != 0 || pb.Recycles() != 0 {
				t.Errorf("Restarts() = %d, Recycles() = %d", pb.Restarts(), pb.Recycles())
			}
			dir := pb.pool.sockDir
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			for _, pid := range pids {
				if !processGone(pid) {
					t.Errorf("worker %d survives Close", pid)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("socket directory %s left behind: %v", dir, err)
			}
		})
	}
}
