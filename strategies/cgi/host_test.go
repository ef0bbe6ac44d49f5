package cgi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cgibench/cgibench/strategies"
)

// The test binary doubles as the CGI program: TestMain runs a child behaviour when the
// CGI_TEST_CHILD variable (passed through Program.Env) names one.
func TestMain(m *testing.M) {
	if mode := os.Getenv("CGI_TEST_CHILD"); mode != "" {
		child(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(mode string) {
	out := os.Stdout
	switch mode {
	case "echoenv":
		env := os.Environ()
		sort.Strings(env)
		var body []byte
		if n, err := strconv.Atoi(os.Getenv("CONTENT_LENGTH")); err == nil {
			body = make([]byte, n)
			io.ReadFull(os.Stdin, body)
		}
		fmt.Fprintf(out, "Content-Type: text/plain\n\n")
		for _, kv := range env {
			fmt.Fprintln(out, kv)
		}
		fmt.Fprintf(out, "body=%d:%x\n", len(body), sum(body))
	case "raw":
		out.WriteString(os.Getenv("CGI_TEST_OUTPUT"))
	case "redirect":
		if os.Getenv("PATH_INFO") == "/target" {
			fmt.Fprintf(out, "Content-Type: text/plain\n\ntarget method=%s query=%s\n", os.Getenv("REQUEST_METHOD"), os.Getenv("QUERY_STRING"))
			return
		}
		fmt.Fprintf(out, "Location: /app/target?from=redirect\n\n")
	case "loop":
		fmt.Fprintf(out, "Location: /app/again\n\n")
	case "stderr":
		fmt.Fprintf(os.Stderr, "first problem\nsecond problem\n")
		fmt.Fprintf(out, "Content-Type: text/plain\n\nok\n")
	case "exit3":
		fmt.Fprintf(out, "Content-Type: text/plain\n\npartial work\n")
		os.Exit(3)
	case "linger":
		// Answer, close the output, and only then take time to exit.
		fmt.Fprintf(out, "Content-Type: text/plain\n\nanswered\n")
		out.Close()
		os.Stderr.Close()
		time.Sleep(300 * time.Millisecond)
		os.Exit(4)
	case "escape-stderr", "escape-stdout":
		// Leave a process in a session of its own holding our stderr or stdout open, so the
		// group kill cannot reach it, and exit.
		files := []*os.File{nil, nil, os.Stderr}
		if mode == "escape-stdout" {
			fmt.Fprintf(out, "Content-Type: text/plain\n\nstarted\n")
			files = []*os.File{nil, out, nil}
		}
		gc, err := os.StartProcess("/bin/sleep", []string{"sleep", "5"}, &os.ProcAttr{Files: files, Sys: &syscall.SysProcAttr{Setsid: true}})
		if err != nil {
			panic(err)
		}
		os.WriteFile(os.Getenv("CGI_TEST_PIDFILE"), []byte(strconv.Itoa(gc.Pid)), 0o644)
		if mode == "escape-stderr" {
			fmt.Fprintf(out, "Content-Type: text/plain\n\nanswered\n")
		}
	case "hang":
		// Start a grandchild in our process group, record both pids, and never answer.
		gc, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{})
		if err != nil {
			panic(err)
		}
		os.WriteFile(os.Getenv("CGI_TEST_PIDFILE"), []byte(fmt.Sprintf("%d %d", os.Getpid(), gc.Pid)), 0o644)
		time.Sleep(60 * time.Second)
	case "hangbody":
		fmt.Fprintf(out, "Content-Type: text/plain\n\nstarted\n")
		time.Sleep(60 * time.Second)
	}
}

func sum(b []byte) uint32 {
	var s uint32
	for _, c := range b {
		s = s*31 + uint32(c)
	}
	return s
}

func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// start serves the test binary in the given child mode and returns its URL and the log.
func start(t *testing.T, mode string, timeout time.Duration, env ...string) (string, *syncBuffer) {
	t.Helper()
	logBuf := &syncBuffer{}
	b, err := Strategy{}.Start(context.Background(), strategies.Config{
		Program: strategies.Program{Name: "child", Path: self(t), Env: append([]string{"CGI_TEST_CHILD=" + mode, raceNoExitSleep}, env...)},
		Timeout: timeout,
		Log:     logBuf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.URL(), logBuf
}

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

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(body)
}

func envOf(body string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestMetaVariables(t *testing.T) {
	t.Setenv("LEAKME", "host-secret")
	url, _ := start(t, "echoenv", 10*time.Second)

	req, _ := http.NewRequest("POST", url+"/extra/path?a=1&b=%20x", strings.NewReader("hello body"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Add("Cookie", "a=1")
	req.Header.Add("Cookie", "b=2")
	req.Header.Set("Proxy", "http://evil.example/")
	req.Header.Set("Authorization", "Basic c2VjcmV0")
	resp, body := do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d; want 200\n%s", resp.StatusCode, body)
	}
	env := envOf(body)
	want := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"SERVER_SOFTWARE":   "cgibench",
		"SERVER_NAME":       "127.0.0.1",
		"REQUEST_METHOD":    "POST",
		"SCRIPT_NAME":       "/app",
		"PATH_INFO":         "/extra/path",
		"QUERY_STRING":      "a=1&b=%20x",
		"REQUEST_URI":       "/app/extra/path?a=1&b=%20x",
		"CONTENT_LENGTH":    "10",
		"CONTENT_TYPE":      "application/x-www-form-urlencoded",
		"HTTP_X_MULTI":      "one, two",
		"HTTP_COOKIE":       "a=1; b=2",
		"REMOTE_ADDR":       "127.0.0.1",
		"PATH":              DefaultPath,
		"body":              fmt.Sprintf("10:%x", sum([]byte("hello body"))),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q; want %q", k, env[k], v)
		}
	}
	if p := env["SERVER_PORT"]; p == "" || p == "80" || !strings.HasSuffix(url[:strings.LastIndex(url, "/")], ":"+p) {
		t.Errorf("SERVER_PORT = %q; want the listening port of %s", p, url)
	}
	if env["REMOTE_PORT"] == "" {
		t.Errorf("REMOTE_PORT missing")
	}
	for _, k := range []string{"HTTP_PROXY", "HTTP_AUTHORIZATION", "LEAKME", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s = %q leaked to the program; want absent", k, v)
		}
	}

	// GET: QUERY_STRING present even when empty, no CONTENT_LENGTH.
	req, _ = http.NewRequest("GET", url, nil)
	_, body = do(t, req)
	env = envOf(body)
	if v, ok := env["QUERY_STRING"]; !ok || v != "" {
		t.Errorf("GET without query: QUERY_STRING = %q, present %v; want present and empty", v, ok)
	}
	if v, ok := env["CONTENT_LENGTH"]; ok {
		t.Errorf("GET: CONTENT_LENGTH = %q; want absent", v)
	}
	if v, ok := env["PATH_INFO"]; ok {
		t.Errorf("GET %s: PATH_INFO = %q; want absent", url, v)
	}
}

func TestBodies(t *testing.T) {
	url, _ := start(t, "echoenv", 10*time.Second)
	for _, size := range []int{1, prefill - 1, prefill, prefill + 1, 1 << 20} {
		body := bytes.Repeat([]byte{0, 1, 2, 0xff, 'x'}, size/5+1)[:size]
		for _, chunked := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(body)
			if chunked {
				r = io.MultiReader(r) // hides the length: net/http sends it chunked
			}
			req, _ := http.NewRequest("POST", url, r)
			_, got := do(t, req)
			env := envOf(got)
			want := fmt.Sprintf("%d:%x", size, sum(body))
			if env["body"] != want {
				t.Errorf("size %d chunked %v: program read %s; want %s", size, chunked, env["body"], want)
			}
			if env["CONTENT_LENGTH"] != strconv.Itoa(size) {
				t.Errorf("size %d chunked %v: CONTENT_LENGTH = %q", size, chunked, env["CONTENT_LENGTH"])
			}
		}
	}
}

func TestResponseHeaders(t *testing.T) {
	tests := []struct {
		name       string
		output     string
		wantStatus int
		wantHeader map[string]string
		wantBody   string
		wantLog    string
	}{
		{"lf", "Content-Type: text/plain\n\nhello", 200, map[string]string{"Content-Type": "text/plain"}, "hello", ""},
		{"crlf", "Content-Type: text/plain\r\nX-A: 1\r\n\r\nhello\r\n", 200, map[string]string{"X-A": "1"}, "hello\r\n", ""},
		{"status lower case", "status: 404 Not Found\ncontent-type: text/plain\n\nnope", 404, map[string]string{"Content-Type": "text/plain"}, "nope", ""},
		{"status upper case", "STATUS: 418 Teapot\nContent-Type: text/plain\n\n", 418, nil, "", ""},
		{"status without reason", "Status: 201\nContent-Type: text/plain\n\nmade", 201, nil, "made", ""},
		{"client redirect", "Location: http://127.0.0.1/elsewhere\n\n", 302, map[string]string{"Location": "http://127.0.0.1/elsewhere"}, "", ""},
		{"client redirect with document", "Location: http://127.0.0.1/x\nStatus: 301 Moved\nContent-Type: text/html\n\n<a>x</a>", 301, map[string]string{"Location": "http://127.0.0.1/x"}, "<a>x</a>", ""},
		{"set-cookie kept", "Content-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\n\n", 200, map[string]string{"Set-Cookie": "a=1"}, "", ""},
		{"no content type", "Status: 202 Accepted\n\nqueued", 202, map[string]string{"Content-Type": ""}, "queued", ""},
		{"bogus status", "Status: OK\nContent-Type: text/plain\n\nx", 502, nil, "", "3-digit code"},
		{"status out of range", "Status: 999 Huh\nContent-Type: text/plain\n\nx", 502, nil, "", "200 to 599"},
		{"colonless line", "Content-Type: text/plain\ngarbage here\n\nx", 502, nil, "", "is not a header field"},
		{"no header block", "", 502, nil, "", "no output"},
		{"unterminated header block", "Content-Type: text/plain\n", 502, nil, "", "before the blank line"},
		{"body before headers", "hello world\n\n", 502, nil, "", "is not a header field"},
		{"no cgi field", "X-Only: 1\n\nbody", 502, nil, "", "none of Content-Type"},
		{"hop-by-hop dropped", "Content-Type: text/plain\nConnection: close\nTransfer-Encoding: gzip\n\nok", 200, map[string]string{"Transfer-Encoding": ""}, "ok", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, logBuf := start(t, "raw", 10*time.Second, "CGI_TEST_OUTPUT="+tt.output)
			req, _ := http.NewRequest("GET", url, nil)
			resp, body := do(t, req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d; want %d (body %q, log %s)", resp.StatusCode, tt.wantStatus, body, logBuf)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q; want %q", k, got, v)
				}
			}
			if tt.wantStatus != 502 && body != tt.wantBody {
				t.Errorf("body = %q; want %q", body, tt.wantBody)
			}
			if tt.wantLog != "" {
				if !strings.Contains(logBuf.String(), tt.wantLog) || !strings.Contains(logBuf.String(), self(t)) {
					t.Errorf("log = %q; want the program path and %q", logBuf, tt.wantLog)
				}
			}
		})
	}
}

