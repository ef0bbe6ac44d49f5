package fastcgi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cgibench/cgibench/strategies"
)

func startStrategy(t *testing.T, cfg strategies.Config) (strategies.Backend, *syncBuffer) {
	t.Helper()
	return startFront(t, "", cfg)
}

// frontEnds are the strategy's front ends, for the tests that run under each.
var frontEnds = []string{FrontEventLoop, FrontNetHTTP}

// startFront starts the strategy with the front end named (""; the default).
func startFront(t *testing.T, front string, cfg strategies.Config) (strategies.Backend, *syncBuffer) {
	t.Helper()
	logBuf := &syncBuffer{}
	cfg.Log = logBuf
	sb, err := Strategy{FrontEnd: front}.Start(context.Background(), cfg)
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
	return b, logBuf
}

// closeOnce lets a test close a backend early and again in its cleanup:
// strategies.HTTPBackend.Close blocks when called twice.
type closeOnce struct {
	strategies.Backend
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Backend.Close() })
	return c.err
}

func TestStrategy(t *testing.T) {
	if got := (Strategy{}).Name(); got != "fastcgi" {
		t.Errorf("Name() = %q", got)
	}
	for _, front := range frontEnds {
		for _, tp := range testPrograms {
			t.Run(front+"/"+tp.name, func(t *testing.T) {
				testStrategy(t, front, tp)
			})
		}
	}
}

func testStrategy(t *testing.T, front string, tp testProgram) {
	b, _ := startFront(t, front, strategies.Config{Program: tp.prog(t), Workers: 2})
	pids := b.PIDs()
	if len(pids) != 2 {
		t.Fatalf("PIDs() = %v, want 2 workers", pids)
	}
	base := strings.TrimSuffix(b.URL(), "/app")
	code, body := httpGet(t, base+tp.path("", "a=1&b=2"))
	if code != 200 || field(body, "query") != "a=1&b=2" {
		t.Errorf("GET: %d %q", code, body)
	}
	resp, err := http.Post(b.URL(), "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if field(string(got), "method") != "POST" || field(string(got), "body") != fmt.Sprintf("5:%08x", sum([]byte("hello"))) {
		t.Errorf("POST: %q", got)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("worker %d survives Close", pid)
		}
	}
}

func TestStrategyKilledWorker(t *testing.T) {
	for _, front := range frontEnds {
		t.Run(front, func(t *testing.T) { testKilledWorker(t, front) })
	}
}

