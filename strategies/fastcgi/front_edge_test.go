package fastcgi

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cgibench/cgibench/strategies"
)

// ---- helpers for the event-loop review tests ----

// loopFront starts the strategy with the event-loop front end and returns it and the
// host:port it listens on.
func loopFront(t *testing.T, cfg strategies.Config) (strategies.Backend, string, *syncBuffer) {
	t.Helper()
	b, lb := startFront(t, FrontEventLoop, cfg)
	addr := strings.TrimSuffix(strings.TrimPrefix(b.URL(), "http://"), "/app")
	return b, addr, lb
}

// rawDial opens a connection to the front end that gives up after d.
func rawDial(t *testing.T, addr string, d time.Duration) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(d))
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// readResp reads one response to a request of method and all of its body.
func readResp(br *bufio.Reader, method string) (*http.Response, string, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body), err
}

// ---- HTTP parsing ----

// A request head of 200 KiB is under net/http's 1 MiB limit (maxRequestHead): it must be
// served, as the net/http front end serves it.
func TestFrontEdgeLargeHead(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 5*time.Second)
	big := strings.Repeat("x", 200<<10)
	fmt.Fprintf(c, "GET /app?big HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n", big)
	resp, body, err := readResp(br, "GET")
	if err != nil {
		t.Fatalf("a 200 KiB head got no answer: %v", err)
	}
	if resp.StatusCode != 200 || field(body, "query") != "big" {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
}

// A head over 1 MiB is answered 431, promptly.
func TestFrontEdgeHugeHead431(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 5*time.Second)
	go func() {
		fmt.Fprintf(c, "GET /app HTTP/1.1\r\nHost: a\r\n")
		line := "X-Big: " + strings.Repeat("y", 1000) + "\r\n"
		for range 2 << 10 { // 2 MiB of fields, never ending the head
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	}()
	resp, _, err := readResp(br, "GET")
	if err != nil {
		t.Fatalf("no 431 for a 2 MiB head: %v", err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// An HTTP/1.1 request without Host is a 400 (RFC 9112 §3.2), as net/http answers it.
func TestFrontEdgeMissingHost400(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 5 * time.Second})
	for _, req := range []string{
		"GET /app HTTP/1.1\r\n\r\n",
		"GET /app HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /app HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n",
	} {
		c, br := rawDial(t, addr, 5*time.Second)
		io.WriteString(c, req)
		resp, _, err := readResp(br, "GET")
		if err != nil {
			t.Errorf("%q: %v", req, err)
			continue
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", req, resp.StatusCode)
		}
	}
}

// A HEAD request whose program answers with a local redirect gets the target's head, and no
// body: the connection must stay in step for the next request.
func TestFrontEdgeHeadLocalRedirect(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: libfcgiResponder(t), Workers: 1, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 5*time.Second)
	io.WriteString(c, "HEAD /app?redirect HTTP/1.1\r\nHost: a\r\n\r\nGET /app?second HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, _, err := readResp(br, "HEAD")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp, body, err := readResp(br, "GET")
	if err != nil {
		t.Fatalf("the GET after the HEAD: %v", err)
	}
	if resp.StatusCode != 200 || field(body, "query") != "second" {
		t.Errorf("the GET after the HEAD got %d %q: the HEAD's answer carried a body", resp.StatusCode, body)
	}
}

// Pipelined requests, with bodies of both framings, are answered in order.
func TestFrontEdgePipelined(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 2, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 10*time.Second)
	var req bytes.Buffer
	const n = 20
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&req, "GET /app?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		case 1:
			fmt.Fprintf(&req, "POST /app?i=%d HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", i)
		case 2:
			fmt.Fprintf(&req, "POST /app?i=%d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\nTrailer: v\r\n\r\n", i)
		case 3:
			fmt.Fprintf(&req, "HEAD /app?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		}
	}
	c.Write(req.Bytes())
	for i := range n {
		method := "GET"
		if i%4 == 3 {
			method = "HEAD"
		}
		resp, body, err := readResp(br, method)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if resp.StatusCode != 200 {
			t.Errorf("response %d: %d", i, resp.StatusCode)
		}
		if method == "HEAD" {
			if body != "" {
				t.Errorf("HEAD %d has a body", i)
			}
			continue
		}
		if field(body, "query") != fmt.Sprintf("i=%d", i) {
			t.Errorf("response %d out of order: %q", i, body)
		}
		if i%4 != 0 && field(body, "body") != fmt.Sprintf("5:%08x", sum([]byte("hello"))) {
			t.Errorf("response %d: body %q", i, field(body, "body"))
		}
	}
}

// Expect: 100-continue gets its interim answer before the body is sent.
func TestFrontEdgeExpectContinue(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 5*time.Second)
	io.WriteString(c, "POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("no 100 Continue: %q %v", line, err)
	}
	if l2, _ := br.ReadString('\n'); l2 != "\r\n" {
		t.Fatalf("100 Continue has fields: %q", l2)
	}
	io.WriteString(c, "hello")
	resp, body, err := readResp(br, "POST")
	if err != nil || resp.StatusCode != 200 || field(body, "body") != fmt.Sprintf("5:%08x", sum([]byte("hello"))) {
		t.Fatalf("%v %q %v", resp, body, err)
	}
	// An expectation it does not know is a 417.
	c2, br2 := rawDial(t, addr, 5*time.Second)
	io.WriteString(c2, "POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: something\r\n\r\nhello")
	if resp, _, err := readResp(br2, "POST"); err != nil || resp.StatusCode != http.StatusExpectationFailed {
		t.Errorf("unknown expectation: %v %v", resp, err)
	}
}

