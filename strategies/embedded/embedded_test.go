package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/cgibench/cgibench/strategies"
)

// syncBuffer is a log destination safe for concurrent writers.
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

const probe = "testdata/probe.lua"

// newHandler builds a handler for script and closes it when the test ends.
func newHandler(t testing.TB, script string, cfg strategies.Config) (*Handler, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Program.Script = script
	cfg.Log = logs
	h, err := NewHandler(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewHandler(%s): %v", script, err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, logs
}

// get sends one request straight to the handler, no network.
func get(h http.Handler, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

func writeScript(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.lua")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name   string
		script string // "" for none; otherwise Lua source
		want   error
		substr string
	}{
		{"no script", "", ErrNoScript, "Program.Script"},
		{"syntax error", "local M = {}\nlocal x = = 1", nil, "line:2"},
		{"returns a number", "return 42", ErrNoModule, "returned number"},
		{"no handle", "return {}", ErrNoModule, "handle field is nil"},
		{"error while loading", "error('at load')", nil, "at load"},
		{"runaway while loading", "while true do end", ErrTimeout, "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := strategies.Config{Timeout: 100 * time.Millisecond, Workers: 1}
			if tt.script != "" {
				cfg.Program.Script = writeScript(t, tt.script)
			}
			b, err := Strategy{}.Start(context.Background(), cfg)
			if err == nil {
				b.Close()
				t.Fatalf("Start: got no error; want one mentioning %q", tt.substr)
			}
			t.Logf("Start: %v", err)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Start: got %v; want it to wrap %v", err, tt.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "embedded: ") || !strings.Contains(msg, tt.substr) {
				t.Errorf("Start: got %q; want an \"embedded: \" error mentioning %q", msg, tt.substr)
			}
			if tt.script == "" && strings.Contains(err.Error(), "\n") {
				t.Errorf("Start: got %q; want one line", err)
			}
		})
	}
}

// TestIsolation runs each action several times on a pool of one state: whatever a request
// writes, the next must not see.
func TestIsolation(t *testing.T) {
	h, _ := newHandler(t, probe, strategies.Config{Workers: 1})
	tests := []struct{ query, want string }{
		{"global", "seen=false viaG=1 loaded=yes\n"},
		{"module", "seen=false counter=1\n"},
		{"rawset", "seen=false mseen=false\n"},
		{"library", "seen=false polyfill=yes\n"},
		{"typemeta", "seen=false number=false function=false\n"},
		{"unset", "before=yes/yes after=nil/nil set=again\n"},
	}
	for round := 0; round < 3; round++ {
		for _, tt := range tests {
			w := get(h, "/app?"+tt.query)
			if w.Code != http.StatusOK || w.Body.String() != tt.want {
				t.Errorf("round %d, ?%s: got %d %q; want 200 %q", round, tt.query, w.Code, w.Body.String(), tt.want)
			}
		}
	}
	if got := h.Stats().StatesCreated; got != 1 {
		t.Errorf("states created: got %d; want 1 (the same state served every request)", got)
	}
}

func TestSandbox(t *testing.T) {
	h, _ := newHandler(t, probe, strategies.Config{Workers: 1})
	tests := []struct{ query, want string }{
		{"sandbox", "assert=yes collectgarbage=yes coroutine=no debug=no dofile=no getfenv=no io=no load=no " +
			"loadfile=no loadstring=no math.floor=yes module=no os.clock=yes os.date=yes os.execute=no " +
			"os.exit=no os.getenv=no os.remove=no os.time=yes package=no pairs=yes print=yes require=yes " +
			"setfenv=no string.format=yes table.concat=yes unpack=yes\n"},
		{"metatable", "setmetatable_G=false getmetatable_string=false getmetatable_string_lib=false getmetatable_req=false getmetatable_M=false\n"},
		{"require", "string=true self=true io=false\n"},
	}
	for _, tt := range tests {
		w := get(h, "/app?"+tt.query)
		if w.Code != http.StatusOK || w.Body.String() != tt.want {
			t.Errorf("?%s: got %d %q;\nwant 200 %q", tt.query, w.Code, w.Body.String(), tt.want)
		}
	}
}

// TestBudget runs runaway scripts under a short timeout: each gets 504, its state is
// replaced, and the next request is served.
func TestBudget(t *testing.T) {
	const timeout = 200 * time.Millisecond
	h, logs := newHandler(t, probe, strategies.Config{Workers: 1, Timeout: timeout})
	for i, query := range []string{"loop", "pcallloop", "loop"} {
		start := time.Now()
		w := get(h, "/app?"+query)
		if took := time.Since(start); w.Code != http.StatusGatewayTimeout || took > timeout+2*time.Second {
			t.Errorf("?%s: got %d after %v; want 504 after about %v", query, w.Code, took, timeout)
		}
		w = get(h, "/app?echo")
		if w.Code != http.StatusOK {
			t.Errorf("?echo after ?%s: got %d %q; want 200", query, w.Code, w.Body.String())
		}
		if got, want := h.Stats().StatesCreated, int64(i+2); got != want {
			t.Errorf("after ?%s: states created %d; want %d (the timed-out state replaced)", query, got, want)
		}
	}
	if got := h.Stats().Timeouts; got != 3 {
		t.Errorf("timeouts: got %d; want 3", got)
	}
	if !strings.Contains(logs.String(), "script timed out after 200ms; state discarded") {
		t.Errorf("log: got %q; want a timeout line", logs.String())
	}
}

