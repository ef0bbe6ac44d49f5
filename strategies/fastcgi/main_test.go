package fastcgi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/fcgi"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cgibench/cgibench/strategies"
)

// The test binary doubles as a FastCGI worker: TestMain serves with net/http/fcgi on fd 0 when
// FASTCGI_TEST_WORKER (passed through Program.Env) is set.
func TestMain(m *testing.M) {
	if os.Getenv("FASTCGI_TEST_WORKER") != "" {
		serveWorker()
		return
	}
	if mode := os.Getenv("FASTCGI_TEST_RAW"); mode != "" {
		serveRaw(mode) // front_edge_test.go
		return
	}
	if os.Getenv("FASTCGI_TEST_PARENT") != "" {
		runParent()
		return
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// raceNoExitSleep stops a -race child from sleeping a second at exit.
const raceNoExitSleep = "GORACE=atexit_sleep_ms=0"

func serveWorker() {
	// A line on the worker's own stderr (fd 2), which the pool copies to its log.
	fmt.Fprintf(os.Stderr, "test worker %d starting\n", os.Getpid())
	if err := fcgi.Serve(nil, http.HandlerFunc(workerHandler)); err != nil {
		fmt.Fprintln(os.Stderr, "test worker:", err)
		os.Exit(1)
	}
}

func workerHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/app/hang":
		os.WriteFile(r.URL.Query().Get("pidfile"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		time.Sleep(60 * time.Second)
		return
	case "/app/spawn":
		// A grandchild in the worker's process group, which must not outlive the pool.
		cmd := exec.Command("/bin/sleep", "60")
		cmd.Start()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "child=%d\n", cmd.Process.Pid)
		return
	case "/app/stream":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "pid=%d\n", os.Getpid())
		w.(http.Flusher).Flush()
		time.Sleep(60 * time.Second)
		return
	case "/app/stderr":
		fmt.Fprintf(os.Stderr, "worker %d says hello on fd 2\n", os.Getpid())
	case "/app/status":
		w.WriteHeader(http.StatusTeapot)
		return
	case "/app/big":
		// n bytes of a pattern a reader can check: byte i is 'a'+i%26.
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "application/octet-stream")
		buf := make([]byte, 64<<10)
		for i := 0; i < n; {
			k := min(len(buf), n-i)
			for j := range k {
				buf[j] = byte('a' + (i+j)%26)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			i += k
		}
		return
	case "/app/sleep":
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "pid=%d\nmethod=%s\nquery=%s\nbody=%d:%08x\n", os.Getpid(), r.Method, r.URL.RawQuery, len(body), sum(body))
	env := fcgi.ProcessEnv(r)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "env.%s=%s\n", k, env[k])
	}
}

// runParent starts a pool of test workers, prints their pids and waits to be killed: the
// workers must not outlive it.
func runParent() {
	exe, _ := os.Executable()
	pool, err := StartPool(context.Background(), PoolConfig{
		Program: strategies.Program{Path: exe, Env: []string{"FASTCGI_TEST_WORKER=1", raceNoExitSleep}},
		Workers: 2,
	})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// Let the Go runtime retire idle threads meanwhile: workers must survive that.
	for range 20 {
		go func() {
			runtime.LockOSThread()
		}()
	}
	fmt.Println(pool.sockDir, pool.PIDs())
	time.Sleep(time.Minute)
}

// sum is the checksum both test responders print for a body.
func sum(b []byte) uint32 {
	var s uint32
	for _, c := range b {
		s = s*31 + uint32(c)
	}
	return s
}

func selfPath(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// goWorker is the test binary as a FastCGI program.
func goWorker(t testing.TB) strategies.Program {
	return strategies.Program{
		Name: "go-test-worker",
		Path: selfPath(t),
		Env:  []string{"FASTCGI_TEST_WORKER=1", raceNoExitSleep},
	}
}

var (
	buildDir  string
	buildOnce sync.Once
	buildErr  error
)

// libfcgiResponder compiles testdata/responder.c once per test binary run.
func libfcgiResponder(t testing.TB) strategies.Program {
	t.Helper()
	buildOnce.Do(func() {
		cc, err := exec.LookPath("cc")
		if err != nil {
			buildErr = fmt.Errorf("no C compiler: %w", err)
			return
		}
		if buildDir, err = os.MkdirTemp("", "fastcgi-test-"); err != nil {
			buildErr = err
			return
		}
		src, _ := filepath.Abs("testdata/responder.c")
		out, err := exec.Command(cc, "-O2", "-o", filepath.Join(buildDir, "responder"), src, "-lfcgi").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("cc: %v: %s (is libfcgi-dev installed?)", err, out)
		}
	})
	if buildErr != nil {
		if os.Getenv("CGIBENCH_REQUIRE_ALL") == "1" {
			t.Fatalf("libfcgi responder: %v", buildErr)
		}
		t.Skipf("libfcgi responder unavailable: %v", buildErr)
	}
	return strategies.Program{Name: "libfcgi-test", Path: filepath.Join(buildDir, "responder")}
}

func programWithEnv(path string, args []string, env ...string) strategies.Program {
	return strategies.Program{Name: filepath.Base(path), Path: path, Args: args, Env: env}
}

// syncBuffer is a log destination tests can read while the pool writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) logger() *log.Logger { return log.New(s, "", 0) }

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until the log holds want.
func waitLog(t testing.TB, buf *syncBuffer, want string) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("log lacks %q; log:\n%s", want, buf), func() bool {
		return strings.Contains(buf.String(), want)
	})
}

// processGone reports whether pid no longer exists (or is a zombie about to be reaped).
func processGone(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] == 'Z'
}

// field returns the value of "name=value" in a line-oriented body.
func field(body, name string) string {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return v
		}
	}
	return ""
}
