package fastcgi

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cgibench/cgibench/strategies"
)

func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", -1},
		{"GET / HTTP/1.1\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: x\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY", 27},
		{"GET / HTTP/1.1\nHost: x\n\n", 24},
		{"GET / HTTP/1.1\r\n\r\n", 18},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r", -1},
	} {
		if got := headEnd([]byte(tc.in)); got != tc.want {
			t.Errorf("headEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// dechunkAll feeds in to a dechunker in pieces of the sizes sizes gives, as a socket would.
func dechunkAll(in []byte, max int, next func() int) (body []byte, done bool, err error) {
	var d dechunker
	var buf []byte
	for len(in) > 0 || len(buf) > 0 {
		n := min(next(), len(in))
		buf = append(buf, in[:n]...)
		in = in[n:]
		var used int
		body, used, done, err = d.feed(buf, body, max)
		buf = buf[used:]
		if err != nil || done {
			return body, done, err
		}
		if n == 0 {
			break
		}
	}
	return body, done, err
}

func TestDechunker(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"0\r\n\r\n", "", false},
		{"5\r\nhello\r\n0\r\n\r\n", "hello", false},
		{"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n", "hello world", false},
		{"5\nhello\n0\n\n", "", true},
		{"5\r\nhello\n0\r\n\r\n", "", true},
		{"5\r\r\nhello\r\n0\r\n\r\n", "", true},
		{"A\r\n0123456789\r\n0\r\n\r\n", "0123456789", false},
		{"5 \r\nhello\r\n0\r\n\r\n", "hello", false},
		{"x\r\n", "", true},
		{"-1\r\n", "", true},
		{"+5\r\nhello\r\n0\r\n\r\n", "", true},
		{"\r\n", "", true},
		{"5\r\nhelloX\r\n0\r\n\r\n", "", true},
		{"ffffffffffffffffff\r\n", "", true},
	} {
		for _, piece := range []int{1, 3, 1 << 20} {
			body, done, err := dechunkAll([]byte(tc.in), 1<<20, func() int { return piece })
			if tc.err {
				if err == nil {
					t.Errorf("%q in pieces of %d: no error", tc.in, piece)
				}
				continue
			}
			if err != nil || !done || string(body) != tc.want {
				t.Errorf("%q in pieces of %d: %q done=%v err=%v, want %q", tc.in, piece, body, done, err, tc.want)
			}
		}
	}
	// The bound holds before the data is taken.
	if _, _, err := dechunkAll([]byte("10\r\n0123456789abcdef\r\n0\r\n\r\n"), 15, func() int { return 4 }); err == nil || strings.Contains(err.Error(), "malformed") {
		t.Errorf("body over the bound: err = %v, want a size error", err)
	}
}

// FuzzDechunker: what net/http/httputil's chunked writer makes, cut anywhere, decodes to what
// was written; and on any input the decoder agrees with httputil's reader where both end.
func FuzzDechunker(f *testing.F) {
	f.Add([]byte("hello, world"), uint64(1), []byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte{}, uint64(7), []byte("0\r\n\r\n"))
	f.Add(bytes.Repeat([]byte("x"), 5000), uint64(99), []byte("3;a=b\r\nabc\r\n0\r\nT: v\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, raw []byte) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		var enc bytes.Buffer
		cw := httputil.NewChunkedWriter(&enc)
		for rest := data; len(rest) > 0; {
			n := 1 + rng.IntN(len(rest))
			cw.Write(rest[:n])
			rest = rest[n:]
		}
		cw.Close()
		enc.WriteString("\r\n") // the end of the (empty) trailer section
		body, done, err := dechunkAll(enc.Bytes(), len(data), func() int { return 1 + rng.IntN(64) })
		if err != nil || !done || !bytes.Equal(body, data) {
			t.Fatalf("round trip of %d bytes: %d bytes, done=%v, err=%v", len(data), len(body), done, err)
		}

		got, done, err := dechunkAll(raw, 1<<20, func() int { return 1 + rng.IntN(16) })
		if err != nil || !done {
			return
		}
		want, werr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(raw)))
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("%q: decoded %q, httputil %q", raw, got, want)
		}
	})
}