// HTTP/1.0: without keep-alive the connection closes after the answer; with it, it is kept.
func TestFrontEdgeHTTP10(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 5*time.Second)
	io.WriteString(c, "GET /app?a HTTP/1.0\r\n\r\n")
	resp, body, err := readResp(br, "GET")
	if err != nil || resp.StatusCode != 200 || field(body, "query") != "a" || !resp.Close {
		t.Fatalf("1.0: %v %q %v", resp, body, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("1.0 without keep-alive: connection not closed: %v", err)
	}
	c, br = rawDial(t, addr, 5*time.Second)
	for i := range 3 {
		fmt.Fprintf(c, "GET /app?k=%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", i)
		resp, body, err := readResp(br, "GET")
		if err != nil || resp.StatusCode != 200 || field(body, "query") != fmt.Sprintf("k=%d", i) || resp.Close {
			t.Fatalf("1.0 keep-alive %d: %v %q %v", i, resp, body, err)
		}
	}
	// Connection: close on 1.1.
	c, br = rawDial(t, addr, 5*time.Second)
	io.WriteString(c, "GET /app HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /app HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _, err := readResp(br, "GET"); err != nil || !resp.Close {
		t.Fatalf("Connection: close: %v %v", resp, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("Connection: close: connection not closed: %v", err)
	}
}

// ---- the chunked decoder against net/http's ----

// decodeChunkedRef decodes a whole chunked body as net/http's server does: the chunks with
// httputil.NewChunkedReader, then the trailer section as textproto reads it.
func decodeChunkedRef(p []byte) (body []byte, used int, ok bool) {
	br := bufio.NewReader(bytes.NewReader(p))
	body, err := io.ReadAll(httputil.NewChunkedReader(br))
	if err != nil {
		return nil, 0, false
	}
	// The trailer: lines up to an empty one (net/http's readTrailer).
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, 0, false
		}
		if string(line) == "\r\n" || string(line) == "\n" {
			break
		}
	}
	return body, len(p) - br.Buffered(), true
}

func FuzzFrontEdgeDechunker(f *testing.F) {
	for _, s := range []string{
		"0\r\n\r\n",
		"5\r\nhello\r\n0\r\n\r\n",
		"3;ext=1\r\nabc\r\n0\r\nX-T: v\r\n\r\n",
		"5\nhello\n0\n\n",
		"5 \r\nhello\r\n0\r\n\r\n",
		"5\r\nhello\n0\r\n\r\n",
		"a\r\n0123456789\r\n0\r\n\r\nextra",
		"+5\r\nhello\r\n0\r\n\r\n",
		"0x5\r\nhello\r\n0\r\n\r\n",
		"5\r\nhelloXX0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		want, wantUsed, wantOK := decodeChunkedRef(p)
		var d dechunker
		body, used, done, err := d.feed(p, nil, 1<<20)
		gotOK := err == nil && done
		if gotOK != wantOK {
			t.Fatalf("%q: dechunker ok=%v (done %v, err %v), net/http ok=%v", p, gotOK, done, err, wantOK)
		}
		if gotOK && (!bytes.Equal(body, want) || used != wantUsed) {
			t.Fatalf("%q: dechunker %q used %d, net/http %q used %d", p, body, used, want, wantUsed)
		}
		// Fed a byte at a time, it decides the same.
		var d2 dechunker
		var body2 []byte
		var in []byte
		done2 := false
		var err2 error
		for i := 0; i < len(p) && !done2 && err2 == nil; i++ {
			in = append(in, p[i])
			var u int
			body2, u, done2, err2 = d2.feed(in, body2, 1<<20)
			in = in[u:]
		}
		if (err2 == nil && done2) != gotOK || gotOK && !bytes.Equal(body2, body) {
			t.Fatalf("%q: byte at a time: %q done %v err %v; at once %q done %v err %v", p, body2, done2, err2, body, done, err)
		}
	})
}

// ---- a raw FastCGI worker, for behaviours net/http/fcgi cannot show ----

// With FASTCGI_TEST_RAW set (see TestMain), the test binary is a hand-made FastCGI responder: it ignores
// FCGI_KEEP_CONN and closes each connection after its answer (FASTCGI_TEST_RAW=close), or
// keeps it (=keep). What it answers depends on QUERY_STRING (see rawAnswer).
func rawWorker(t testing.TB, mode string) strategies.Program {
	return strategies.Program{Name: "raw-test-worker", Path: selfPath(t), Env: []string{"FASTCGI_TEST_RAW=" + mode, raceNoExitSleep}}
}

// rawRecycler is rawWorker serving one connection at a time and exiting with status 0 after
// max answers, delay after the last, as php-cgi does after PHP_FCGI_MAX_REQUESTS (its shutdown
// takes some milliseconds).
func rawRecycler(t testing.TB, mode string, max int, delay time.Duration) strategies.Program {
	p := rawWorker(t, mode)
	p.Env = append(p.Env, "FASTCGI_TEST_RAW_MAX="+strconv.Itoa(max), "FASTCGI_TEST_RAW_EXIT_MS="+strconv.Itoa(int(delay/time.Millisecond)))
	return p
}