// TestBudgetGoCall times out a script stuck inside a Go function, which the interpreter
// cannot interrupt: the client still gets 504 on time, the slot gets a fresh state at once,
// and the stuck state is closed when the call returns.
func TestBudgetGoCall(t *testing.T) {
	const timeout, sleep = 200 * time.Millisecond, 1500 * time.Millisecond
	released := make(chan struct{})
	extend := func(L *lua.LState, globals *lua.LTable) {
		globals.RawSetString("go_sleep", L.NewFunction(func(L *lua.LState) int {
			time.Sleep(time.Duration(float64(L.CheckNumber(1)) * float64(time.Second)))
			select {
			case released <- struct{}{}:
			default:
			}
			return 0
		}))
	}
	logs := &syncBuffer{}
	h, err := buildHandler(context.Background(), strategies.Config{
		Program: strategies.Program{Script: probe}, Workers: 1, Timeout: timeout, Log: logs}, extend)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	start := time.Now()
	w := get(h, fmt.Sprintf("/app?gosleep&s=%g", sleep.Seconds()))
	took := time.Since(start)
	if w.Code != http.StatusGatewayTimeout || took > timeout+AbandonGrace+time.Second {
		t.Errorf("?gosleep: got %d after %v; want 504 after about %v", w.Code, took, timeout+AbandonGrace)
	}
	// The pool has one slot, refilled while the old state still sleeps.
	if w := get(h, "/app?echo"); w.Code != http.StatusOK {
		t.Errorf("?echo while the abandoned state sleeps: got %d; want 200", w.Code)
	}
	if st := h.Stats(); st.Abandoned != 1 || st.Timeouts != 1 || st.StatesCreated != 2 {
		t.Errorf("stats: got %+v; want 1 abandoned, 1 timeout, 2 states", st)
	}
	if !strings.Contains(logs.String(), "state abandoned, still running Go code") {
		t.Errorf("log %q lacks the abandon line", logs.String())
	}
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("the abandoned call never returned")
	}
}

// TestBudgetGoCallBounded: requests that keep overrunning inside a Go call do not pile up
// interpreters: with one slot, the second abandoned call's slot waits for a call to return, so
// a third request finds no state (503) instead of a new one being built for it.
func TestBudgetGoCallBounded(t *testing.T) {
	const timeout = 100 * time.Millisecond
	var returned atomic.Int64
	extend := func(L *lua.LState, globals *lua.LTable) {
		globals.RawSetString("go_sleep", L.NewFunction(func(L *lua.LState) int {
			time.Sleep(time.Duration(float64(L.CheckNumber(1)) * float64(time.Second)))
			returned.Add(1)
			return 0
		}))
	}
	h, err := buildHandler(context.Background(), strategies.Config{
		Program: strategies.Program{Script: probe}, Workers: 1, Timeout: timeout, Log: &syncBuffer{}}, extend)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i, want := range []int{http.StatusGatewayTimeout, http.StatusGatewayTimeout, http.StatusServiceUnavailable} {
		if w := get(h, "/app?gosleep&s=1"); w.Code != want {
			t.Errorf("request %d: got %d; want %d", i+1, w.Code, want)
		}
	}
	if st := h.Stats(); st.Abandoned != 2 || st.StatesCreated != 2 {
		t.Errorf("stats: got %+v; want 2 abandoned and 2 states (the first, one refill)", st)
	}
	// Once the calls return, the slot is refilled and requests are served again.
	deadline := time.Now().Add(10 * time.Second)
	for returned.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var code int
	for time.Now().Before(deadline) {
		if code = get(h, "/app?echo").Code; code == http.StatusOK {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Errorf("?echo after the abandoned calls returned: got %d; want 200", code)
	}
}

// TestBudgetOthersServed checks that a runaway script holds only its own state: the server
// answers other requests meanwhile.
func TestBudgetOthersServed(t *testing.T) {
	h, _ := newHandler(t, probe, strategies.Config{Workers: 2, Timeout: 2 * time.Second})
	srv := httptest.NewServer(h)
	defer srv.Close()
	loopDone := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/app?loop")
		if err != nil {
			loopDone <- 0
			return
		}
		resp.Body.Close()
		loopDone <- resp.StatusCode
	}()
	time.Sleep(50 * time.Millisecond) // let the loop take its state
	start := time.Now()
	for i := 0; i < 20; i++ {
		resp, err := http.Get(srv.URL + "/app?echo")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("?echo during a runaway: got %d; want 200", resp.StatusCode)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("20 requests during a runaway took %v; want them served by the free state at once", took)
	}
	if code := <-loopDone; code != http.StatusGatewayTimeout {
		t.Errorf("?loop: got %d; want 504", code)
	}
}