func TestLocalRedirect(t *testing.T) {
	url, _ := start(t, "redirect", 10*time.Second)
	req, _ := http.NewRequest("POST", url, strings.NewReader("ignored"))
	resp, body := do(t, req)
	if resp.StatusCode != 200 || body != "target method=GET query=from=redirect\n" {
		t.Errorf("got %d %q; want 200 from the redirect target, re-served as GET", resp.StatusCode, body)
	}

	url, logBuf := start(t, "loop", 10*time.Second)
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", logBuf)
		}
	}()
	req, _ = http.NewRequest("GET", url, nil)
	resp, _ = do(t, req)
	if resp.StatusCode != 500 || !strings.Contains(logBuf.String(), "redirect loop") {
		t.Errorf("redirect loop: status %d, log %q; want 500 and a logged loop", resp.StatusCode, logBuf)
	}
}

func TestStderrAndExitStatus(t *testing.T) {
	url, logBuf := start(t, "stderr", 10*time.Second)
	req, _ := http.NewRequest("GET", url, nil)
	if resp, body := do(t, req); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("got %d %q; want 200 ok", resp.StatusCode, body)
	}
	for _, want := range []string{"stderr: first problem", "stderr: second problem"} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("log %q lacks %q", logBuf, want)
		}
	}

	url, logBuf = start(t, "exit3", 10*time.Second)
	req, _ = http.NewRequest("GET", url, nil)
	if resp, body := do(t, req); resp.StatusCode != 200 || body != "partial work\n" {
		t.Errorf("got %d %q; want the output served", resp.StatusCode, body)
	}
	if !strings.Contains(logBuf.String(), "exit status 3") {
		t.Errorf("log %q lacks the exit status", logBuf)
	}
}