func serveRaw(mode string) {
	ln, err := net.FileListener(os.NewFile(0, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "raw worker:", err)
		os.Exit(1)
	}
	max, _ := strconv.Atoi(os.Getenv("FASTCGI_TEST_RAW_MAX"))
	delay, _ := strconv.Atoi(os.Getenv("FASTCGI_TEST_RAW_EXIT_MS"))
	served := 0
	answered := func() {
		if served++; served == max {
			time.Sleep(time.Duration(delay) * time.Millisecond)
			os.Exit(0)
		}
	}
	for n := 0; ; n++ {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		if max > 0 {
			rawServeConn(c, mode, n, answered)
		} else {
			go rawServeConn(c, mode, n, func() {})
		}
	}
}

// rawServeConn serves the connection c, calling answered after each answer (and after the
// close, in mode close).
func rawServeConn(c net.Conn, mode string, connNo int, answered func()) {
	defer c.Close()
	br := bufio.NewReader(c)
	var buf, params, stdin []byte
	for {
		h, content, err := readRecord(br, buf)
		if err != nil {
			return
		}
		switch {
		case h.ID == nullRequestID:
			out := appendRecord(nil, typeUnknownType, 0, []byte{h.Type, 0, 0, 0, 0, 0, 0, 0})
			c.Write(out)
		case h.Type == typeBeginRequest:
			params, stdin = params[:0], stdin[:0]
		case h.Type == typeParams:
			params = append(params, content...)
		case h.Type == typeStdin && len(content) > 0:
			stdin = append(stdin, content...)
		case h.Type == typeStdin:
			env, _ := parsePairs(params)
			rawAnswer(c, env, stdin, connNo)
			if mode == "close" {
				c.Close()
				answered()
				return
			}
			answered()
		}
	}
}

func rawAnswer(c net.Conn, env map[string]string, stdin []byte, connNo int) {
	q := env["QUERY_STRING"]
	var out []byte
	stdout := func(p []byte) {
		for len(p) > 0 {
			n := min(len(p), maxContentLen)
			out = appendRecord(out, typeStdout, requestID, p[:n])
			p = p[n:]
		}
	}
	switch {
	case env["PATH_INFO"] == "/target":
		stdout([]byte("Content-Type: text/plain\r\n\r\ntarget method=" + env["REQUEST_METHOD"] + "\n"))
	case q == "redirectbig":
		// A local redirect with a body past streamAfter, which must be dropped.
		stdout([]byte("Location: /app/target\r\n\r\n"))
		stdout(bytes.Repeat([]byte("z"), 2<<20))
	case q == "hdrbig":
		// A header block that never ends.
		stdout(bytes.Repeat([]byte("X-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"), (2<<20)/36))
	case q == "loop":
		stdout([]byte("Location: /app?loop\r\n\r\n"))
	case q == "overloaded":
		c.Write(appendRecord(nil, typeEndRequest, requestID, []byte{0, 0, 0, 0, statusOverloaded, 0, 0, 0}))
		return
	case q == "hang":
		time.Sleep(60 * time.Second)
		return
	default:
		stdout([]byte(fmt.Sprintf("Content-Type: text/plain\r\n\r\npid=%d\nconn=%d\nquery=%s\nmethod=%s\nbody=%d:%08x\n",
			os.Getpid(), connNo, q, env["REQUEST_METHOD"], len(stdin), sum(stdin))))
	}
	out = appendRecord(out, typeStdout, requestID, nil)
	out = appendRecord(out, typeEndRequest, requestID, []byte{0, 0, 0, 0, statusRequestComplete, 0, 0, 0})
	c.Write(out)
}

// ---- worker lifecycle ----

// poolOf returns the strategy's pool.
func poolOf(b strategies.Backend) *Pool { return b.(*closeOnce).Backend.(*PoolBackend).pool }

