package fastcgi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer is a test-local FastCGI server that answers each request with the raw records a
// test scripts, to produce what real applications rarely do.
type fakeServer struct {
	t       testing.TB
	ln      net.Listener
	answer  func(nc net.Conn, br *bufio.Reader, req *fakeRequest) (keep bool)
	mgmt    func(nc net.Conn, typ uint8, content []byte) // nil: answer GET_VALUES with fixed values
	events  chan string                                  // "abort" for every FCGI_ABORT_REQUEST
	accepts atomic.Int64
	wg      sync.WaitGroup
}

type fakeRequest struct {
	id     uint16
	keep   bool
	role   uint16
	params map[string]string
	stdin  []byte
}

func startFake(t testing.TB, answer func(nc net.Conn, br *bufio.Reader, req *fakeRequest) bool) *fakeServer {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "fake.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, answer: answer, events: make(chan string, 100)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveConn(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) client() *Client {
	c := &Client{Network: "unix", Address: s.ln.Addr().String(), MaxConns: 2}
	s.t.Cleanup(func() { c.Close() })
	return c
}

func (s *fakeServer) serveConn(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	for {
		req, err := s.readRequest(nc, br)
		if err != nil {
			return
		}
		if !s.answer(nc, br, req) {
			return
		}
	}
}

// readRequest reads BEGIN_REQUEST, PARAMS and STDIN, answering management records on the way.
func (s *fakeServer) readRequest(nc net.Conn, br *bufio.Reader) (*fakeRequest, error) {
	req := &fakeRequest{}
	var params []byte
	paramsDone, stdinDone := false, false
	for !paramsDone || !stdinDone {
		h, content, err := readRecord(br, nil)
		if err != nil {
			return nil, err
		}
		switch {
		case h.ID == nullRequestID:
			if s.mgmt != nil {
				s.mgmt(nc, h.Type, content)
			} else if h.Type == typeGetValues {
				nc.Write(appendRecord(nil, typeGetValuesResult, 0, appendPair(appendPair(nil, MaxConns, "7"), MpxsConns, "0")))
			}
		case h.Type == typeBeginRequest:
			req.id = h.ID
			req.role = binary.BigEndian.Uint16(content)
			req.keep = content[2]&flagKeepConn != 0
		case h.Type == typeParams:
			params = append(params, content...)
			paramsDone = h.ContentLength == 0
		case h.Type == typeStdin:
			req.stdin = append(req.stdin, content...)
			stdinDone = h.ContentLength == 0
		case h.Type == typeAbortRequest:
			s.events <- "abort"
		}
	}
	var err error
	req.params, err = parsePairs(params)
	return req, err
}

// waitAbort reads the connection until FCGI_ABORT_REQUEST arrives (reported on events) or
// the connection closes.
func (s *fakeServer) waitAbort(br *bufio.Reader) {
	for {
		h, _, err := readRecord(br, nil)
		if err != nil {
			return
		}
		if h.Type == typeAbortRequest {
			s.events <- "abort"
		}
	}
}

func endRequest(appStatus uint32, protocol uint8) []byte {
	body := []byte{0, 0, 0, 0, protocol, 0, 0, 0}
	binary.BigEndian.PutUint32(body, appStatus)
	return appendRecord(nil, typeEndRequest, requestID, body)
}

func stdout(s string) []byte {
	return appendStream(nil, typeStdout, requestID, []byte(s))
}

var emptyStdout = appendRecord(nil, typeStdout, requestID, nil)

// okAnswer answers every request with a small document and keeps the connection.
func okAnswer(body string) func(net.Conn, *bufio.Reader, *fakeRequest) bool {
	rec := append(stdout("Content-Type: text/plain\r\n\r\n"+body), emptyStdout...)
	rec = append(rec, endRequest(0, statusRequestComplete)...)
	return func(nc net.Conn, _ *bufio.Reader, req *fakeRequest) bool {
		nc.Write(rec)
		return req.keep
	}
}

func do(t testing.TB, d Doer, params ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := d.Do(ctx, Request{Params: params})
	if err != nil {
		return "", err
	}
	defer resp.Close()
	b, err := io.ReadAll(resp)
	return string(b), err
}