func TestAppendHead(t *testing.T) {
	var hw headWriter
	h := http.Header{
		"Content-Type":   {"text/plain"},
		"Set-Cookie":     {"a=1", "b=2"},
		"X-Evil":         {"x\r\nInjected: yes"},
		"Content-Length": {"999"},
		"Connection":     {"upgrade"},
	}
	now := time.Date(2026, 12, 2, 3, 4, 5, 0, time.UTC)
	b := hw.appendHead(nil, now, true, 201, h, 5, false, false)
	b = append(b, "hello"...)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || string(body) != "hello" || resp.ContentLength != 5 || resp.Close {
		t.Errorf("%q: status %d body %q length %d close %v", b, resp.StatusCode, body, resp.ContentLength, resp.Close)
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 2 || resp.Header.Get("Injected") != "" || resp.Header.Get("X-Evil") != "x Injected: yes" {
		t.Errorf("%q: fields %v", b, resp.Header)
	}
	if resp.Header.Get("Date") != "Wed, 02 Dec 2026 03:04:05 GMT" {
		t.Errorf("Date %q", resp.Header.Get("Date"))
	}

	// A nil field is not sent: Content-Type the program did not give, a suppressed Date.
	b = hw.appendHead(nil, now, false, 200, http.Header{"Content-Type": nil, "Date": nil}, bodyChunked, true, false)
	if s := string(b); strings.Contains(s, "Content-Type") || strings.Contains(s, "Date") ||
		!strings.HasPrefix(s, "HTTP/1.0 200 OK\r\n") || !strings.Contains(s, "Transfer-Encoding: chunked\r\n") || !strings.Contains(s, "Connection: close\r\n") {
		t.Errorf("%q", s)
	}
	if s := string(hw.appendHead(nil, now, false, 204, nil, bodyNone, false, true)); strings.Contains(s, "Content-Length") || !strings.Contains(s, "Connection: keep-alive\r\n") {
		t.Errorf("%q", s)
	}
}

// startLoop starts the strategy with the event-loop front end on the test worker.
func startLoop(t *testing.T, cfg strategies.Config) (strategies.Backend, *syncBuffer) {
	t.Helper()
	if cfg.Program.Path == "" {
		cfg.Program = goWorker(t)
	}
	b, _, log := loopFront(t, cfg)
	return b, log
}

// exchange writes req on a new connection to b and returns everything read until the server
// closes it or 10 s pass.
func exchange(t *testing.T, b strategies.Backend, req string) string {
	t.Helper()
	c, _ := dialFront(t, b)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	return string(got)
}

// dialFront is rawDial to b, giving up after 10 s.
func dialFront(t *testing.T, b strategies.Backend) (net.Conn, *bufio.Reader) {
	t.Helper()
	return rawDial(t, strings.TrimSuffix(strings.TrimPrefix(b.URL(), "http://"), strategies.AppPath), 10*time.Second)
}

func TestFrontHTTP(t *testing.T) {
	b, _ := startLoop(t, strategies.Config{Workers: 2})

	t.Run("chunked body", func(t *testing.T) {
		// The libfcgi responder reads CONTENT_LENGTH bytes: the front end must give it.
		b, _ := startLoop(t, strategies.Config{Program: libfcgiResponder(t), Workers: 1})
		got := exchange(t, b, "POST /app HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || field(got, "body") != fmt.Sprintf("11:%08x", sum([]byte("hello world"))) {
			t.Errorf("%q", got)
		}
	})

	t.Run("FCGI_STDERR", func(t *testing.T) {
		// Logged a line at a time, the second line sent in two records.
		b, log := startLoop(t, strategies.Config{Program: libfcgiResponder(t), Workers: 1})
		if code, _ := httpGet(t, b.URL()+"?stderr"); code != 200 {
			t.Fatalf("status %d", code)
		}
		for _, line := range []string{"FCGI_STDERR: first problem\n", "FCGI_STDERR: second problem\n"} {
			waitLog(t, log, line)
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		got := exchange(t, b, "HEAD /app HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\n") || strings.Contains(got, "pid=") {
			t.Errorf("%q", got)
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct{ req, status string }{
			{"GARBAGE\r\n\r\n", "400"},
			{"GET /app HTTP/1.1\r\n\r\n", "400"}, // no Host
			{"GET /app HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", "413"},
			{"GET /app HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", "417"},
			{"GET /app HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"},
			{"GET /app HTTP/1.1\r\nX: " + strings.Repeat("a", maxRequestHead) + "\r\n\r\n", "431"},
		} {
			if got := exchange(t, b, tc.req); !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") || !strings.Contains(got, "Connection: close") {
				t.Errorf("%.40q: %.200q, want %s and close", tc.req, got, tc.status)
			}
		}
	})

	t.Run("big answer", func(t *testing.T) {
		// Past streamAfter an answer is streamed in chunks; the client reads it slowly at
		// first, so that the worker is paused and resumed.
		const n = 10<<20 + 12345
		resp, err := http.Get(b.URL() + "/big?n=" + strconv.Itoa(n))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 {
			t.Errorf("length %d, transfer encoding %v: want chunked", resp.ContentLength, resp.TransferEncoding)
		}
		time.Sleep(200 * time.Millisecond)
		got, err := io.ReadAll(resp.Body)
		if err != nil || len(got) != n {
			t.Fatalf("%d bytes, %v; want %d", len(got), err, n)
		}
		for i, c := range got {
			if c != byte('a'+i%26) {
				t.Fatalf("byte %d is %q", i, c)
			}
		}
		// A short answer keeps its Content-Length.
		resp2, err := http.Get(b.URL() + "/big?n=1000")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp2.Body)
		resp2.Body.Close()
		if resp2.ContentLength != 1000 {
			t.Errorf("short answer: length %d", resp2.ContentLength)
		}
	})
}

// TestFrontWorkerTurnover: recycling after MaxRequests and a client that goes away in the
// middle of a request, under the event loop; each leaves the pool serving.
func TestFrontWorkerTurnover(t *testing.T) {
	b, log := startLoop(t, strategies.Config{Workers: 1, MaxRequests: 3})
	pool := b.(*closeOnce).Backend.(*PoolBackend).pool
	pids := map[string]bool{}
	for i := range 7 {
		code, body := httpGet(t, b.URL()+"?n="+strconv.Itoa(i))
		if code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
		pids[field(body, "pid")] = true
	}
	if len(pids) != 3 || pool.Recycles() < 2 {
		t.Errorf("7 requests, max 3 per worker: %d workers served, %d recycles; want 3 and at least 2", len(pids), pool.Recycles())
	}

	// The client hangs up while its request runs: the worker, stuck in it, is replaced.
	pidfile := filepath.Join(t.TempDir(), "pid")
	c, _ := dialFront(t, b)
	fmt.Fprintf(c, "GET /app/hang?pidfile=%s HTTP/1.1\r\nHost: x\r\n\r\n", pidfile)
	pid := readPID(t, pidfile)
	c.Close()
	waitLog(t, log, "request abandoned (client gone)")
	waitFor(t, 10*time.Second, "the stuck worker is still running", func() bool { return processGone(pid) })
	if code, body := httpGet(t, b.URL()); code != 200 || field(body, "pid") == strconv.Itoa(pid) {
		t.Errorf("after the client left: %d %q", code, body)
	}
}

// TestFrontClose: Close lets a request in flight finish, then leaves no descriptor open.
func TestFrontClose(t *testing.T) {
	before := openFDs(t)
	b, _ := startLoop(t, strategies.Config{Workers: 2})
	for range 20 {
		if code, _ := httpGet(t, b.URL()); code != 200 {
			t.Fatal(code)
		}
	}
	done := make(chan string, 1)
	go func() {
		resp, err := http.Get(b.URL() + "/sleep?ms=300")
		if err != nil {
			done <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	time.Sleep(100 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := <-done; !strings.HasPrefix(got, "200 ") {
		t.Errorf("request in flight at Close: %.100q", got)
	}
	http.DefaultClient.CloseIdleConnections()
	waitFor(t, 5*time.Second, "descriptors left open", func() bool { return openFDs(t) <= before })
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}