// A worker that ignores FCGI_KEEP_CONN and hangs up after each answer: the worker is never
// replaced, and every request, GET or POST, pipelined, is served but for at most one POST: the
// first sent on a kept connection the worker is hanging up, before the loop has learnt that it
// does (a POST cannot be sent twice). (The net/http front end never learns it.)
func TestFrontEdgeWorkerClosesConn(t *testing.T) {
	b, _ := startFront(t, FrontEventLoop, strategies.Config{Program: rawWorker(t, "close"), Workers: 1, Timeout: 5 * time.Second})
	addr := strings.TrimSuffix(strings.TrimPrefix(b.URL(), "http://"), "/app")
	c, br := rawDial(t, addr, 20*time.Second)
	var req bytes.Buffer
	const n = 60
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&req, "GET /app?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		} else {
			fmt.Fprintf(&req, "POST /app?i=%d HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", i)
		}
	}
	c.Write(req.Bytes())
	bad := 0
	for i := range n {
		resp, body, err := readResp(br, "GET")
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if i%2 == 1 && resp.StatusCode == http.StatusBadGateway && bad == 0 {
			bad++
			continue
		}
		if resp.StatusCode != 200 || field(body, "query") != fmt.Sprintf("i=%d", i) {
			t.Errorf("response %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if r := poolOf(b).Restarts(); r != 0 {
		t.Errorf("Restarts() = %d: the worker was replaced", r)
	}
}

// Config.MaxRequests recycles workers through the loop; no request fails meanwhile.
func TestFrontEdgeMaxRequests(t *testing.T) {
	b, _, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 2, MaxRequests: 3, Timeout: 20 * time.Second})
	pool := poolOf(b)
	client := &http.Client{Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	pids := map[string]int{}
	errs := make(chan error, 4)
	bodies := make(chan string, 40)
	for g := range 4 {
		go func() {
			for i := range 6 {
				resp, err := client.Get(fmt.Sprintf("%s?g=%d&i=%d", b.URL(), g, i))
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d %q", resp.StatusCode, body)
					return
				}
				bodies <- string(body)
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(bodies)
	for body := range bodies {
		pids[field(body, "pid")]++
	}
	for pid, n := range pids {
		if n > 3 {
			t.Errorf("pid %s served %d requests, MaxRequests 3", pid, n)
		}
	}
	waitFor(t, 10*time.Second, "recycles", func() bool { return pool.Recycles() >= 6 })
	if pool.Restarts() != 0 {
		t.Errorf("Restarts() = %d", pool.Restarts())
	}
}

// A client that goes away mid-request frees its worker (replaced); the next request is served.
func TestFrontEdgeClientGone(t *testing.T) {
	b, addr, lb := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 30 * time.Second})
	pool := poolOf(b)
	c, _ := rawDial(t, addr, 5*time.Second)
	fmt.Fprintf(c, "GET /app/hang?pidfile=%s HTTP/1.1\r\nHost: a\r\n\r\n", t.TempDir()+"/pid")
	time.Sleep(300 * time.Millisecond)
	c.Close()
	waitLog(t, lb, "client gone")
	waitFor(t, 20*time.Second, "no replacement", func() bool { return pool.Restarts() == 1 && len(pool.PIDs()) == 1 })
	c2, br2 := rawDial(t, addr, 20*time.Second)
	io.WriteString(c2, "GET /app?after HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body, err := readResp(br2, "GET"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after: %v %q %v", resp, body, err)
	}
}

// A client that does not read a 10 MB answer is cut off at the timeout and its worker freed.
func TestFrontEdgeStalledReader(t *testing.T) {
	b, addr, _ := loopFront(t, strategies.Config{Program: libfcgiResponder(t), Workers: 1, Timeout: 2 * time.Second})
	pool := poolOf(b)
	c, _ := rawDial(t, addr, 30*time.Second)
	io.WriteString(c, "GET /app?big=10000000 HTTP/1.1\r\nHost: a\r\n\r\n")
	start := time.Now()
	// The answer's start is sent; then the client reads nothing.
	time.Sleep(4 * time.Second)
	n, err := io.Copy(io.Discard, c)
	if n >= 10000000 {
		t.Fatalf("the stalled client got the whole answer")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the stalled client was not cut off: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("cut off after %v", d)
	}
	waitFor(t, 20*time.Second, "no replacement", func() bool { return len(pool.PIDs()) == 1 })
	c2, br2 := rawDial(t, addr, 20*time.Second)
	io.WriteString(c2, "GET /app?after HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body, err := readResp(br2, "GET"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after: %v %q %v", resp, body, err)
	}
}

// A client that stalls sending its body is cut off (2×Timeout), holding no worker meanwhile.
func TestFrontEdgeStalledBody(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: time.Second})
	c, br := rawDial(t, addr, 10*time.Second)
	io.WriteString(c, "POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
	// The one worker is free for another client.
	c2, br2 := rawDial(t, addr, 5*time.Second)
	io.WriteString(c2, "GET /app?other HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _, err := readResp(br2, "GET"); err != nil || resp.StatusCode != 200 {
		t.Errorf("other client: %v %v", resp, err)
	}
	start := time.Now()
	_, err := br.ReadByte()
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("stalled body: %v after %v", err, time.Since(start))
	}
}

// A local redirect whose (dropped) body is past streamAfter is served as the target.
func TestFrontEdgeLocalRedirectBigBody(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: rawWorker(t, "keep"), Workers: 1, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 10*time.Second)
	io.WriteString(c, "GET /app?redirectbig HTTP/1.1\r\nHost: a\r\n\r\nGET /app?next HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body, err := readResp(br, "GET")
	if err != nil || resp.StatusCode != 200 || body != "target method=GET\n" {
		t.Fatalf("%v %q %v", resp, body, err)
	}
	resp, body, err = readResp(br, "GET")
	if err != nil || resp.StatusCode != 200 || field(body, "query") != "next" {
		t.Fatalf("next: %v %q %v", resp, body, err)
	}
}

// A header block that never ends (2 MiB) is a 502, and the next request is served.
func TestFrontEdgeMalformedBigHeader(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: rawWorker(t, "keep"), Workers: 1, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 20*time.Second)
	io.WriteString(c, "GET /app?hdrbig HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, _, err := readResp(br, "GET")
	if err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("%v %v", resp, err)
	}
	c2, br2 := rawDial(t, addr, 20*time.Second)
	io.WriteString(c2, "GET /app?next HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body, err := readResp(br2, "GET"); err != nil || resp.StatusCode != 200 {
		t.Errorf("next: %v %q %v", resp, body, err)
	}
}

// A HEAD request that fails (504 here) gets no body: the connection stays in step.
func TestFrontEdgeHeadFailureNoBody(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 2, Timeout: time.Second})
	c, br := rawDial(t, addr, 20*time.Second)
	fmt.Fprintf(c, "HEAD /app/hang?pidfile=%s HTTP/1.1\r\nHost: a\r\n\r\nGET /app?second HTTP/1.1\r\nHost: a\r\n\r\n", t.TempDir()+"/pid")
	resp, _, err := readResp(br, "HEAD")
	if err != nil || resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp, body, err := readResp(br, "GET")
	if err != nil || resp.StatusCode != 200 || field(body, "query") != "second" {
		t.Errorf("the GET after the HEAD: %v %q %v", resp, body, err)
	}
}

