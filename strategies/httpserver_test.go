package strategies

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// dialBackend opens a raw TCP connection to b, closed when the test ends.
func dialBackend(t *testing.T, b *HTTPBackend) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(b.URL(), AppPath), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCloseSpareConnection: a connection that never sent a request (an HTTP client's spare
// dial) does not hold Close up: net/http's Shutdown alone would wait 5 s for it.
func TestCloseSpareConnection(t *testing.T) {
	b, err := ServeHandler(Config{Listen: "127.0.0.1:0"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := dialBackend(t, b)
	time.Sleep(50 * time.Millisecond) // accepted: StateNew
	begin := time.Now()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("Close took %s with only a spare connection open; want it at once", took)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the spare connection is still open after Close")
	}
}

// TestCloseWaitsForRequest: Close lets a request in flight finish and answer.
func TestCloseWaitsForRequest(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	b, err := ServeHandler(Config{Listen: "127.0.0.1:0"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	type reply struct {
		body string
		err  error
	}
	got := make(chan reply, 1)
	go func() {
		resp, err := http.Get(b.URL())
		if err != nil {
			got <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		got <- reply{string(body), err}
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "done" {
		t.Errorf("request in flight at Close: got %q, %v; want done", r.body, r.err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestStalledClientCutOff: a client that stops sending its body, or stops reading a large
// answer, is cut off a little after the request timeout instead of holding its handler and
// connection for good; Close then has nothing to wait for.
func TestStalledClientCutOff(t *testing.T) {
	for _, tt := range []struct{ name, request string }{
		{"body", "POST /app HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"},
		{"answer", "GET /app?big HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ServeHandler(Config{Listen: "127.0.0.1:0", Timeout: 100 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if r.URL.RawQuery == "big" {
					chunk := make([]byte, 64<<10)
					for range 1 << 10 { // 64 MiB: more than any socket buffer holds
						if _, err := w.Write(chunk); err != nil {
							return
						}
					}
				}
			}), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := dialBackend(t, b)
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for b.requestsInFlight() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			for b.requestsInFlight() > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := b.requestsInFlight(); n > 0 {
				t.Errorf("%d requests still in flight 5 s after the client stalled; want them cut off after the 100ms timeout's margin", n)
			}
			begin := time.Now()
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if took := time.Since(begin); took > time.Second {
				t.Errorf("Close took %v; want it at once", took)
			}
		})
	}
}