func TestClientProtocolStatus(t *testing.T) {
	for _, tc := range []struct {
		protocol  uint8
		want      error
		wantConns int64 // after two requests: a rejection closes the connection
	}{
		{statusRequestComplete, nil, 1},
		{statusCantMpxConn, ErrCantMpxConn, 2},
		{statusOverloaded, ErrOverloaded, 2},
		{statusUnknownRole, ErrUnknownRole, 2},
		{9, ErrProtocol, 2},
	} {
		s := startFake(t, func(nc net.Conn, _ *bufio.Reader, req *fakeRequest) bool {
			nc.Write(endRequest(7, tc.protocol))
			return true
		})
		c := s.client()
		for range 2 {
			body, err := do(t, c, "A=1")
			if !errors.Is(err, tc.want) || body != "" {
				t.Errorf("protocol status %d: got %q, %v; want no body and %v", tc.protocol, body, err, tc.want)
			}
		}
		if got := s.accepts.Load(); got != tc.wantConns {
			t.Errorf("protocol status %d: %d connections, want %d", tc.protocol, got, tc.wantConns)
		}
	}
}

func TestClientRequestAndStreams(t *testing.T) {
	logBuf := &syncBuffer{}
	var got *fakeRequest
	s := startFake(t, func(nc net.Conn, _ *bufio.Reader, req *fakeRequest) bool {
		got = req
		var b []byte
		b = append(b, appendRecord(nil, typeStderr, requestID, []byte("first problem\nsecond "))...)
		b = append(b, stdout("Content-Type: text/plain\r\n\r\nhello, ")...)
		b = append(b, appendRecord(nil, 99, 0, []byte("a management record from the future"))...)
		b = append(b, appendRecord(nil, 42, requestID, []byte("an unknown application record"))...)
		b = append(b, appendRecord(nil, typeStderr, requestID, []byte("problem\r\nno newline"))...)
		b = append(b, stdout("world")...)
		b = append(b, appendRecord(nil, typeStderr, requestID, nil)...)
		b = append(b, emptyStdout...)
		b = append(b, endRequest(3, statusRequestComplete)...)
		nc.Write(b)
		return true
	})
	c := s.client()
	c.Logger = logBuf.logger()
	ctx := context.Background()
	big := strings.Repeat("b", 3*prefill+5) // streamed by a goroutine after the first write
	resp, err := c.Do(ctx, Request{Params: []string{"REQUEST_METHOD=POST", "CONTENT_LENGTH=98309"}, Stdin: strings.NewReader(big)})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Content-Type: text/plain\r\n\r\nhello, world"; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if resp.AppStatus() != 3 {
		t.Errorf("app status %d, want 3", resp.AppStatus())
	}
	resp.Close()
	if got.role != roleResponder || !got.keep || got.params["REQUEST_METHOD"] != "POST" || string(got.stdin) != big {
		t.Errorf("the server got role %d keep %v params %v and %d bytes of stdin", got.role, got.keep, got.params, len(got.stdin))
	}
	for _, line := range []string{"stderr: first problem\n", "stderr: second problem\n", "stderr: no newline\n"} {
		if !strings.Contains(logBuf.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, logBuf)
		}
	}
	// The connection ended cleanly: the next request reuses it.
	if _, err := do(t, c); err != nil {
		t.Fatal(err)
	}
	if n := s.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestClientAbort(t *testing.T) {
	s := startFake(t, nil)
	s.answer = func(nc net.Conn, br *bufio.Reader, req *fakeRequest) bool {
		nc.Write(stdout("Content-Type: text/plain\r\n\r\nstarted\n"))
		s.waitAbort(br)
		return false
	}
	c := s.client()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := c.Do(ctx, Request{Params: []string{"A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if n, err := resp.Read(buf); err != nil || !strings.HasSuffix(string(buf[:n]), "started\n") {
		t.Fatalf("first read: %q, %v", buf[:n], err)
	}
	cancel()
	_, err = io.ReadAll(resp)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
	resp.Close()
	select {
	case ev := <-s.events:
		if ev != "abort" {
			t.Errorf("event %q", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server got no FCGI_ABORT_REQUEST")
	}
	// Closing early (a caller that stops reading) aborts too.
	resp, err = c.Do(context.Background(), Request{Params: []string{"A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Read(buf)
	resp.Close()
	select {
	case <-s.events:
	case <-time.After(5 * time.Second):
		t.Fatal("Close before the end sent no FCGI_ABORT_REQUEST")
	}
}

func TestClientGetValues(t *testing.T) {
	s := startFake(t, okAnswer("ok"))
	c := s.client()
	got, err := c.GetValues(context.Background(), MaxConns, MaxReqs, MpxsConns)
	if err != nil || got[MaxConns] != "7" || got[MpxsConns] != "0" || len(got) != 2 {
		t.Errorf("GetValues: %v, %v; want FCGI_MAX_CONNS=7 FCGI_MPXS_CONNS=0", got, err)
	}
	// An application that does not know the record type answers FCGI_UNKNOWN_TYPE: an
	// error, but the connection stays good.
	s.mgmt = func(nc net.Conn, typ uint8, _ []byte) {
		nc.Write(appendRecord(nil, typeUnknownType, 0, []byte{typ, 0, 0, 0, 0, 0, 0, 0}))
	}
	if _, err := c.GetValues(context.Background(), MaxConns); !errors.Is(err, ErrUnknownType) {
		t.Errorf("GetValues from an application without management records: %v, want ErrUnknownType", err)
	}
	if body, err := do(t, c); err != nil || !strings.HasSuffix(body, "ok") {
		t.Errorf("request after GetValues: %q, %v", body, err)
	}
	if n := s.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestClientStaleConnection(t *testing.T) {
	// A server that hangs up after every request despite FCGI_KEEP_CONN: a request that finds
	// its kept connection dead is sent again on a new one, exactly once.
	answer := okAnswer("ok")
	var served atomic.Int64
	s := startFake(t, func(nc net.Conn, br *bufio.Reader, req *fakeRequest) bool {
		served.Add(1)
		answer(nc, br, req)
		return false
	})
	c := s.client()
	c.MaxConns = 1
	for i := range 5 {
		resp, err := c.Do(context.Background(), Request{Params: []string{"N=" + strconv.Itoa(i)}, Replayable: true})
		if err == nil {
			_, err = io.ReadAll(resp)
			resp.Close()
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// A body too long to be kept for a resend: the connection is checked before it is used.
	time.Sleep(20 * time.Millisecond) // let the FIN of the last hang-up arrive
	big := strings.Repeat("x", 2*prefill)
	resp, err := c.Do(context.Background(), Request{Stdin: strings.NewReader(big)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp); err != nil {
		t.Errorf("streamed body after a hang-up: %v", err)
	}
	resp.Close()
	if n, m := served.Load(), s.accepts.Load(); n != 6 || m != 6 {
		t.Errorf("the server served %d requests on %d connections, want 6 on 6", n, m)
	}
}

// TestClientNoReplay: a request that is not Replayable (a POST) is not sent again when its kept
// connection breaks after it went out: the program may have run it and crashed before answering.
// A stale connection seen before it goes out is replaced first.
func TestClientNoReplay(t *testing.T) {
	answer := okAnswer("ok")
	var posts atomic.Int64
	s := startFake(t, func(nc net.Conn, br *bufio.Reader, req *fakeRequest) bool {
		if req.params["REQUEST_METHOD"] == "POST" {
			posts.Add(1)
			return false // ran it, then crashed without answering
		}
		answer(nc, br, req)
		return req.params["HANG_UP"] == ""
	})
	c := s.client()
	c.MaxConns = 1
	post := func() error {
		resp, err := c.Do(context.Background(), Request{Params: []string{"REQUEST_METHOD=POST", "CONTENT_LENGTH=5"}, Stdin: strings.NewReader("hello")})
		if err == nil {
			_, err = io.ReadAll(resp)
			resp.Close()
		}
		return err
	}
	if _, err := do(t, c, "REQUEST_METHOD=GET"); err != nil {
		t.Fatal(err)
	}
	if err := post(); !errors.Is(err, ErrConnLost) {
		t.Errorf("POST on a connection that broke after it went out: got %v; want ErrConnLost", err)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("the POST ran %d times; want once", n)
	}
	// A connection the server hung up on while idle is found dead before the POST goes out.
	if _, err := do(t, c, "REQUEST_METHOD=GET", "HANG_UP=1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the hang-up arrive
	if err := post(); !errors.Is(err, ErrConnLost) || posts.Load() != 2 {
		t.Errorf("POST after an idle hang-up: got %v, run %d times in all; want it sent on a new connection (ErrConnLost, 2 runs)", err, posts.Load())
	}
}

func TestClientNoResendOnFreshConnection(t *testing.T) {
	var served atomic.Int64
	s := startFake(t, func(nc net.Conn, _ *bufio.Reader, req *fakeRequest) bool {
		served.Add(1)
		return false // hang up without a word
	})
	if _, err := do(t, s.client()); !errors.Is(err, ErrConnLost) {
		t.Errorf("got %v, want ErrConnLost", err)
	}
	if n := served.Load(); n != 1 {
		t.Errorf("the request reached the server %d times, want once", n)
	}
}

func TestClientConnLost(t *testing.T) {
	s := startFake(t, func(nc net.Conn, _ *bufio.Reader, req *fakeRequest) bool {
		nc.Write(stdout("Content-Type: text/plain\r\n\r\npartial"))
		return false // hang up without FCGI_END_REQUEST
	})
	body, err := do(t, s.client())
	if !errors.Is(err, ErrConnLost) || body != "Content-Type: text/plain\r\n\r\npartial" {
		t.Errorf("got %q, %v; want the partial body and ErrConnLost", body, err)
	}
}

func TestClientMaxConns(t *testing.T) {
	var active, peak atomic.Int64
	answer := okAnswer("ok")
	s := startFake(t, func(nc net.Conn, br *bufio.Reader, req *fakeRequest) bool {
		n := active.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		active.Add(-1)
		return answer(nc, br, req)
	})
	c := s.client() // MaxConns 2
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := do(t, c); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p, n := peak.Load(), s.accepts.Load(); p > 2 || n > 2 {
		t.Errorf("peak %d requests at once over %d connections; want at most 2", p, n)
	}
	// A waiter gives up when its context ends.
	blocked := make(chan struct{})
	s.answer = func(nc net.Conn, br *bufio.Reader, req *fakeRequest) bool { <-blocked; return false }
	r1, _ := c.Do(context.Background(), Request{})
	r2, _ := c.Do(context.Background(), Request{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Do(ctx, Request{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third request with 2 connections busy: %v, want DeadlineExceeded", err)
	}
	close(blocked)
	for _, r := range []*Response{r1, r2} {
		if r != nil {
			io.ReadAll(r)
			r.Close()
		}
	}
	c.Close()
	if _, err := c.Do(context.Background(), Request{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
}

func TestHandlerStatuses(t *testing.T) {
	ok := append(stdout("Content-Type: text/plain\r\nX-A: 1\r\n\r\nbody"), emptyStdout...)
	for _, tc := range []struct {
		name     string
		records  []byte
		hangUp   bool
		wantCode int
		wantBody string
	}{
		{"document", append(ok, endRequest(0, statusRequestComplete)...), false, 200, "body"},
		{"overloaded", endRequest(0, statusOverloaded), false, 503, ""},
		{"unknown role", endRequest(0, statusUnknownRole), false, 502, ""},
		{"cannot multiplex", endRequest(0, statusCantMpxConn), false, 502, ""},
		{"no output", append(emptyStdout, endRequest(0, statusRequestComplete)...), false, 502, ""},
		{"malformed", append(stdout("no header here\r\n\r\n"), endRequest(0, statusRequestComplete)...), false, 502, ""},
		{"hang up", nil, true, 502, ""},
		{"status", append(stdout("Status: 404 Not Here\r\nContent-Type: text/plain\r\n\r\nnope"), endRequest(0, statusRequestComplete)...), false, 404, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, func(nc net.Conn, _ *bufio.Reader, req *fakeRequest) bool {
				nc.Write(tc.records)
				return !tc.hangUp
			})
			h := &Handler{Doer: s.client()}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/app", nil))
			if rec.Code != tc.wantCode || tc.wantBody != "" && rec.Body.String() != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

func TestHandlerTimeout(t *testing.T) {
	s := startFake(t, nil)
	s.answer = func(nc net.Conn, br *bufio.Reader, req *fakeRequest) bool {
		s.waitAbort(br) // never answers
		return false
	}
	h := &Handler{Doer: s.client(), Timeout: 100 * time.Millisecond}
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app", nil))
	if rec.Code != http.StatusGatewayTimeout || time.Since(start) > 3*time.Second {
		t.Errorf("got %d after %v, want 504 after 100ms", rec.Code, time.Since(start))
	}
	select {
	case <-s.events:
	case <-time.After(5 * time.Second):
		t.Fatal("no FCGI_ABORT_REQUEST after the timeout")
	}
}

func TestHandlerParams(t *testing.T) {
	var got *fakeRequest
	answer := okAnswer("ok")
	s := startFake(t, func(nc net.Conn, br *bufio.Reader, req *fakeRequest) bool {
		got = req
		return answer(nc, br, req)
	})
	h := &Handler{Doer: s.client(), Program: phpLikeProgram}
	r := httptest.NewRequest("POST", "/app/extra?q=1", strings.NewReader("abc"))
	r.Header.Set("Content-Type", "text/plain")
	h.ServeHTTP(httptest.NewRecorder(), r)
	for name, want := range map[string]string{
		"SCRIPT_NAME": "/app", "PATH_INFO": "/extra", "QUERY_STRING": "q=1", "CONTENT_LENGTH": "3",
		"CONTENT_TYPE": "text/plain", "REQUEST_METHOD": "POST",
		"REDIRECT_STATUS":   "200",          // from Program.Env
		"SCRIPT_FILENAME":   "/srv/app.php", // the last of Path and Args
		"SERVER_SOFTWARE":   "cgibench",     // the meta-variable wins over Program.Env
		"GATEWAY_INTERFACE": "CGI/1.1",
	} {
		if got.params[name] != want {
			t.Errorf("%s=%q, want %q", name, got.params[name], want)
		}
	}
	if string(got.stdin) != "abc" {
		t.Errorf("stdin %q", got.stdin)
	}
	// A chunked body is buffered to give a CONTENT_LENGTH.
	r = httptest.NewRequest("POST", "/app", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")))
	r.ContentLength = -1
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got.params["CONTENT_LENGTH"] != "4" || string(got.stdin) != "abcd" {
		t.Errorf("chunked: CONTENT_LENGTH=%q stdin %q", got.params["CONTENT_LENGTH"], got.stdin)
	}
}

var phpLikeProgram = programWithEnv("/usr/bin/php-cgi", []string{"/srv/app.php"}, "REDIRECT_STATUS=200", "SERVER_SOFTWARE=other")

func TestExtraParams(t *testing.T) {
	for _, tc := range []struct {
		path string
		args []string
		env  []string
		want []string
	}{
		{"/bin/app", nil, nil, []string{"SCRIPT_FILENAME=/bin/app"}},
		{"/usr/bin/python3", []string{"/s/app.py"}, []string{"X=1"}, []string{"X=1", "SCRIPT_FILENAME=/s/app.py"}},
		{"/usr/bin/php-cgi", nil, []string{"SCRIPT_FILENAME=/s/a.php", "bad", "=x"}, []string{"SCRIPT_FILENAME=/s/a.php"}},
		{"", nil, []string{"A=b"}, []string{"A=b"}},
	} {
		got := ExtraParams(programWithEnv(tc.path, tc.args, tc.env...))
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("path %q args %q env %q: got %q, want %q", tc.path, tc.args, tc.env, got, tc.want)
		}
	}
}

// FuzzResponseStream feeds arbitrary bytes to the response decoder as what a server sent: it
// must end (with io.EOF or an error), never panic or spin.
func FuzzResponseStream(f *testing.F) {
	f.Add(append(append(stdout("Content-Type: text/plain\r\n\r\nhi"), emptyStdout...), endRequest(0, 0)...))
	f.Add(append(appendRecord(nil, typeStderr, 1, []byte("a\nb")), endRequest(1, 2)...))
	f.Add([]byte{1, 6, 0, 2, 0, 0, 0, 0})
	f.Add([]byte{1, 3, 0, 1, 0, 2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newConn(&byteConn{r: bytes.NewReader(data)}, func([]byte) {}, nil)
		var released bool
		resp, err := c.start(context.Background(), Request{Params: []string{"A=1"}}, func(*conn, outcome) { released = true })
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp)
		if err == nil && resp.err != io.EOF {
			t.Fatalf("copied %d bytes without error, but the stream ended with %v", n, resp.err)
		}
		resp.Close()
		if !released {
			t.Fatal("Close did not release the connection")
		}
	})
}

// byteConn is a net.Conn that reads from r and swallows writes.
type byteConn struct {
	net.Conn
	r *bytes.Reader
}

func (c *byteConn) Read(p []byte) (int, error)        { return c.r.Read(p) }
func (c *byteConn) Write(p []byte) (int, error)       { return len(p), nil }
func (c *byteConn) Close() error                      { return nil }
func (c *byteConn) SetWriteDeadline(time.Time) error  { return nil }
func (c *byteConn) SetReadDeadline(t time.Time) error { return nil }
func (c *byteConn) SetDeadline(t time.Time) error     { return nil }
func (c *byteConn) LocalAddr() net.Addr               { return nil }
func (c *byteConn) RemoteAddr() net.Addr              { return nil }
