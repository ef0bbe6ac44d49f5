package strategies

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCloseSpareConnection: a connection that never sent a request (an HTTP client's spare
// dial) does not hold Close up: net/http's Shutdown alone would wait 5 s for it.
func TestCloseSpareConnection(t *testing.T) {
	b, err := ServeHandler(Config{Listen: "127.0.0.1:0"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(b.URL(), AppPath), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