func TestScriptErrors(t *testing.T) {
	h, logs := newHandler(t, probe, strategies.Config{Workers: 1})
	tests := []struct {
		query string
		code  int
		log   string
	}{
		{"error", http.StatusInternalServerError, "boom from probe"},
		{"badresult", http.StatusInternalServerError, "got string, want a table"},
		{"inject", http.StatusInternalServerError, "has a line break"},
		{"recurse", http.StatusInternalServerError, "stack overflow"},
		{"noheader", http.StatusBadGateway, "none of Content-Type, Location and Status"},
	}
	for _, tt := range tests {
		w := get(h, "/app?"+tt.query)
		if w.Code != tt.code {
			t.Errorf("?%s: got %d %q; want %d", tt.query, w.Code, w.Body.String(), tt.code)
		}
		if !strings.Contains(logs.String(), tt.log) {
			t.Errorf("?%s: log %q lacks %q", tt.query, logs.String(), tt.log)
		}
		if w := get(h, "/app?echo"); w.Code != http.StatusOK {
			t.Errorf("?echo after ?%s: got %d; want 200", tt.query, w.Code)
		}
		if w.Header().Get("X-Evil") != "" {
			t.Errorf("?%s: a header was injected", tt.query)
		}
	}
	if got := h.Stats().StatesCreated; got != 1 {
		t.Errorf("states created: got %d; want 1 (a script error keeps its state)", got)
	}
}

func TestResponses(t *testing.T) {
	h, logs := newHandler(t, probe, strategies.Config{Workers: 1})
	tests := []struct {
		name   string
		method string
		target string
		header http.Header
		body   string
		code   int
		want   string
	}{
		{"status field", "GET", "/app?status", nil, "", 418, "teapot\n"},
		{"local redirect", "GET", "/app?redirect", nil, "", 200, "method=GET query=echo content_type= cookie= body=0\n"},
		{"request fields", "POST", "/app?echo&x=%20y", http.Header{"Content-Type": {"text/plain"}, "Cookie": {"a=1", "b=2"}},
			"hello", 200, "method=POST query=echo&x=%20y content_type=text/plain cookie=a=1; b=2 body=5\n"},
		{"lazy headers and env", "POST", "/app?headers", http.Header{"X-Probe": {"p1", "p2"}, "Cookie": {"a=1", "b=2"}},
			"abc", 200, "x_probe=p1, p2 method=POST cookie=a=1; b=2 content_length=3\n"},
		{"print", "GET", "/app?print", nil, "", 200, "printed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			for k, vs := range tt.header {
				r.Header[k] = vs
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.code || w.Body.String() != tt.want {
				t.Errorf("got %d %q; want %d %q", w.Code, w.Body.String(), tt.code, tt.want)
			}
			if got, want := w.Header().Get("Content-Length"), fmt.Sprint(len(tt.want)); got != want {
				t.Errorf("Content-Length: got %q; want %q", got, want)
			}
		})
	}
	if !strings.Contains(logs.String(), "embedded: print: hello\tfrom\tprobe") {
		t.Errorf("log %q lacks the printed line", logs.String())
	}
}

func TestBodyLimit(t *testing.T) {
	h, _ := newHandler(t, probe, strategies.Config{Workers: 1})
	r := httptest.NewRequest(http.MethodPost, "/app?echo", strings.NewReader("x"))
	r.ContentLength = MaxBody + 1
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over MaxBody: got %d; want 413", w.Code)
	}
}

func TestMaxRequests(t *testing.T) {
	h, _ := newHandler(t, probe, strategies.Config{Workers: 1, MaxRequests: 2})
	for i := 0; i < 5; i++ {
		if w := get(h, "/app?echo"); w.Code != http.StatusOK {
			t.Fatalf("request %d: got %d; want 200", i, w.Code)
		}
	}
	// Recycled after requests 2 and 4; the rebuild runs in the background.
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().StatesCreated < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.Stats().StatesCreated; got != 3 {
		t.Errorf("states created: got %d; want 3", got)
	}
}

func TestClosed(t *testing.T) {
	h, err := NewHandler(context.Background(), strategies.Config{Program: strategies.Program{Script: probe}, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if w := get(h, "/app?echo"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("after Close: got %d; want 503", w.Code)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestConcurrency sends requests from many goroutines through a real listener; each must get
// its own answer.
func TestConcurrency(t *testing.T) {
	b, err := Strategy{}.Start(context.Background(), strategies.Config{
		Program: strategies.Program{Script: probe}, Workers: 4, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	const goroutines, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := g*1000 + i
				x := int64(1)
				for j := 0; j < n; j++ {
					x = x * 48271 % 2147483647
				}
				want := fmt.Sprintf("result=%d\n", x)
				resp, err := http.Get(fmt.Sprintf("%s?work&n=%d", b.URL(), n))
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(body) != want {
					errs <- fmt.Errorf("n=%d: got %d %q (%v); want 200 %q", n, resp.StatusCode, body, err, want)
				}
				// And the globals of one request are never another's.
				resp, err = http.Get(b.URL() + "?global")
				if err != nil {
					errs <- err
					return
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "seen=false viaG=1 loaded=yes\n" {
					errs <- fmt.Errorf("?global: got %q", body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
