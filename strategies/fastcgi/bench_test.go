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
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgibench/cgibench/strategies"
)

// startFastResponder is an in-test FastCGI responder that answers every request with the same
// small document and allocates nothing per request, so that a benchmark measures the client.
func startFastResponder(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("unix", filepath.Join(tb.TempDir(), "fast.sock"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	answer := append(stdout("Content-Type: text/plain\r\n\r\nhello, world\n"), emptyStdout...)
	answer = append(answer, endRequest(0, statusRequestComplete)...)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReaderSize(nc, 16<<10)
				buf := make([]byte, maxContentLen+256)
				for {
					hb, err := br.Peek(headerLen)
					if err != nil {
						return
					}
					h := parseHeader(hb)
					br.Discard(headerLen)
					if _, err := io.ReadFull(br, buf[:int(h.ContentLength)+int(h.PaddingLength)]); err != nil {
						return
					}
					if h.Type == typeStdin && h.ContentLength == 0 {
						if _, err := nc.Write(answer); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// typicalParams is what MetaVariables gives for a plain GET from a load generator.
var typicalParams = []string{
	"GATEWAY_INTERFACE=CGI/1.1", "SERVER_SOFTWARE=cgibench", "SERVER_PROTOCOL=HTTP/1.1",
	"REQUEST_METHOD=GET", "SCRIPT_NAME=/app", "QUERY_STRING=a=1&b=two&c=3",
	"REQUEST_URI=/app?a=1&b=two&c=3", "SERVER_NAME=127.0.0.1", "SERVER_PORT=41234",
	"REMOTE_ADDR=127.0.0.1", "REMOTE_PORT=50000", "HTTP_HOST=127.0.0.1:41234",
	"HTTP_USER_AGENT=cgibench-loadgen", "HTTP_ACCEPT=*/*", "HTTP_COOKIE=visits=3",
	"SCRIPT_FILENAME=/usr/lib/cgibench/app",
}

func clientRoundTrip(tb testing.TB, c *Client, ctx context.Context) {
	resp, err := c.Do(ctx, Request{Params: typicalParams})
	if err != nil {
		tb.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp); err != nil || n == 0 {
		tb.Fatalf("read %d bytes: %v", n, err)
	}
	resp.Close()
}

// BenchmarkClient measures the client's steady state: one keep-alive connection, a typical
// GET, the whole response read. "cancelable" is what the HTTP handler does: a context that
// can end, so an abort is armed per request.
func BenchmarkClient(b *testing.B) {
	addr := startFastResponder(b)
	for _, bc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"cancelable", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := &Client{Network: "unix", Address: addr, MaxConns: 1}
			defer c.Close()
			ctx, cancel := bc.ctx()
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				clientRoundTrip(b, c, ctx)
			}
		})
	}
}

// TestClientAllocs pins the allocation count of BenchmarkClient's steady state: none with a
// background context, and the few of context.AfterFunc with one that can be cancelled.
func TestClientAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	addr := startFastResponder(t)
	c := &Client{Network: "unix", Address: addr, MaxConns: 1}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		max  float64
	}{
		{"background", context.Background(), 0},
		{"cancelable", ctx, 3},
	} {
		clientRoundTrip(t, c, tc.ctx) // warm: the connection and its buffers
		got := testing.AllocsPerRun(200, func() { clientRoundTrip(t, c, tc.ctx) })
		if got > tc.max {
			t.Errorf("%s: %.1f allocations per request, want at most %.0f", tc.name, got, tc.max)
		}
	}
}

// discardResponse is a reusable http.ResponseWriter that keeps nothing, so that a benchmark
// counts the handler's allocations, not a recorder's.
type discardResponse struct {
	h    http.Header
	code int
	n    int
}

func (w *discardResponse) Header() http.Header         { return w.h }
func (w *discardResponse) WriteHeader(code int)        { w.code = code }
func (w *discardResponse) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkHandler measures the HTTP side of a request on top of BenchmarkClient: the
// meta-variables, the timeout context, the CGI header parser and the copy to the writer. The
// request's context can be cancelled, as net/http's is.
func BenchmarkHandler(b *testing.B) {
	addr := startFastResponder(b)
	c := &Client{Network: "unix", Address: addr, MaxConns: 1}
	defer c.Close()
	h := &Handler{Doer: c, Program: strategies.Program{Name: "bench", Path: "/usr/lib/cgibench/app"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := httptest.NewRequest("GET", "http://127.0.0.1:41234/app?name=value&visits=1", nil).WithContext(ctx)
	r.RemoteAddr = "127.0.0.1:50000"
	r.Header.Set("User-Agent", "cgibench-loadgen")
	r.Header.Set("Accept", "*/*")
	w := &discardResponse{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code, w.n = 0, 0
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK || w.n == 0 {
			b.Fatalf("status %d, %d bytes", w.code, w.n)
		}
	}
}

// BenchmarkFrontEnds measures a whole request through each front end, from an HTTP client on a
// kept connection to one libfcgi worker and back: a GET as the load generator sends it. The
// allocations are the server's (the client here allocates nothing); the times are comparable
// only within one run.
func BenchmarkFrontEnds(b *testing.B) {
	prog := libfcgiResponder(b)
	req := []byte("GET /app?name=value&visits=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: cgibench-loadgen\r\nAccept: */*\r\nCookie: visits=3\r\n\r\n")
	for _, front := range frontEnds {
		b.Run(front, func(b *testing.B) {
			sb, err := Strategy{FrontEnd: front}.Start(context.Background(), strategies.Config{Program: prog, Workers: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer sb.Close()
			nc, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(sb.URL(), "http://"), strategies.AppPath))
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			buf := make([]byte, 64<<10)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := nc.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := readOneResponse(nc, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readOneResponse reads one response with a Content-Length from r, without allocating.
func readOneResponse(r io.Reader, buf []byte) error {
	n := 0
	for {
		m, err := r.Read(buf[n:])
		if err != nil {
			return err
		}
		n += m
		head := bytes.Index(buf[:n], []byte("\r\n\r\n"))
		if head < 0 {
			continue
		}
		i := bytes.Index(buf[:head], []byte("\r\nContent-Length: "))
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) || i < 0 {
			return fmt.Errorf("response %q", buf[:n])
		}
		length := 0
		for _, c := range buf[i+len("\r\nContent-Length: ") : head] {
			if c < '0' || c > '9' {
				break
			}
			length = length*10 + int(c-'0')
		}
		if n >= head+4+length {
			return nil
		}
	}
}
