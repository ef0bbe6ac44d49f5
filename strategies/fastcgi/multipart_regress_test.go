package fastcgi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cgibench/cgibench/scripts"
	"github.com/cgibench/cgibench/scripts/go/refapp"
	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/cgi"
)

// These tests are about the empty FCGI_STDIN record that ends a request's body: it must reach
// the application in the same read as the body's last byte (see writeAlign). The catalog's C
// and Perl apps read exactly CONTENT_LENGTH bytes through libfcgi (FCGI.pm has its own copy),
// which leaves an end record that came later in the socket; the next FCGX_Accept reads it
// where it wants FCGI_BEGIN_REQUEST and hangs up. It used to be lost two ways: copyStdin sent
// it in a write of its own after the last data, and a write could end right before it at a
// multiple of 8 KiB from the start of the request, where libfcgi's read stops.

// regressBoundary is the boundary of the test bodies.
const regressBoundary = "cgibench-regress-boundary"

// multipartBody returns a multipart/form-data body of exactly n bytes (n must leave room for
// the framing, about 250 bytes), its file taken from blob, and its Content-Type.
func multipartBody(blob []byte, n int) ([]byte, string) {
	build := func(fileLen int) []byte {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.SetBoundary(regressBoundary)
		w.WriteField("title", "streamed")
		fw, _ := w.CreateFormFile("upload", "blob.bin")
		fw.Write(blob[:fileLen])
		w.Close()
		return b.Bytes()
	}
	return build(n - len(build(0))), "multipart/form-data; boundary=" + regressBoundary
}

