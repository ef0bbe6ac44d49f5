package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// dialFunc opens a connection; net.Dialer.DialContext in production, a spy in tests.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// errInterrupted is the error of a request cut short by client.interrupt.
var errInterrupted = errors.New("loadgen: interrupted")

// aLongTimeAgo is a deadline in the past: it makes blocked reads and writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// client is one keep-alive connection to the target, used by one goroutine at a time except for
// interrupt. It reconnects by itself when the server closes or a request fails.
type client struct {
	dial    dialFunc
	addr    string
	timeout time.Duration
	rr      *responseReader

	// mu guards nc and stopped between the owner goroutine's (re)connects and deadline updates,
	// and interrupt. The owner reads nc without it: only the owner writes nc.
	mu      sync.Mutex
	nc      net.Conn
	stopped bool

	// reused is set once nc has carried a complete response: if the next request then fails
	// before any byte of its response, the server most likely closed the idle connection, and
	// the request is sent again once on a new one (as net/http does).
	reused bool
}

func newClient(dial dialFunc, addr string, timeout time.Duration) *client {
	return &client{dial: dial, addr: addr, timeout: timeout, rr: newResponseReader(nil, readBufferSize)}
}

// interrupt makes the in-flight request, and every later one, return at once as aborted.
// It may be called from any goroutine.
func (c *client) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.nc != nil {
		c.nc.SetDeadline(aLongTimeAgo)
	}
}

// close drops the connection; the next request opens a new one.
func (c *client) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// connect opens a connection, recording the attempt in x.
func (c *client) connect(ctx context.Context, x *exchange) bool {
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	nc, err := c.dial(dctx, "tcp", c.addr)
	cancel()
	x.dials++
	if err != nil {
		if ctx.Err() != nil {
			x.aborted = true
		} else {
			x.class, x.err = classConnect, err
		}
		return false
	}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		nc.Close()
		x.aborted = true
		return false
	}
	c.nc = nc
	c.mu.Unlock()
	c.rr.reset(nc)
	c.reused = false
	return true
}

// setDeadline sets the deadline of the connection unless the client was interrupted.
func (c *client) setDeadline(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return false
	}
	c.nc.SetDeadline(t)
	return true
}

// roundTrip sends req and reads its response into x. The latency runs from just before the
// write to the end of the response body; connecting first is not part of it, but reconnecting
// to resend over a stale connection is. When verify is set, the status and body are compared
// with the expected ones.
func (c *client) roundTrip(ctx context.Context, req *wireRequest, verify bool, x *exchange) {
	*x = exchange{req: req}
	if c.nc == nil && !c.connect(ctx, x) {
		return
	}
	x.start = time.Now()
	resp, stale, err := c.send(req, verify, x.start)
	if stale {
		c.close()
		if !c.connect(ctx, x) {
			return
		}
		resp, _, err = c.send(req, verify, x.start)
	}
	x.end = time.Now()
	if err != nil {
		c.close()
		c.mu.Lock()
		stopped := c.stopped
		c.mu.Unlock()
		switch {
		case stopped || ctx.Err() != nil:
			x.aborted = true
		case errors.Is(err, os.ErrDeadlineExceeded):
			x.class, x.err = classTimeout, err
		default:
			x.class, x.err = classProtocol, err
		}
		return
	}
	c.reused = true
	if resp.close {
		c.close()
	}
	x.complete = true
	x.status = resp.status
	x.class = judge(&resp, req, verify)
}

// send writes req and reads its response within the deadline start+timeout. stale reports a
// failure that looks like a connection the server had closed while idle.
func (c *client) send(req *wireRequest, verify bool, start time.Time) (resp response, stale bool, err error) {
	if !c.setDeadline(start.Add(c.timeout)) {
		return response{}, false, errInterrupted
	}
	if _, err := c.nc.Write(req.bytes); err != nil {
		return response{}, c.reused && isClosedConn(err), err
	}
	pending, read := c.rr.buffered(), c.rr.read
	resp, err = c.rr.readResponse(req.body, verify)
	if err != nil {
		return resp, c.reused && pending == 0 && c.rr.read == read && isClosedConn(err), err
	}
	return resp, false, nil
}

// isClosedConn reports whether err says that the peer closed the connection.
func isClosedConn(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// judge classifies a complete response.
func judge(resp *response, req *wireRequest, verify bool) class {
	if verify && resp.status == req.status {
		if resp.match {
			return classOK
		}
		return classMismatch
	}
	switch {
	case resp.status >= 500 && resp.status < 600:
		return classStatus5xx
	case resp.status >= 400 && resp.status < 500:
		return classStatus4xx
	case verify:
		return classMismatch
	}
	return classOK
}
