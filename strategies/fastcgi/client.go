package fastcgi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cgibench/cgibench/strategies"
)

// Doer sends one FastCGI request: a *Client to one address, or a *Pool of workers.
type Doer interface {
	Do(ctx context.Context, req Request) (*Response, error)
}

var (
	_ Doer = (*Client)(nil)
	_ Doer = (*Pool)(nil)
)

// Client sends requests to one FastCGI server over at most MaxConns keep-alive connections,
// one request per connection at a time (it never multiplexes). A connection is reused only
// when its last request ended with FCGI_REQUEST_COMPLETE; anything else closes it.
//
// A server that runs one request per process at a time (libfcgi programs, php-cgi, php-fpm
// children) accepts a new connection only when a process is free, and a connection the client
// keeps open holds a process. MaxConns must therefore not exceed the number of processes
// serving the address, or requests on the extra connections wait in the listen queue until
// they time out.
type Client struct {
	// Network is "unix" or "tcp".
	Network string
	// Address is the socket path or host:port.
	Address string
	// MaxConns bounds the connections open at once, so the requests in flight; default
	// runtime.NumCPU(). Do waits for a free connection.
	MaxConns int
	// Logger receives the application's FCGI_STDERR lines; default discards.
	Logger *log.Logger

	once      sync.Once
	q         *idleQueue[*clientSlot]
	dialer    net.Dialer
	isClosed  atomic.Bool
	logStderr func([]byte)

	// Set by a Pool with a shared socket, nil otherwise: a kept connection is checked before
	// each request, and a request that broke on one is sent again only if resendGate allows
	// it, given exitMark() from when it was sent (see Pool.resendGate).
	exitMark   func() uint64
	resendGate func(ctx context.Context, mark uint64) error
	// onSend, set by a Pool with a shared socket, counts each request given a connection.
	onSend func()
}

// clientSlot is the right to one connection; it holds the connection while it is open.
type clientSlot struct {
	c         *Client
	conn      *conn
	releaseFn func(*conn, outcome)
	redialFn  func(context.Context) (net.Conn, error)
	mark      uint64 // exitMark() when the current request was sent
}

func (c *Client) init() {
	if c.MaxConns <= 0 {
		c.MaxConns = runtime.NumCPU()
	}
	if c.Logger == nil {
		c.Logger = log.New(io.Discard, "", 0)
	}
	c.logStderr = func(line []byte) { c.Logger.Printf("fastcgi: %s:%s stderr: %s", c.Network, c.Address, line) }
	// LIFO: a warm connection is preferred; a new one is opened only under concurrency.
	c.q = newIdleQueue(true, nil, (*clientSlot).closeConn)
	for range c.MaxConns {
		s := &clientSlot{c: c}
		s.releaseFn = s.release
		s.redialFn = c.dial
		if c.resendGate != nil {
			s.redialFn = s.gatedRedial
		}
		c.q.put(s)
	}
}

// Do sends req and returns the response as it starts to arrive. The caller must Close it.
// When ctx is done before the end the request is aborted (FCGI_ABORT_REQUEST) and its
// connection closed; Read then returns an error wrapping ctx.Err().
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	c.once.Do(c.init)
	s, err := c.q.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("fastcgi: waiting for a connection to %s:%s: %w", c.Network, c.Address, err)
	}
	if c.onSend != nil {
		c.onSend()
	}
	if c.exitMark != nil {
		// The mark comes first: a peer that closes after the check exits after the mark.
		s.mark = c.exitMark()
		if s.conn != nil && !s.conn.alive() {
			s.conn.nc.Close()
			s.conn = nil
		}
	}
	cn, err := s.connect(ctx)
	if err != nil {
		s.release(nil, closed)
		return nil, err
	}
	return cn.start(ctx, req, s.releaseFn)
}

// GetValues asks the server for the values of names with FCGI_GET_VALUES, typically MaxConns,
// MaxReqs and MpxsConns. Names the server does not know are missing from the map. A server
// that does not know management records gives ErrUnknownType.
func (c *Client) GetValues(ctx context.Context, names ...string) (map[string]string, error) {
	c.once.Do(c.init)
	s, err := c.q.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("fastcgi: waiting for a connection to %s:%s: %w", c.Network, c.Address, err)
	}
	cn, err := s.connect(ctx)
	if err != nil {
		s.release(nil, closed)
		return nil, err
	}
	vals, err := cn.getValues(ctx, names)
	out := reuse
	if err != nil && !errors.Is(err, ErrUnknownType) || ctx.Err() != nil {
		cn.nc.Close()
		out = closed
	}
	s.release(cn, out)
	return vals, err
}

// Close closes the idle connections; connections in use close when their response is closed.
// Do fails with ErrClosed afterwards.
func (c *Client) Close() error {
	c.once.Do(c.init)
	c.isClosed.Store(true)
	for _, s := range c.q.close() {
		if s.conn != nil {
			s.conn.nc.Close()
			s.conn = nil
		}
	}
	return nil
}

func (s *clientSlot) connect(ctx context.Context) (*conn, error) {
	if s.conn == nil {
		nc, err := s.c.dial(ctx)
		if err != nil {
			return nil, err
		}
		s.conn = newConn(nc, s.c.logStderr, s.redialFn)
	}
	return s.conn, nil
}