func randomBlob(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// catalogFastCGI resolves a catalog app in FastCGI mode, or skips the test when it cannot be
// had here (unless CGIBENCH_REQUIRE_ALL=1).
func catalogFastCGI(t *testing.T, name string) strategies.Program {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prog, err := (&scripts.Catalog{}).Resolve(ctx, name, scripts.FastCGI)
	var unavailable *scripts.UnavailableError
	if errors.As(err, &unavailable) && os.Getenv("CGIBENCH_REQUIRE_ALL") != "1" {
		t.Skipf("%v (set CGIBENCH_REQUIRE_ALL=1 to fail instead)", unavailable)
	}
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// writeRecorder is a connection that records what is written and how long each write is;
// only Write may be called.
type writeRecorder struct {
	net.Conn
	data []byte
	lens []int
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.data = append(w.data, p...)
	w.lens = append(w.lens, len(p))
	return len(p), nil
}

// TestStdinEndLayout checks the writes of requests with bodies of every size up to past two
// streamed records, and with short bodies under PARAMS of every length: every write but the
// last is a multiple of writeAlign long, the last holds the body's last byte and the end of
// FCGI_STDIN, which does not start at a multiple of endAlign, and the records read back as the
// request.
func TestStdinEndLayout(t *testing.T) {
	blob := randomBlob(2*prefill + writeAlign)
	var (
		wbuf      []byte
		w         writeRecorder
		gotParams []byte
	)
	check := func(params []string, n int) {
		t.Helper()
		body := blob[:n]
		stdin := bytes.NewReader(body)
		var next [1]byte
		first, more, err := appendRequest(wbuf[:0], Request{Params: params, Stdin: stdin}, &next)
		if err != nil {
			t.Fatalf("body of %d bytes: %v", n, err)
		}
		wbuf = first
		w.data, w.lens = w.data[:0], w.lens[:0]
		w.Write(first)
		if more {
			r := &Response{}
			r.copyStdin(&conn{nc: &w}, stdin, next[0], make(chan struct{}))
			if !r.stdinSent.Load() {
				t.Fatalf("body of %d bytes: copyStdin did not report the body sent", n)
			}
		}
		for i, l := range w.lens[:len(w.lens)-1] {
			if l%writeAlign != 0 {
				t.Fatalf("body of %d bytes: write %d of %d is %d bytes, not a multiple of %d", n, i+1, len(w.lens), l, writeAlign)
			}
		}
		lastWrite := len(w.data) - w.lens[len(w.lens)-1]

		data := w.data
		gotParams = gotParams[:0]
		off, end, got, lastByteAt := 0, -1, 0, -1
		for end < 0 {
			if len(data)-off < headerLen {
				t.Fatalf("body of %d bytes: the request ends before FCGI_STDIN does", n)
			}
			h := parseHeader(data[off:])
			next := off + headerLen + int(h.ContentLength) + int(h.PaddingLength)
			if h.Version != version1 || h.ID != requestID || next > len(data) {
				t.Fatalf("body of %d bytes: bad record at %d: %+v", n, off, h)
			}
			content := data[off+headerLen : off+headerLen+int(h.ContentLength)]
			switch h.Type {
			case typeParams:
				gotParams = append(gotParams, content...)
			case typeStdin:
				if len(content) == 0 {
					end = off
					break
				}
				if got+len(content) > n || !bytes.Equal(content, body[got:got+len(content)]) {
					t.Fatalf("body of %d bytes: FCGI_STDIN at %d is not the body from byte %d", n, off, got)
				}
				got += len(content)
				lastByteAt = off
			}
			off = next
		}
		if off != len(data) || got != n {
			t.Fatalf("body of %d bytes: %d bytes of the body sent, %d bytes after the end of FCGI_STDIN", n, got, len(data)-off)
		}
		if p, err := parsePairs(gotParams); err != nil || len(p) != len(params) {
			t.Fatalf("body of %d bytes: params %v, %v", n, p, err)
		}
		if end%endAlign == 0 {
			t.Errorf("body of %d bytes, %d of params: the end of FCGI_STDIN starts at %d, a multiple of %d", n, len(gotParams), end, endAlign)
		}
		if n > 0 && lastByteAt < lastWrite {
			t.Errorf("body of %d bytes: its last byte is not in the last write, with the end of FCGI_STDIN", n)
		}
	}

	params := []string{"REQUEST_METHOD=POST", "CONTENT_TYPE=application/octet-stream"}
	step := 1
	if raceEnabled {
		step = 7 // still every end offset modulo endAlign, at a seventh of the cost
	}
	for n := 0; n <= len(blob); n += step {
		check(params, n)
	}
	// With no body or a 1-byte one, the end record is moved by padding the PARAMS record.
	for pad := range 2 * endAlign {
		p := append(slices.Clone(params), "X="+strings.Repeat("x", pad))
		check(p, 0)
		check(p, 1)
	}
	check(nil, 0)
	check(nil, 1)
}

// startListening runs prog as one FastCGI process accepting on a unix socket passed as fd 0,
// as a process manager would, and returns the socket's path.
func startListening(t *testing.T, prog strategies.Program) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fcgi-regress-") // short: a socket path has a small limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "app.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	sock, err := ln.File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	cmd := exec.Command(prog.Path, prog.Args...)
	cmd.Stdin = sock
	cmd.Env = append([]string{"PATH=" + cgi.DefaultPath}, prog.Env...)
	cmd.Dir = prog.Dir
	if cmd.Dir == "" {
		argv := prog.Argv()
		cmd.Dir = filepath.Dir(argv[len(argv)-1])
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return path
}

// TestStdinEndWithLibfcgi sends the catalog's libfcgi apps, one request after another on one
// connection, bodies whose end falls at every multiple of 8 bytes over 8 KiB, in one write
// and streamed. An end of FCGI_STDIN the application did not read makes it hang up: the client
// then connects again (a request whose body is in one write is sent again; one whose body was
// streamed checks the connection first) or the next request fails. Either is counted.
func TestStdinEndWithLibfcgi(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the catalog's FastCGI apps")
	}
	blob := randomBlob(2 * prefill)
	for _, name := range []string{"c", "perl"} {
		t.Run(name, func(t *testing.T) {
			addr := startListening(t, catalogFastCGI(t, name))
			var dials atomic.Int64
			c := &Client{Network: "unix", Address: addr, MaxConns: 1}
			c.dialer.ControlContext = func(context.Context, string, string, syscall.RawConn) error {
				dials.Add(1)
				return nil
			}
			defer c.Close()
			requests, failed := 0, 0
			for _, from := range []int{writeAlign, prefill + writeAlign} { // one write; streamed
				for n := from; n < from+writeAlign; n += 8 {
					body, ct := multipartBody(blob, n)
					requests++
					err := func() error {
						resp, err := c.Do(context.Background(), Request{
							Params: []string{"GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1",
								"REQUEST_METHOD=POST", "SCRIPT_NAME=/app", "QUERY_STRING=",
								"CONTENT_TYPE=" + ct, "CONTENT_LENGTH=" + strconv.Itoa(n)},
							Stdin: bytes.NewReader(body),
						})
						if err != nil {
							return err
						}
						defer resp.Close()
						got, err := io.ReadAll(resp)
						if err != nil {
							return err
						}
						want := refapp.Handle(refapp.Request{Method: "POST", ContentType: ct, Body: body})
						if !bytes.Equal(got, want.CGI()) {
							return fmt.Errorf("answer\n%s\nwant\n%s", clipBody(got), clipBody(want.CGI()))
						}
						return nil
					}()
					if err != nil {
						failed++
						if failed <= 5 {
							t.Errorf("body of %d bytes: %v", n, err)
						}
					}
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d requests failed", failed, requests)
			}
			if n := dials.Load(); n != 1 {
				t.Errorf("%d requests took %d connections, want 1: the application hung up %d times", requests, n, n-1)
			}
		})
	}
}

// TestStreamedBodiesOnReusedConnections is the reported case: more clients than workers send
// multipart bodies of 32 KiB+1 to 100 KiB through the strategy, so that a worker's connection
// carries the next request as soon as one ends. Every answer must be refapp's. Before the fix
// 1 to 3% of them were 502s ("connection lost before FCGI_END_REQUEST"), each with a replaced
// worker.
func TestStreamedBodiesOnReusedConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the catalog's FastCGI apps under load")
	}
	const (
		workers  = 2
		clients  = 8
		requests = 2000 // per app
	)
	blob := randomBlob(100 << 10)
	for _, name := range []string{"c", "perl"} {
		t.Run(name, func(t *testing.T) {
			b, _ := startStrategy(t, strategies.Config{Program: catalogFastCGI(t, name), Workers: workers})

			type sample struct {
				body        []byte
				contentType string
				status      int
				want        []byte
			}
			rng := rand.New(rand.NewPCG(3, 4))
			samples := make([]sample, 32)
			for i := range samples {
				n := prefill + 1 + rng.IntN(100<<10-prefill)
				switch i {
				case 0:
					n = prefill + 1
				case 1:
					n = 100 << 10
				}
				body, ct := multipartBody(blob, n)
				want := refapp.Handle(refapp.Request{Method: "POST", ContentType: ct, Body: body})
				samples[i] = sample{body, ct, want.StatusCode(), want.Body}
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			defer client.CloseIdleConnections()
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				failures []string
				next     atomic.Int64
			)
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int(next.Add(1)) - 1; i < requests; i = int(next.Add(1)) - 1 {
						s := samples[i%len(samples)]
						err := func() error {
							req, err := http.NewRequestWithContext(ctx, "POST", b.URL(), bytes.NewReader(s.body))
							if err != nil {
								return err
							}
							req.Header.Set("Content-Type", s.contentType)
							resp, err := client.Do(req)
							if err != nil {
								return err
							}
							got, err := io.ReadAll(resp.Body)
							resp.Body.Close()
							if err != nil {
								return fmt.Errorf("reading the answer: %w", err)
							}
							if resp.StatusCode != s.status {
								return fmt.Errorf("status %d, want %d: %s", resp.StatusCode, s.status, clipBody(got))
							}
							if !bytes.Equal(got, s.want) {
								return fmt.Errorf("body\n%s\nwant\n%s", clipBody(got), clipBody(s.want))
							}
							return nil
						}()
						if err != nil {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("request %d (body of %d bytes): %v", i, len(s.body), err))
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			for _, f := range failures[:min(len(failures), 5)] {
				t.Error(f)
			}
			if len(failures) > 0 {
				t.Errorf("%d of %d requests failed", len(failures), requests)
			}
		})
	}
}