// Close lets a request in flight finish, then returns.
func TestFrontEdgeCloseInFlight(t *testing.T) {
	b, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 10 * time.Second})
	c, br := rawDial(t, addr, 15*time.Second)
	io.WriteString(c, "GET /app/sleep?ms=1000 HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	resp, body, err := readResp(br, "GET")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("in flight: %v %q %v", resp, body, err)
	}
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close hangs")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("still accepting after Close")
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}

// Many requests, good and bad, leave no descriptor behind; nor does Close.
func TestFrontEdgeNoFDLeak(t *testing.T) {
	before := countFDs(t)
	b, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 2, MaxRequests: 7, Timeout: 2 * time.Second})
	pool := poolOf(b)
	do := func(req string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		io.Copy(io.Discard, c)
	}
	for i := range 60 {
		switch i % 5 {
		case 0:
			do("GET /app HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		case 1:
			do("POST /app HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
		case 2:
			do("GARBAGE\r\n\r\n")
		case 3:
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "GET /app/sleep?ms=300 HTTP/1.1\r\nHost: a\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
			c.Close()
		case 4:
			do("GET /app/status HTTP/1.0\r\n\r\n")
		}
	}
	waitFor(t, 30*time.Second, "workers back", func() bool { return len(pool.PIDs()) == 2 })
	time.Sleep(500 * time.Millisecond)
	mid := countFDs(t)
	b.Close()
	after := countFDs(t)
	t.Logf("fds: before %d, while serving %d, after Close %d", before, mid, after)
	if after > before {
		t.Errorf("%d descriptors leaked after Close", after-before)
	}
}

// cpuTime is the process's user and system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A client that has sent 100 KiB of an unfinished head must not make the loop spin.
func TestFrontEdgePartialHeadNoSpin(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 5 * time.Second})
	c, _ := rawDial(t, addr, 5*time.Second)
	fmt.Fprintf(c, "GET /app HTTP/1.1\r\nHost: a\r\nX-Big: %s", strings.Repeat("x", 100<<10))
	time.Sleep(200 * time.Millisecond)
	start, cpu := time.Now(), cpuTime()
	time.Sleep(time.Second)
	used, wall := cpuTime()-cpu, time.Since(start)
	t.Logf("CPU %v in %v of waiting", used, wall)
	if used > wall/2 {
		t.Errorf("the loop spins: %v of CPU in %v while a head is incomplete", used, wall)
	}
}

// A Content-Length over the limit is refused with 413, and the client can read it even
// though it has started sending the body.
func TestFrontEdgeBodyTooLarge413(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 10*time.Second)
	go func() {
		fmt.Fprintf(c, "POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 100<<20)
		chunk := make([]byte, 64<<10)
		for range 1600 {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	resp, _, err := readResp(br, "POST")
	if err != nil {
		t.Fatalf("no 413: %v", err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
	// A chunked body over the limit too.
	c2, br2 := rawDial(t, addr, 20*time.Second)
	go func() {
		io.WriteString(c2, "POST /app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
		chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 1<<20, bytes.Repeat([]byte("q"), 1<<20)))
		for range 100 {
			if _, err := c2.Write(chunk); err != nil {
				return
			}
		}
	}()
	resp, _, err = readResp(br2, "POST")
	if err != nil {
		t.Fatalf("chunked: no 413: %v", err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked: status %d, want 413", resp.StatusCode)
	}
}

// A worker killed while idle, holding a kept connection: the next GET and POST are served.
func TestFrontEdgeKilledIdle(t *testing.T) {
	b, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 20 * time.Second})
	pool := poolOf(b)
	c, br := rawDial(t, addr, 20*time.Second)
	io.WriteString(c, "GET /app?first HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body, err := readResp(br, "GET")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first: %v %v", resp, err)
	}
	pid := field(body, "pid")
	var p int
	fmt.Sscan(pid, &p)
	syscall.Kill(p, syscall.SIGKILL)
	// Wait until the pool has reaped it: before that, its last threads may still hold the
	// listening socket, and a request sent then is lost (502) under either front end.
	waitFor(t, 10*time.Second, "the pool did not notice", func() bool { return pool.Restarts() == 1 })
	io.WriteString(c, "GET /app?second HTTP/1.1\r\nHost: a\r\n\r\nPOST /app?third HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
	for _, want := range []string{"second", "third"} {
		resp, body, err := readResp(br, "GET")
		if err != nil || resp.StatusCode != 200 || field(body, "query") != want {
			t.Errorf("%s: %v %q %v", want, resp, body, err)
		}
	}
	if pool.Restarts() != 1 {
		t.Errorf("Restarts() = %d, want 1", pool.Restarts())
	}
}

// A redirect loop is a 500; FCGI_OVERLOADED a 503; the connection goes on.
func TestFrontEdgeRedirectLoopAndOverloaded(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: rawWorker(t, "keep"), Workers: 1, Timeout: 5 * time.Second})
	c, br := rawDial(t, addr, 20*time.Second)
	io.WriteString(c, "GET /app?loop HTTP/1.1\r\nHost: a\r\n\r\nGET /app?overloaded HTTP/1.1\r\nHost: a\r\n\r\nGET /app?x HTTP/1.1\r\nHost: a\r\n\r\n")
	for _, want := range []int{500, 503, 200} {
		resp, body, err := readResp(br, "GET")
		if err != nil || resp.StatusCode != want {
			t.Fatalf("want %d: %v %q %v", want, resp, body, err)
		}
	}
}