// gatedRedial opens a new connection for a request that broke on a kept one, if resendGate
// allows sending it again.
func (s *clientSlot) gatedRedial(ctx context.Context) (net.Conn, error) {
	if err := s.c.resendGate(ctx, s.mark); err != nil {
		return nil, fmt.Errorf("fastcgi: %s:%s: %w", s.c.Network, s.c.Address, err)
	}
	return s.c.dial(ctx)
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	nc, err := c.dialer.DialContext(ctx, c.Network, c.Address)
	if err != nil {
		return nil, fmt.Errorf("fastcgi: connecting to %s:%s: %w", c.Network, c.Address, err)
	}
	return strategies.DirectConn(nc), nil
}

func (s *clientSlot) release(cn *conn, out outcome) {
	if out != reuse {
		s.conn = nil
	}
	if !s.c.q.put(s) {
		s.closeConn() // the client was closed while the connection was in use
	}
}

func (s *clientSlot) closeConn() {
	if s.conn != nil {
		s.conn.nc.Close()
		s.conn = nil
	}
}

// idleQueue hands out idle items (connection slots, workers) and makes callers wait, in
// order of arrival, when there is none.
type idleQueue[T comparable] struct {
	mu      sync.Mutex
	items   []T
	waiters []chan T
	lifo    bool
	closed  bool
	usable  func(T) bool // put drops an item for which it is false; nil: all are
	// discard frees an item that nobody holds any more: one that get was handed just as its
	// ctx ended, and put then refused.
	discard func(T)
	chans   sync.Pool
	// onPut, when set, is called (without the lock) after put has made an item idle with no
	// waiter to take it: the event-loop front end takes its workers with tryGet.
	onPut func()
}

func newIdleQueue[T comparable](lifo bool, usable func(T) bool, discard func(T)) *idleQueue[T] {
	q := &idleQueue[T]{lifo: lifo, usable: usable, discard: discard}
	q.chans.New = func() any { return make(chan T, 1) }
	return q
}

// get takes an idle item, waiting for one until ctx is done.
func (q *idleQueue[T]) get(ctx context.Context) (T, error) {
	var zero T
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return zero, ErrClosed
	}
	if x, ok := q.pop(); ok {
		q.mu.Unlock()
		return x, nil
	}
	ch := q.chans.Get().(chan T)
	q.waiters = append(q.waiters, ch)
	q.mu.Unlock()

	select {
	case x, ok := <-ch:
		if !ok {
			return zero, ErrClosed
		}
		q.chans.Put(ch)
		return x, nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	waiting := false
	for i, w := range q.waiters {
		if w == ch {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			waiting = true
			break
		}
	}
	q.mu.Unlock()
	if !waiting {
		// put handed this waiter an item just as ctx ended (or close closed ch): pass it on.
		if x, ok := <-ch; ok && !q.put(x) {
			q.discard(x)
		}
	}
	return zero, ctx.Err()
}

// put makes x idle, handing it to the longest waiter if any. It reports false, keeping
// nothing, when the queue is closed or x is not usable.
func (q *idleQueue[T]) put(x T) bool {
	q.mu.Lock()
	if q.closed || q.usable != nil && !q.usable(x) {
		q.mu.Unlock()
		return false
	}
	if len(q.waiters) > 0 {
		ch := q.waiters[0]
		copy(q.waiters, q.waiters[1:])
		q.waiters[len(q.waiters)-1] = nil
		q.waiters = q.waiters[:len(q.waiters)-1]
		ch <- x // buffered, and only this put sends on it
		q.mu.Unlock()
		return true
	}
	q.items = append(q.items, x)
	onPut := q.onPut
	q.mu.Unlock()
	if onPut != nil {
		onPut()
	}
	return true
}

// tryGet takes the oldest idle item (the newest if lifo) without waiting.
func (q *idleQueue[T]) tryGet() (x T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return x, false
	}
	return q.pop()
}

// pop takes an idle item; q.mu is held.
func (q *idleQueue[T]) pop() (x T, ok bool) {
	n := len(q.items)
	if n == 0 {
		return x, false
	}
	if q.lifo {
		x = q.items[n-1]
	} else {
		x = q.items[0]
		copy(q.items, q.items[1:])
	}
	var zero T
	q.items[n-1] = zero
	q.items = q.items[:n-1]
	return x, true
}

// setOnPut sets (nil: clears) the hook put calls.
func (q *idleQueue[T]) setOnPut(f func()) {
	q.mu.Lock()
	q.onPut = f
	q.mu.Unlock()
}

// remove takes x out of the idle items and reports whether it was there.
func (q *idleQueue[T]) remove(x T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, y := range q.items {
		if y == x {
			q.items = append(q.items[:i], q.items[i+1:]...)
			return true
		}
	}
	return false
}

// close wakes every waiter with ErrClosed and returns the idle items.
func (q *idleQueue[T]) close() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	for _, ch := range q.waiters {
		close(ch)
	}
	q.waiters = nil
	items := q.items
	q.items = nil
	return items
}
