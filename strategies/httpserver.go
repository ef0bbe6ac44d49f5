package strategies

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// AppPath is the path the app is mounted at on every handler-based backend: SCRIPT_NAME for CGI.
const AppPath = "/app"

// HTTPBackend is a Backend made of an http.Handler served on a loopback listener.
type HTTPBackend struct {
	closeOnce sync.Once
	closeErr  error
	// busy holds the connections with a request in flight (http.StateActive), kept by the
	// server's ConnState hook: Close waits for those, not for idle or never-used ones.
	mu      sync.Mutex
	busy    map[net.Conn]struct{}
	srv     *http.Server
	url     string
	done    chan error
	pids    func() []int
	onClose func() error
}

// ServeHandler serves h on cfg.Listen (resolved) and returns the running backend. pids and
// onClose may be nil; onClose runs after the HTTP server has stopped accepting and finished
// in-flight requests (or the grace period ran out).
func ServeHandler(cfg Config, h http.Handler, pids func() []int, onClose func() error) (*HTTPBackend, error) {
	cfg = cfg.Resolve()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("strategies: listening on %s: %w", cfg.Listen, err)
	}
	b := &HTTPBackend{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			// A client that sends its request, or takes its answer, slower than these is cut
			// off: one that stalls must not hold a handler and its connection for good. They
			// leave room for the backend's own limit, Timeout (twice over where waiting for a
			// worker or an interpreter state comes first).
			ReadTimeout:  2 * cfg.Timeout,
			WriteTimeout: 3 * cfg.Timeout,
			// The load generator holds connections open between requests; keep them.
			IdleTimeout: 2 * time.Minute,
		},
		url:     "http://" + ln.Addr().String() + AppPath,
		done:    make(chan error, 1),
		busy:    make(map[net.Conn]struct{}),
		pids:    pids,
		onClose: onClose,
	}
	b.srv.ConnState = b.track
	go func() { b.done <- b.srv.Serve(directListener{ln}) }()
	return b, nil
}

// URL implements Backend.
func (b *HTTPBackend) URL() string { return b.url }

// PIDs implements Backend.
func (b *HTTPBackend) PIDs() []int {
	if b.pids == nil {
		return nil
	}
	return b.pids()
}

// CloseGrace bounds how long Close waits for in-flight requests.
const CloseGrace = 5 * time.Second

// Close implements Backend. Calling it again returns the first call's result.
func (b *HTTPBackend) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close() })
	return b.closeErr
}

// track is the server's ConnState hook. A connection's states run New → (Active → Idle)* →
// Closed or Hijacked; it is busy from Active to the next state.
func (b *HTTPBackend) track(c net.Conn, state http.ConnState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if state == http.StateActive {
		b.busy[c] = struct{}{}
	} else {
		delete(b.busy, c)
	}
}

func (b *HTTPBackend) requestsInFlight() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.busy)
}

func (b *HTTPBackend) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), CloseGrace)
	defer cancel()
	// Shutdown stops accepting, closes idle connections and waits for busy ones; but it takes a
	// connection that has not sent a request yet (StateNew, as an HTTP client's spare dial is)
	// for busy for 5 s. Once no request is in flight, nothing is lost by closing the rest.
	shut := make(chan error, 1)
	go func() { shut <- b.srv.Shutdown(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-shut:
			break wait
		case <-tick.C:
			if b.requestsInFlight() == 0 {
				b.srv.Close()
				cancel() // else Shutdown notices only at its next poll, up to 500 ms on
				<-shut
				break wait
			}
		}
	}
	if err != nil {
		b.srv.Close()
	}
	if serr := <-b.done; serr != nil && serr != http.ErrServerClosed && err == nil {
		err = serr
	}
	if b.onClose != nil {
		if cerr := b.onClose(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("strategies: stopping %s: %w", b.url, err)
	}
	return nil
}

var _ Backend = (*HTTPBackend)(nil)