// TestNoDescriptorLeak checks that the host closes every pipe it makes, whether the program
// runs, reads a body, fails, or cannot be started at all.
func TestNoDescriptorLeak(t *testing.T) {
	dir := t.TempDir()
	prog := dir + "/prog"
	exe, err := os.ReadFile(self(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	logBuf := &syncBuffer{}
	b, err := Strategy{}.Start(context.Background(), strategies.Config{
		Program: strategies.Program{Name: "child", Path: prog, Env: []string{"CGI_TEST_CHILD=exit3", raceNoExitSleep}},
		Timeout: 10 * time.Second,
		Log:     logBuf,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client := &http.Client{Timeout: 20 * time.Second}
	round := func(wantStatus int) {
		t.Helper()
		for i := range 10 {
			var body io.Reader
			method := "GET"
			if i%2 == 1 {
				method, body = "POST", strings.NewReader(strings.Repeat("x", 100<<10))
			}
			req, _ := http.NewRequest(method, b.URL(), body)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != wantStatus {
				t.Fatalf("%s: status %d; want %d", method, resp.StatusCode, wantStatus)
			}
		}
		client.CloseIdleConnections()
	}
	fds := func() int {
		t.Helper()
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("counting descriptors: %v", err)
		}
		return len(ents)
	}
	round(200) // warm: the server's listener, the poller, /dev/null
	time.Sleep(50 * time.Millisecond)
	before := fds()
	round(200)
	if err := os.Chmod(prog, 0o644); err != nil { // now the exec fails, after the pipes are made
		t.Fatal(err)
	}
	round(http.StatusInternalServerError)
	time.Sleep(50 * time.Millisecond)
	if after := fds(); after > before {
		t.Errorf("%d descriptors open after 20 more requests, %d before; want no more", after, before)
	}
	if !strings.Contains(logBuf.String(), "starting: permission denied") {
		t.Errorf("log %q lacks the failed start", logBuf)
	}
}

// TestBodiesSmallPipe sends bodies through a stdin pipe smaller than what the host writes
// before the program starts: the host must not wait for room then (nothing would make it), and
// must send the rest once the program runs.
func TestBodiesSmallPipe(t *testing.T) {
	testHookStdinPipeSize = 4096
	defer func() { testHookStdinPipeSize = 0 }()
	url, _ := start(t, "echoenv", 10*time.Second)
	for _, size := range []int{4095, 4096, 4097, prefill, prefill + 1, 1 << 20} {
		body := bytes.Repeat([]byte{7, 0, 'y', 0xfe}, size/4+1)[:size]
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		resp, got := do(t, req)
		if want := fmt.Sprintf("%d:%x", size, sum(body)); resp.StatusCode != 200 || envOf(got)["body"] != want {
			t.Errorf("size %d: status %d, program read %s; want 200 and %s", size, resp.StatusCode, envOf(got)["body"], want)
		}
	}
}

// TestTimeoutBoundsEscapedOutput: a process the program leaves behind in a session of its own,
// out of reach of the group kill, holds the program's stderr or stdout open. The host stops
// waiting for it at the timeout.
func TestTimeoutBoundsEscapedOutput(t *testing.T) {
	for _, mode := range []string{"escape-stderr", "escape-stdout"} {
		t.Run(mode, func(t *testing.T) {
			pidfile := t.TempDir() + "/pid"
			url, _ := start(t, mode, 500*time.Millisecond, "CGI_TEST_PIDFILE="+pidfile)
			t.Cleanup(func() {
				if b, err := os.ReadFile(pidfile); err == nil {
					if pid, err := strconv.Atoi(string(b)); err == nil {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			})
			t0 := time.Now()
			resp, err := (&http.Client{Timeout: 20 * time.Second}).Get(url)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if d := time.Since(t0); d > 3*time.Second {
				t.Errorf("answered after %v; want about the 500ms timeout, not the 5s the escaped process lives", d)
			}
			switch mode {
			case "escape-stderr":
				if err != nil || resp.StatusCode != 200 || string(body) != "answered\n" {
					t.Errorf("got %v, %q; want 200 answered", err, body)
				}
			case "escape-stdout":
				// The body never ended: the client must see it cut, not complete.
				if err == nil {
					t.Errorf("got a complete response %q; want it cut short", body)
				}
			}
		})
	}
}

// TestLingerAfterOutput covers a program that closes its output and exits later: the host
// waits for it (the blocking path of reap) and logs how it ended.
func TestLingerAfterOutput(t *testing.T) {
	url, logBuf := start(t, "linger", 10*time.Second)
	req, _ := http.NewRequest("GET", url, nil)
	t0 := time.Now()
	if resp, body := do(t, req); resp.StatusCode != 200 || body != "answered\n" {
		t.Errorf("got %d %q; want 200 answered", resp.StatusCode, body)
	}
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("answered after %v; want the host to wait the 300ms the program lingers", d)
	}
	if !strings.Contains(logBuf.String(), "exited after responding: exit status 4") {
		t.Errorf("log %q lacks the exit status", logBuf)
	}
}

func TestExitText(t *testing.T) {
	for _, tt := range []struct {
		ws   syscall.WaitStatus
		err  error
		want string
	}{
		{0, nil, "exit status 0"},
		{3 << 8, nil, "exit status 3"},
		{syscall.WaitStatus(syscall.SIGKILL), nil, "signal: killed"},
		{syscall.WaitStatus(syscall.SIGSEGV) | 0x80, nil, "signal: segmentation fault (core dumped)"},
		{0, syscall.ECHILD, "no child processes"},
	} {
		if got := exitText(tt.ws, tt.err); got != tt.want {
			t.Errorf("exitText(%#x, %v) = %q; want %q", uint32(tt.ws), tt.err, got, tt.want)
		}
	}
}

func alive(pid int) bool {
	// Signal 0 tests existence; a zombie still exists, so also check /proc state.
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	pidfile := t.TempDir() + "/pids"
	url, logBuf := start(t, "hang", 500*time.Millisecond, "CGI_TEST_PIDFILE="+pidfile)
	req, _ := http.NewRequest("GET", url, nil)
	t0 := time.Now()
	resp, _ := do(t, req)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status = %d; want 504", resp.StatusCode)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("answered after %v; want about the 500ms timeout", d)
	}
	data, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatalf("the program did not record its pids: %v", err)
	}
	var pid, grandchild int
	fmt.Sscanf(string(data), "%d %d", &pid, &grandchild)
	deadline := time.Now().Add(5 * time.Second)
	for (alive(pid) || alive(grandchild)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(pid) || alive(grandchild) {
		t.Errorf("after the timeout: program %d alive %v, grandchild %d alive %v; want both killed", pid, alive(pid), grandchild, alive(grandchild))
	}
	if !strings.Contains(logBuf.String(), "timed out") {
		t.Errorf("log %q lacks the timeout", logBuf)
	}
}

func TestTimeoutMidBodyCutsConnection(t *testing.T) {
	url, _ := start(t, "hangbody", 300*time.Millisecond)
	// The header and the start of the body may still sit in the server's buffer when the
	// connection is cut, so the client sees either no response or a truncated one: never a
	// complete-looking short body.
	resp, err := http.Get(url)
	if err != nil {
		return // no response at all: the client knows it failed
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading a body cut by the timeout: got %q, err = %v; want io.ErrUnexpectedEOF", body, err)
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	noexec := dir + "/script"
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	for _, tt := range []struct{ path, want string }{
		{"", "--program"},
		{dir + "/missing", "no such file"},
		{dir, "is a directory"},
		{noexec, "chmod +x"},
	} {
		_, err := Strategy{}.Start(context.Background(), strategies.Config{Program: strategies.Program{Path: tt.path}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start(%q) error = %v; want one mentioning %q", tt.path, err, tt.want)
		}
	}
}

// raceNoExitSleep stops a -race child from sleeping a second at exit.
const raceNoExitSleep = "GORACE=atexit_sleep_ms=0"