// Streamed answers (past 1 MiB): HEAD gets none of the body, HTTP/1.0 gets it until EOF,
// HTTP/1.1 in chunks; the connection stays in step.
func TestFrontEdgeStreamedFramings(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: libfcgiResponder(t), Workers: 1, Timeout: 10 * time.Second})
	c, br := rawDial(t, addr, 20*time.Second)
	io.WriteString(c, "HEAD /app?big=3000000 HTTP/1.1\r\nHost: a\r\n\r\nGET /app?big=3000000 HTTP/1.1\r\nHost: a\r\n\r\nGET /app?x HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body, err := readResp(br, "HEAD")
	if err != nil || resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD: %v %d %v", resp, len(body), err)
	}
	resp, body, err = readResp(br, "GET")
	if err != nil || resp.StatusCode != 200 || len(body) != 3000000 || len(resp.TransferEncoding) == 0 {
		t.Fatalf("GET: %v %d %v", resp, len(body), err)
	}
	resp, body, err = readResp(br, "GET")
	if err != nil || resp.StatusCode != 200 || field(body, "query") != "x" {
		t.Fatalf("GET x: %v %q %v", resp, body, err)
	}
	c2, br2 := rawDial(t, addr, 20*time.Second)
	io.WriteString(c2, "GET /app?big=3000000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body, err = readResp(br2, "GET")
	if err != nil || resp.StatusCode != 200 || len(body) != 3000000 || !resp.Close {
		t.Fatalf("1.0: %v %d %v", resp, len(body), err)
	}
}

// Workers that exit with status 0 after 3 requests (php-cgi's PHP_FCGI_MAX_REQUESTS), under
// concurrent load: every GET succeeds, and the exits count as recycles, not restarts. A POST
// sent on a kept connection just as its worker exits cannot be sent again, and fails with 502;
// once the loop has seen a worker recycle itself it closes the connection at that request
// count, so at most one POST per worker's first life fails.
func TestFrontEdgeAppRecycles(t *testing.T) {
	t.Run("get", func(t *testing.T) { testAppRecycles(t, FrontEventLoop, true) })
	t.Run("get+post", func(t *testing.T) { testAppRecycles(t, FrontEventLoop, false) })
}