func testKilledWorker(t *testing.T, front string) {
	b, _ := startFront(t, front, strategies.Config{Program: libfcgiResponder(t), Workers: 1})
	pidfile := filepath.Join(t.TempDir(), "pid")
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(b.URL() + "?hang=" + pidfile)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pid := readPID(t, pidfile)
	if err := exec.Command("kill", "-9", strconv.Itoa(pid)).Run(); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != http.StatusBadGateway {
			t.Errorf("status %d, want 502", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request hangs")
	}
	// One worker, restarted: the next request waits for it and succeeds.
	if code, body := httpGet(t, b.URL()+"?next"); code != 200 || field(body, "pid") == strconv.Itoa(pid) {
		t.Errorf("next request: %d %q", code, body)
	}
	if n := b.(*closeOnce).Backend.(interface{ Restarts() int64 }).Restarts(); n != 1 {
		t.Errorf("Restarts() = %d, want 1", n)
	}
	// A local redirect frees the one worker before it serves the target.
	if code, body := httpGet(t, b.URL()+"?redirect"); code != 200 || body != "target method=GET\n" {
		t.Errorf("local redirect with one worker: %d %q", code, body)
	}
}

func TestStrategyTimeout(t *testing.T) {
	for _, front := range frontEnds {
		t.Run(front, func(t *testing.T) { testTimeout(t, front) })
	}
}

func testTimeout(t *testing.T, front string) {
	b, _ := startFront(t, front, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: time.Second})
	code, _ := httpGet(t, strings.TrimSuffix(b.URL(), "/app")+"/app/hang?pidfile="+filepath.Join(t.TempDir(), "pid"))
	if code != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", code)
	}
	// The one worker was stopped and is being replaced. The timeout also bounds the wait for
	// a worker, and starting one (the -race test binary) can take longer than that on a loaded
	// machine: wait until the replacement is up, then ask.
	pool := b.(*closeOnce).Backend.(*PoolBackend).pool
	waitFor(t, 30*time.Second, "no replacement worker", func() bool { return pool.Restarts() == 1 && len(pool.PIDs()) == 1 })
	if code, _ := httpGet(t, b.URL()); code != 200 {
		t.Errorf("after the timeout: %d", code)
	}
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in, network, address string
	}{
		{"unix:/run/php/fpm.sock", "unix", "/run/php/fpm.sock"},
		{"unix:rel.sock", "unix", "rel.sock"},
		{"tcp:127.0.0.1:9000", "tcp", "127.0.0.1:9000"},
		{"tcp:[::1]:9000", "tcp", "[::1]:9000"},
		{"tcp:localhost:1", "tcp", "localhost:1"},
		{"", "", ""},
		{"unix:", "", ""},
		{"/run/php.sock", "", ""},
		{"127.0.0.1:9000", "", ""},
		{"tcp:127.0.0.1", "", ""},
		{"tcp::9000", "", ""},
		{"tcp:127.0.0.1:0", "", ""},
		{"tcp:127.0.0.1:70000", "", ""},
		{"tcp:127.0.0.1:http", "", ""},
		{"udp:127.0.0.1:9000", "", ""},
	} {
		network, address, err := ParseAddr(tc.in)
		if network != tc.network || address != tc.address || (err != nil) != (tc.network == "") {
			t.Errorf("ParseAddr(%q) = %q, %q, %v; want %q, %q", tc.in, network, address, err, tc.network, tc.address)
		}
		if err != nil && (!strings.HasPrefix(err.Error(), "fastcgi: ") || !strings.Contains(err.Error(), "unix:/path/to.sock or tcp:127.0.0.1:9000")) {
			t.Errorf("ParseAddr(%q): error %q does not name the fix", tc.in, err)
		}
	}
	_, err := Strategy{}.Start(context.Background(), strategies.Config{FastCGIAddr: "127.0.0.1:9000"})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("Start with a bad address: %v, want a one-line error", err)
	}
	_, err = Strategy{}.Start(context.Background(), strategies.Config{FastCGIAddr: "unix:" + filepath.Join(t.TempDir(), "none.sock")})
	if err == nil || !strings.Contains(err.Error(), "start the FastCGI server") {
		t.Errorf("Start with nothing listening: %v", err)
	}
}

const phpCGI = "/usr/bin/php-cgi"

func requirePHP(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(phpCGI); err != nil {
		if os.Getenv("CGIBENCH_REQUIRE_ALL") == "1" {
			t.Fatalf("php-cgi: %v", err)
		}
		t.Skipf("php-cgi unavailable: %v", err)
	}
}