func testAppRecycles(t *testing.T, front string, getOnly bool) {
	var mu sync.Mutex
	failedPOSTs := 0
	{
		{
			b, _ := startFront(t, front, strategies.Config{Program: withEnv(libfcgiResponder(t), "RESPONDER_MAX_REQUESTS=3"), Workers: 2, Timeout: 10 * time.Second})
			pool := poolOf(b)
			client := &http.Client{Timeout: 20 * time.Second}
			defer client.CloseIdleConnections()
			done := make(chan struct{}, 4)
			for g := range 4 {
				go func() {
					defer func() { done <- struct{}{} }()
					for i := range 12 {
						var resp *http.Response
						var err error
						if i%2 == 0 || getOnly {
							resp, err = client.Get(fmt.Sprintf("%s?g=%d&i=%d", b.URL(), g, i))
						} else {
							resp, err = client.Post(fmt.Sprintf("%s?g=%d&i=%d", b.URL(), g, i), "text/plain", strings.NewReader("hi"))
						}
						if err != nil {
							t.Error(err)
							return
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						post := !(i%2 == 0 || getOnly)
						if post && resp.StatusCode == http.StatusBadGateway {
							mu.Lock()
							failedPOSTs++
							mu.Unlock()
						} else if resp.StatusCode != 200 {
							t.Errorf("g %d i %d: %d %q", g, i, resp.StatusCode, body)
						}
					}
				}()
			}
			for range 4 {
				<-done
			}
			waitFor(t, 10*time.Second, "recycles", func() bool { return pool.Recycles() >= 12 })
			if r := pool.Restarts(); r != 0 {
				t.Errorf("Restarts() = %d, want 0 (Recycles %d)", r, pool.Recycles())
			}
			if failedPOSTs > 2 {
				t.Errorf("%d POSTs failed, want at most 2 (one per worker, before a recycle is seen)", failedPOSTs)
			}
		}
	}
}

// An app that recycles itself after 3 requests and takes 30 ms to exit after its last answer,
// under steady pipelined load: once the loop has seen a recycle it closes the connection at
// that count, so no POST fails after the first recycle. (A request resent from a connection
// the worker was closing must not count as served, or the count learnt is one too high.)
func TestFrontEdgeRecycleAfterLearnt(t *testing.T) {
	b, addr, _ := loopFront(t, strategies.Config{Program: rawRecycler(t, "keep", 3, 30*time.Millisecond), Workers: 1, Timeout: 10 * time.Second})
	pool := poolOf(b)
	c, br := rawDial(t, addr, 30*time.Second)
	var req bytes.Buffer
	const gets, posts = 4, 12
	for i := range gets {
		fmt.Fprintf(&req, "GET /app?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
	}
	for i := range posts {
		fmt.Fprintf(&req, "POST /app?i=%d HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", gets+i)
	}
	c.Write(req.Bytes())
	failed := 0
	for i := range gets + posts {
		resp, body, err := readResp(br, "GET")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if i >= gets && resp.StatusCode == http.StatusBadGateway {
			failed++
			continue
		}
		if resp.StatusCode != 200 || field(body, "query") != fmt.Sprintf("i=%d", i) {
			t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d POSTs failed with 502 after the loop had seen the app recycle itself (recycleAfter = %d, want 3)", failed, posts, pool.recycleAfter.Load())
	}
}

// A worker that ignores FCGI_KEEP_CONN and also recycles itself after 3 requests, taking 30 ms
// to exit: of pipelined GETs at most the first recycle's may fail (the loop cannot know yet),
// and the exits are recycles, not restarts.
func TestFrontEdgeNoKeepRecycles(t *testing.T) {
	b, addr, _ := loopFront(t, strategies.Config{Program: rawRecycler(t, "close", 3, 30*time.Millisecond), Workers: 1, Timeout: 10 * time.Second})
	pool := poolOf(b)
	c, br := rawDial(t, addr, 30*time.Second)
	var req bytes.Buffer
	const n = 15
	for i := range n {
		fmt.Fprintf(&req, "GET /app?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
	}
	c.Write(req.Bytes())
	failed := 0
	for i := range n {
		resp, body, err := readResp(br, "GET")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.StatusCode != 200 || field(body, "query") != fmt.Sprintf("i=%d", i) {
			failed++
			t.Logf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if failed > 1 {
		t.Errorf("%d of %d GETs failed with 502, want at most 1 (before the first recycle is seen)", failed, n)
	}
	if r := pool.Restarts(); r != 0 {
		t.Errorf("Restarts() = %d, Recycles() = %d: a worker that recycled itself was replaced", r, pool.Recycles())
	}
}

// A client that pipelines more than the loop buffers behind a request in flight, then hangs
// up: it is gone (its worker replaced), and the loop does not spin on the hang-up it cannot
// read up to.
func TestFrontEdgeHangUpBehindInput(t *testing.T) {
	_, addr, log := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 5 * time.Second})
	c, _ := rawDial(t, addr, 5*time.Second)
	fmt.Fprintf(c, "GET /app/sleep?ms=3000 HTTP/1.1\r\nHost: a\r\n\r\nGET /app HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n", strings.Repeat("x", 2*maxPipelined))
	time.Sleep(200 * time.Millisecond)
	start, cpu := time.Now(), cpuTime()
	c.(*net.TCPConn).CloseWrite()
	waitLog(t, log, "request abandoned (client gone)")
	time.Sleep(500 * time.Millisecond)
	used, wall := cpuTime()-cpu, time.Since(start)
	if used > wall/2 {
		t.Errorf("the loop spins: %v of CPU in %v after the client hung up", used, wall)
	}
}

// ---- streams, restart storms, descriptors ----

// The listener when accept fails with EMFILE: the connection stays in the backlog, so a
// level-triggered epoll reports the listener again at once. The loop must not spin on it
// (nor flood the log); net/http's Serve backs off (5 ms doubling to 1 s).
func TestFrontEdgeAcceptEMFILENoSpin(t *testing.T) {
	_, addr, lb := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 5 * time.Second})
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	lim := old
	lim.Cur = uint64(countFDs(t) + 64)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	var dummies []int
	release := func() {
		for _, fd := range dummies {
			syscall.Close(fd)
		}
		dummies = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	}
	defer release()
	for {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		dummies = append(dummies, fd)
	}
	// One descriptor free: the client's socket takes it, and the loop's accept finds none.
	syscall.Close(dummies[len(dummies)-1])
	dummies = dummies[:len(dummies)-1]
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	ap, _ := sockaddrInet4(addr)
	if err := syscall.Connect(fd, ap); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	start, cpu := time.Now(), cpuTime()
	time.Sleep(time.Second)
	used, wall := cpuTime()-cpu, time.Since(start)
	release()
	lines := strings.Count(lb.String(), "accept: too many open files")
	t.Logf("CPU %v in %v with accept failing (EMFILE); %d log lines", used, wall, lines)
	if used > wall/2 || lines > 50 {
		t.Errorf("the loop spins on a listener it cannot accept from: %v of CPU in %v, %d log lines", used, wall, lines)
	}
	// Descriptors free again: the client is served.
	syscall.Write(fd, []byte("GET /app?after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
	tv := syscall.Timeval{Sec: 5}
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	buf := make([]byte, 12)
	if n, _ := syscall.Read(fd, buf); n < 12 || string(buf[:12]) != "HTTP/1.1 200" {
		t.Errorf("after: %q", buf[:max(n, 0)])
	}
}

// A worker killed whose successors all exit at once (a crash loop, which the pool retries
// with backoff): requests that wait for a worker get 504 at Timeout, not a hang.
func TestFrontEdgeRestartStormQueued504(t *testing.T) {
	dir := t.TempDir()
	script := dir + "/worker.sh"
	os.WriteFile(script, []byte("#!/bin/sh\n[ -e "+dir+"/mark ] && exit 0\ntouch "+dir+"/mark\nexec "+selfPath(t)+"\n"), 0o755)
	p := goWorker(t)
	p.Path = script
	b, addr, _ := loopFront(t, strategies.Config{Program: p, Workers: 1, Timeout: time.Second})
	pool := poolOf(b)
	c, br := rawDial(t, addr, 10*time.Second)
	io.WriteString(c, "GET /app?first HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body, err := readResp(br, "GET")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first: %v %v", resp, err)
	}
	var pid int
	fmt.Sscan(field(body, "pid"), &pid)
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, 5*time.Second, "the pool did not notice", func() bool { return pool.Restarts() >= 1 })
	type result struct {
		code int
		err  error
		d    time.Duration
	}
	res := make(chan result, 4)
	for i := range 4 {
		go func() {
			c, br := rawDial(t, addr, 8*time.Second)
			start := time.Now()
			fmt.Fprintf(c, "GET /app?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
			resp, _, err := readResp(br, "GET")
			r := result{err: err, d: time.Since(start)}
			if resp != nil {
				r.code = resp.StatusCode
			}
			res <- r
		}()
	}
	for range 4 {
		r := <-res
		if r.err != nil || r.code != http.StatusGatewayTimeout || r.d > 3*time.Second {
			t.Errorf("a request waiting through a crash loop: %d %v after %v, want 504 after ~1s", r.code, r.err, r.d)
		}
	}
}

// A streamed answer taken slowly, a little at a time (the worker paused and resumed many
// times), with a request pipelined behind it: the body is exact, and the next one follows.
func TestFrontEdgeSlowStreamThenPipelined(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: goWorker(t), Workers: 1, Timeout: 15 * time.Second})
	c, br := rawDial(t, addr, 20*time.Second)
	const n = 6 << 20
	fmt.Fprintf(c, "GET /app/big?n=%d HTTP/1.1\r\nHost: a\r\n\r\nGET /app?next HTTP/1.1\r\nHost: a\r\n\r\n", n)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	got := 0
	for {
		k, err := resp.Body.Read(buf)
		for j := range k {
			if buf[j] != byte('a'+(got+j)%26) {
				t.Fatalf("byte %d is %q", got+j, buf[j])
			}
		}
		got += k
		if err != nil {
			if err != io.EOF {
				t.Fatalf("after %d bytes: %v", got, err)
			}
			break
		}
		if got%(1<<20) < 64<<10 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if got != n {
		t.Fatalf("got %d bytes, want %d", got, n)
	}
	resp2, body, err := readResp(br, "GET")
	if err != nil || resp2.StatusCode != 200 || field(body, "query") != "next" {
		t.Fatalf("next: %v %q %v", resp2, body, err)
	}
}

// A worker killed while paused mid-stream (the client takes nothing): the client's answer is
// cut (no last chunk), at once, and the next client is served.
func TestFrontEdgeWorkerDiesWhilePaused(t *testing.T) {
	b, addr, _ := loopFront(t, strategies.Config{Program: libfcgiResponder(t), Workers: 1, Timeout: 20 * time.Second})
	pool := poolOf(b)
	pids := pool.PIDs()
	c, br := rawDial(t, addr, 10*time.Second)
	io.WriteString(c, "GET /app?big=50000000 HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the loop's backlog fills; the worker is paused
	syscall.Kill(pids[0], syscall.SIGKILL)
	start := time.Now()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= 50000000 || time.Since(start) > 5*time.Second {
		t.Errorf("after the worker died: %d bytes, %v, after %v; want a cut answer at once", n, err, time.Since(start))
	}
	waitFor(t, 10*time.Second, "no new worker", func() bool { p := pool.PIDs(); return len(p) == 1 && p[0] != pids[0] })
	c2, br2 := rawDial(t, addr, 10*time.Second)
	io.WriteString(c2, "GET /app?after HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body, err := readResp(br2, "GET"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after: %v %q %v", resp, body, err)
	}
}

// Close while a streamed answer is paused for a client that reads nothing: Close returns
// within CloseGrace (and a little), cutting it.
func TestFrontEdgeClosePausedStream(t *testing.T) {
	b, addr, _ := loopFront(t, strategies.Config{Program: libfcgiResponder(t), Workers: 1, Timeout: 30 * time.Second})
	c, _ := rawDial(t, addr, 20*time.Second)
	io.WriteString(c, "GET /app?big=50000000 HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	done := make(chan struct{})
	go func() { b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(strategies.CloseGrace + 5*time.Second):
		t.Fatal("Close hangs")
	}
	t.Logf("Close took %v", time.Since(start))
}

// A request whose body needed a write buffer over 1 MiB leaves its worker connection kept,
// like any other.
func TestFrontEdgeBigBodyKeepsConn(t *testing.T) {
	_, addr, _ := loopFront(t, strategies.Config{Program: rawWorker(t, "keep"), Workers: 1, Timeout: 10 * time.Second})
	c, br := rawDial(t, addr, 20*time.Second)
	body := strings.Repeat("b", 2<<20)
	var conns []string
	for i := range 2 {
		fmt.Fprintf(c, "POST /app?i=%d HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body)
		resp, got, err := readResp(br, "POST")
		if err != nil || resp.StatusCode != 200 || field(got, "body") != fmt.Sprintf("%d:%08x", len(body), sum([]byte(body))) {
			t.Fatalf("POST %d: %v %.200q %v", i, resp, got, err)
		}
		conns = append(conns, field(got, "conn"))
	}
	if conns[0] != conns[1] {
		t.Errorf("worker connections %v: the connection was not kept after a 2 MiB body", conns)
	}
}