func helloPHP(t *testing.T) string {
	p, err := filepath.Abs("testdata/hello.php")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStrategyPHPWorkers runs php-cgi as pool workers: php-cgi is a FastCGI server when fd 0
// is a listening socket.
func TestStrategyPHPWorkers(t *testing.T) {
	requirePHP(t)
	b, logBuf := startStrategy(t, strategies.Config{
		Program: programWithEnv(phpCGI, nil, "PHP_FCGI_CHILDREN=0", "PHP_FCGI_MAX_REQUESTS=0",
			"SCRIPT_FILENAME="+helloPHP(t), "REDIRECT_STATUS=200"),
		Workers: 2,
	})
	for i := range 4 {
		code, body := httpGet(t, b.URL()+"?i="+strconv.Itoa(i))
		if code != 200 || !strings.HasPrefix(body, "php method=GET\n") || field(body, "query") != "i="+strconv.Itoa(i) {
			t.Errorf("request %d: %d %q", i, code, body)
		}
	}
	resp, err := http.Post(b.URL(), "application/octet-stream", strings.NewReader(strings.Repeat("x", 100000)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if field(string(body), "body") != "100000" {
		t.Errorf("POST: %q", body)
	}
	httpGet(t, b.URL()+"?stderr=1")
	waitLog(t, logBuf, "php says hello on stderr")
}

// startPHPServer runs "php-cgi -b addr" as an external FastCGI server, as a user would.
func startPHPServer(t *testing.T, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(phpCGI, "-b", addr)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "PHP_FCGI_CHILDREN=0", "PHP_FCGI_MAX_REQUESTS=0"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	waitFor(t, 10*time.Second, "php-cgi -b "+addr+" does not accept", func() bool {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return cmd
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestClientPHPServer(t *testing.T) {
	requirePHP(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	startPHPServer(t, addr)
	// php-cgi -b is a single process serving one connection at a time: one connection.
	c := &Client{Network: "tcp", Address: addr, MaxConns: 1}
	defer c.Close()
	vals, err := c.GetValues(context.Background(), MaxConns, MaxReqs, MpxsConns)
	if err != nil || vals[MpxsConns] != "0" {
		t.Errorf("GetValues from php-cgi: %v, %v", vals, err)
	}
	t.Logf("php-cgi FCGI_GET_VALUES: %v", vals)
	// php-cgi hangs up after a management record: the client notices and reconnects.
	for i := range 3 {
		body, err := do(t, c, "REQUEST_METHOD=GET", "QUERY_STRING=n="+strconv.Itoa(i), "SCRIPT_FILENAME="+helloPHP(t),
			"REDIRECT_STATUS=200", "GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1")
		if err != nil || !strings.Contains(body, "php method=GET\n") || !strings.Contains(body, "query=n="+strconv.Itoa(i)+"\n") {
			t.Errorf("request %d: %q, %v", i, body, err)
		}
	}
}

func TestStrategyExternalPHP(t *testing.T) {
	requirePHP(t)
	sock := filepath.Join(t.TempDir(), "php.sock")
	cmd := startPHPServer(t, sock)
	b, _ := startStrategy(t, strategies.Config{
		FastCGIAddr: "unix:" + sock,
		Workers:     1,
		Program:     programWithEnv(phpCGI, nil, "SCRIPT_FILENAME="+helloPHP(t), "REDIRECT_STATUS=200"),
	})
	if pids := b.PIDs(); len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Errorf("PIDs() = %v, want the server's pid %d (SO_PEERCRED)", pids, cmd.Process.Pid)
	}
	for i := range 3 {
		code, body := httpGet(t, b.URL()+"?x="+strconv.Itoa(i))
		if code != 200 || field(body, "pid") != strconv.Itoa(cmd.Process.Pid) {
			t.Errorf("request %d: %d %q", i, code, body)
		}
	}
	// Closing the backend leaves the external server running.
	b.Close()
	if processGone(cmd.Process.Pid) {
		t.Errorf("Close stopped the external server")
	}
}

// TestStrategyThroughput measures the strategy with the libfcgi responder: 2 workers, 8
// concurrent HTTP clients, about 3 seconds. It logs requests per second.
func TestStrategyThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 3 s")
	}
	b, _ := startStrategy(t, strategies.Config{Program: libfcgiResponder(t), Workers: 2})
	rate, errs := measure(b.URL()+"?a=1&b=2", 8, 3*time.Second)
	if errs > 0 {
		t.Errorf("%d failed requests", errs)
	}
	t.Logf("fastcgi strategy, libfcgi responder, 2 workers, 8 clients: %.0f req/s", rate)
}

// BenchmarkStrategy reports the same figure as TestStrategyThroughput as a benchmark metric.
func BenchmarkStrategy(b *testing.B) {
	lb, err := Strategy{}.Start(context.Background(), strategies.Config{Program: libfcgiResponder(b), Workers: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer lb.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// A connection the transport dialled but never used is "new" to the server, whose
	// Shutdown waits up to 5 s for it: close them before the backend.
	defer client.CloseIdleConnections()
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(lb.URL() + "?a=1")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// measure runs conc closed-loop clients against url for d and returns the rate of 200s.
func measure(url string, conc int, d time.Duration) (rate float64, errs int64) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	defer client.CloseIdleConnections()
	var ok, bad atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				resp, err := client.Get(url)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), bad.Load()
}
