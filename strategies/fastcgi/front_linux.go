package fastcgi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/cgi"
)

// Front is the event-loop front end: one goroutine that serves HTTP/1.x on a loopback
// listener and passes each request to the pool's workers, every socket non-blocking in one
// epoll set, as lighttpd and nginx work. See the package documentation, "The front ends".
type Front struct {
	l    *loop
	url  string
	done chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Front's limits and timeouts; Timeout is Config.Timeout, as for the net/http front end.
const (
	frontHeadTimeout = 10 * time.Second // a request's head, from its first byte (net/http's ReadHeaderTimeout)
	frontIdleTimeout = 2 * time.Minute  // a kept connection between requests
	maxRequestHead   = 1 << 20          // net/http's DefaultMaxHeaderBytes
	// streamAfter is how much of a response is buffered, to send it with a Content-Length,
	// before it is streamed as it comes (chunked).
	streamAfter = 1 << 20
	// highWater and lowWater bound what waits to be sent to a client: above highWater its
	// worker is not read from until the backlog is under lowWater.
	highWater = 1 << 20
	lowWater  = 256 << 10
	// maxPipelined bounds what is read from a client while its request is being served.
	maxPipelined = 64 << 10
	readChunk    = 16 << 10
)

// StartFront serves h's requests through pool's workers on listen, from an event loop. h gives
// the params (ScriptName, Program) and the log, and its Timeout bounds each request as in
// Handler; pool must use a socket per worker. Close stops the front end, then the pool.
func StartFront(listen string, h *Handler, pool *Pool) (*Front, error) {
	if pool.shared != nil {
		return nil, errors.New("fastcgi: the event-loop front end needs a socket per worker")
	}
	h.once.Do(h.init)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("fastcgi: listening on %s: %w", listen, err)
	}
	l, err := newLoop(ln, h, pool)
	if err != nil {
		ln.Close()
		return nil, err
	}
	f := &Front{l: l, url: "http://" + ln.Addr().String() + strategies.AppPath, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		l.run()
	}()
	return f, nil
}

// URL is where the app is served.
func (f *Front) URL() string { return f.url }

// Close stops accepting, lets the requests in flight finish (strategies.CloseGrace at most),
// closes every connection, then closes the pool. Calling it again returns the first result.
func (f *Front) Close() error {
	f.closeOnce.Do(func() {
		f.l.stop()
		<-f.done
		f.closeErr = f.l.pool.Close()
	})
	return f.closeErr
}

// endpoint is what an epoll event is for.
type endpoint interface{ event(l *loop, ev uint32) }

// loop is the event loop's state, owned by its goroutine but for wakeMu's part.
type loop struct {
	ln   net.Listener // kept for its descriptor and Close
	lfd  int
	epfd int
	h    *Handler
	pool *Pool

	wakeMu   sync.Mutex
	wakefd   int // an eventfd: other goroutines wake the loop (a worker is ready, stop)
	stopping bool
	wakeDead bool

	fds     []endpoint // by descriptor
	toClose []int      // forgotten, to close after the batch
	idle    []*wconn   // workers with no request, oldest first
	queue   []*hconn   // requests waiting for a worker, oldest first
	clients int

	now      time.Time
	head     timerList
	body     timerList
	req      timerList
	write    timerList
	keep     timerList
	linger   timerList
	grace    time.Time // while stopping: when the connections still open are cut
	draining bool
	// acceptAt, when set, is when the listener, taken out of the interest set after accept
	// failed for want of descriptors or memory, is watched again; acceptWait is that pause,
	// doubled at each failure (as net/http's Serve backs off).
	acceptAt   time.Time
	acceptWait time.Duration

	hw  headWriter
	rw  replyWriter
	rd  bytes.Reader
	br  *bufio.Reader
	buf []byte // scratch for reads
	ctx context.Context
}

func newLoop(ln net.Listener, h *Handler, pool *Pool) (*loop, error) {
	l := &loop{ln: ln, h: h, pool: pool, br: bufio.NewReaderSize(nil, 4096), buf: make([]byte, readChunk)}
	l.ctx = context.WithValue(context.Background(), http.LocalAddrContextKey, ln.Addr())
	timeout := h.Timeout
	l.head.d, l.body.d, l.req.d, l.write.d, l.keep.d, l.linger.d = frontHeadTimeout, 2*timeout, timeout, 3*timeout, frontIdleTimeout, lingerTime
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("fastcgi: front end: %w", err)
	}
	rc.Control(func(fd uintptr) { l.lfd = int(fd) })
	if l.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("fastcgi: front end: epoll_create1: %w", err)
	}
	fd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		syscall.Close(l.epfd)
		return nil, fmt.Errorf("fastcgi: front end: eventfd2: %w", errno)
	}
	l.wakefd = int(fd)
	l.add(l.wakefd, syscall.EPOLLIN, wakeEndpoint{})
	l.add(l.lfd, syscall.EPOLLIN, listenEndpoint{})
	pool.q.setOnPut(l.wake)
	return l, nil
}

type wakeEndpoint struct{}
type listenEndpoint struct{}

func (wakeEndpoint) event(l *loop, _ uint32) {
	var b [8]byte
	syscall.Read(l.wakefd, b[:])
	l.wakeMu.Lock()
	stopping := l.stopping
	l.wakeMu.Unlock()
	if stopping && !l.draining {
		l.drain()
	}
	l.takeWorkers()
}

func (listenEndpoint) event(l *loop, _ uint32) { l.accept() }

// wake makes the loop look at the pool and at stop; any goroutine may call it.
func (l *loop) wake() {
	l.wakeMu.Lock()
	defer l.wakeMu.Unlock()
	if !l.wakeDead {
		one := [8]byte{1}
		syscall.Write(l.wakefd, one[:])
	}
}

func (l *loop) stop() {
	l.wakeMu.Lock()
	l.stopping = true
	l.wakeMu.Unlock()
	l.wake()
}

func (l *loop) add(fd int, events uint32, e endpoint) {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, nil)
	}
	l.fds[fd] = e
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		panic(fmt.Sprintf("fastcgi: front end: epoll_ctl add %d: %v", fd, err)) // a bug, not a condition
	}
}

func (l *loop) modify(fd int, events uint32) {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

// forget takes fd out of the set; it is closed after the batch of events being handled, so
// that no accept or connect in the batch can reuse its number for a new socket and be handed
// an event meant for the old one.
func (l *loop) forget(fd int) {
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	l.fds[fd] = nil
	l.toClose = append(l.toClose, fd)
}

// closeForgotten closes the descriptors forget took out.
func (l *loop) closeForgotten() {
	for _, fd := range l.toClose {
		syscall.Close(fd)
	}
	l.toClose = l.toClose[:0]
}

// run serves until stop, then closes everything it holds.
func (l *loop) run() {
	events := make([]syscall.EpollEvent, 128)
	l.now = time.Now()
	l.takeWorkers()
	for !l.draining || l.clients > 0 && l.now.Before(l.grace) {
		n, err := syscall.EpollWait(l.epfd, events, l.waitMillis())
		l.now = time.Now()
		if err != nil && err != syscall.EINTR {
			l.h.Logger.Printf("fastcgi: front end: epoll_wait: %v", err)
			break
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd < len(l.fds) && l.fds[fd] != nil {
				l.fds[fd].event(l, events[i].Events)
			}
		}
		l.expire()
		if !l.acceptAt.IsZero() && !l.now.Before(l.acceptAt) {
			l.acceptAt = time.Time{}
			if !l.draining {
				l.modify(l.lfd, syscall.EPOLLIN)
			}
		}
		if len(l.queue) > 0 {
			l.serveQueue() // a worker's hang-up grace may have ended
		}
		l.closeForgotten()
	}
	l.shutdown()
}

// waitMillis is how long epoll_wait may sleep: until the nearest deadline, rounded up.
func (l *loop) waitMillis() int {
	var next time.Time
	for _, tl := range l.timerLists() {
		if tl.first != nil {
			next = earlier(next, tl.first.timer.deadline)
		}
	}
	if l.draining {
		next = earlier(next, l.grace)
	}
	next = earlier(next, l.acceptAt)
	if len(l.queue) > 0 {
		next = earlier(next, l.graceEnd())
	}
	if next.IsZero() {
		return -1
	}
	d := next.Sub(l.now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// earlier is the earlier of two times, a zero time standing for none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// drain starts the stop: no more connections; idle ones are closed, busy ones once answered.
func (l *loop) drain() {
	l.draining = true
	l.grace = l.now.Add(strategies.CloseGrace)
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, l.lfd, nil)
	l.fds[l.lfd] = nil
	for _, e := range l.fds {
		if c, ok := e.(*hconn); ok && c.state == csIdle && len(c.out) == 0 {
			l.closeClient(c)
		}
	}
}

// shutdown closes every descriptor; the pool, closed next, stops the workers.
func (l *loop) shutdown() {
	for _, e := range l.fds {
		switch e := e.(type) {
		case *hconn:
			if e.w != nil {
				l.abandon(e.w, "the front end is closing")
			}
			l.closeClient(e)
		case *wconn:
			l.closeWorkerConn(e)
		}
	}
	l.closeForgotten()
	l.ln.Close()
	l.wakeMu.Lock()
	l.wakeDead = true
	syscall.Close(l.wakefd)
	l.wakeMu.Unlock()
	syscall.Close(l.epfd)
	l.pool.q.setOnPut(nil)
}

// ---- clients ----

// Client connection states.
const (
	csIdle    = iota // no request started (or a kept connection between requests)
	csHead           // reading a request's head
	csBody           // reading its body
	csQueued         // waiting for a worker
	csActive         // at a worker
	csWriting        // the whole answer is queued; waiting for it to be sent
	csLinger         // answered and shut down for writing; the rest of its input is dropped
)

// lingerTime bounds how long a connection closed after an answer has its input drained: a
// close with unread input would send a reset, which can destroy the answer before the client
// reads it (net/http waits as long for the same reason).
const lingerTime = 500 * time.Millisecond

// hconn is a client connection.
type hconn struct {
	fd     int
	remote string
	state  int
	in     []byte // received, not yet used
	out    []byte // to send
	outOff int
	events uint32 // the epoll interest set
	eof    bool   // the client has shut down its side
	closed bool

	req       *http.Request
	body      []byte
	need      int // bytes of a Content-Length body still to come
	chunked   bool
	dech      dechunker
	closing   bool // close once the answer is sent
	keepAlive bool // an HTTP/1.0 client asked for keep-alive
	expect100 bool // the client waits for 100 Continue before it sends the body
	head      bool // the client's request is a HEAD (a local redirect's GET answers it too)

	w         *wconn // serving the request
	stdout    []byte // the answer while it is buffered
	streaming bool   // the answer's head is sent, the rest goes out as it comes
	chunkOut  bool   // ... in chunks
	discard   bool   // the rest of the answer is dropped (a local redirect's body, HEAD)

	timer timerNode
}

func (l *loop) accept() {
	for {
		fd, sa, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		switch err {
		case nil:
		case syscall.ECONNABORTED, syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return
		default:
			// EMFILE and the like: the connection stays in the backlog, and the listener,
			// level-triggered, would be reported again at once. Stop watching it a while.
			l.h.Logger.Printf("fastcgi: front end: accept: %v", err)
			l.acceptWait = min(max(2*l.acceptWait, 5*time.Millisecond), time.Second)
			l.acceptAt = l.now.Add(l.acceptWait)
			l.modify(l.lfd, 0)
			return
		}
		l.acceptWait = 0
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		c := &hconn{fd: fd, remote: sockaddrString(sa), events: syscall.EPOLLIN | syscall.EPOLLRDHUP}
		l.add(fd, c.events, c)
		l.clients++
		l.arm(c, &l.head)
	}
}

func sockaddrString(sa syscall.Sockaddr) string {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	}
	return ""
}

func (c *hconn) event(l *loop, ev uint32) {
	if ev&syscall.EPOLLOUT != 0 {
		l.flush(c)
		if c.closed {
			return
		}
	}
	if ev&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		l.readClient(c, ev)
	}
}

// readClient reads what the client sent and acts on it.
func (l *loop) readClient(c *hconn, ev uint32) {
	if c.state == csLinger {
		l.dropInput(c)
		return
	}
	busy := c.state == csQueued || c.state == csActive || c.state == csWriting
	limit := maxRequestHead + readChunk // a head can be this long; a body is taken as it comes
	if busy {
		limit = maxPipelined // the next request waits
	}
	for !c.eof && len(c.in) < limit {
		n, err := strategies.SocketRead(c.fd, l.buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			break
		}
		if n <= 0 {
			c.eof = true // the end, or an error: either way the client is gone
			break
		}
		c.in = append(c.in, l.buf[:n]...)
		if n < len(l.buf) {
			break
		}
	}
	if ev&(syscall.EPOLLHUP|syscall.EPOLLERR) != 0 || ev&syscall.EPOLLRDHUP != 0 && len(c.in) >= limit {
		// (A hang-up with input left unread, because enough is buffered: level-triggered, it
		// would be reported again and again.)
		c.eof = true
	}
	if busy {
		if c.eof && c.state != csWriting {
			l.clientGone(c)
			return
		}
		if len(c.in) >= maxPipelined {
			l.setEvents(c, c.events&^syscall.EPOLLIN)
		}
		if c.eof {
			l.setEvents(c, c.events&^(syscall.EPOLLIN|syscall.EPOLLRDHUP))
		}
		return
	}
	l.process(c)
}

func (l *loop) setEvents(c *hconn, events uint32) {
	if events != c.events {
		c.events = events
		l.modify(c.fd, events)
	}
}

// process moves a connection that is reading a request as far as its input allows.
func (l *loop) process(c *hconn) {
	if c.state == csIdle {
		if len(c.in) == 0 {
			if c.eof || l.draining {
				l.closeClient(c)
			}
			return
		}
		c.state = csHead
		l.arm(c, &l.head)
	}
	if c.state == csHead {
		n := headEnd(c.in)
		if n < 0 || n > maxRequestHead {
			switch {
			case len(c.in) > maxRequestHead:
				l.refuse(c, http.StatusRequestHeaderFieldsTooLarge, "431 Request Header Fields Too Large")
			case c.eof:
				l.closeClient(c)
			}
			return
		}
		if !l.parseHead(c, n) {
			return
		}
	}
	if c.state == csBody {
		if !l.readBody(c) {
			return
		}
	}
	if c.state == csQueued {
		l.arm(c, &l.req)
		l.dispatch(c)
	}
}

// parseHead parses the head of c.in[:n] and sets up the reading of the body; false means the
// connection is answered and closing.
func (l *loop) parseHead(c *hconn, n int) bool {
	l.rd.Reset(c.in[:n])
	l.br.Reset(&l.rd)
	r, err := http.ReadRequest(l.br)
	l.br.Reset(nil)
	if err != nil {
		l.h.Logger.Printf("fastcgi: front end: bad request from %s: %v", c.remote, err)
		l.refuse(c, http.StatusBadRequest, "400 Bad Request")
		return false
	}
	c.in = c.in[:copy(c.in, c.in[n:])]
	if r.ProtoAtLeast(1, 1) && r.Host == "" {
		l.refuse(c, http.StatusBadRequest, "400 Bad Request: missing required Host header")
		return false
	}
	r = r.WithContext(l.ctx)
	r.RemoteAddr = c.remote
	c.req, c.body, c.need, c.chunked = r, c.body[:0], 0, false
	c.head = r.Method == http.MethodHead
	c.closing = r.Close || l.draining
	c.keepAlive = !r.Close && r.ProtoMajor == 1 && r.ProtoMinor == 0
	switch {
	case len(r.TransferEncoding) > 0:
		c.chunked, c.dech = true, dechunker{}
	case r.ContentLength > cgi.MaxBufferedBody:
		l.refuse(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("413 Request Entity Too Large: the front end takes bodies of up to %d bytes", cgi.MaxBufferedBody))
		return false
	default:
		c.need = int(r.ContentLength)
	}
	c.expect100 = false
	if e := r.Header.Get("Expect"); e != "" {
		if !strings.EqualFold(e, "100-continue") {
			l.refuse(c, http.StatusExpectationFailed, "417 Expectation Failed")
			return false
		}
		c.expect100 = r.ProtoAtLeast(1, 1)
	}
	c.state = csBody
	l.arm(c, &l.body)
	return true
}

// readBody takes what has come of the body; it reports whether the body is complete.
func (l *loop) readBody(c *hconn) bool {
	if c.chunked {
		body, used, done, err := c.dech.feed(c.in, c.body, cgi.MaxBufferedBody)
		c.body = body
		c.in = c.in[:copy(c.in, c.in[used:])]
		if err != nil {
			l.h.Logger.Printf("fastcgi: front end: request from %s: %v", c.remote, err)
			code, text := http.StatusBadRequest, "400 Bad Request"
			if !errors.Is(err, errChunked) {
				code, text = http.StatusRequestEntityTooLarge, "413 Request Entity Too Large"
			}
			l.refuse(c, code, text)
			return false
		}
		if done {
			c.state = csQueued
			return true
		}
	} else {
		n := min(c.need, len(c.in))
		c.body = append(c.body, c.in[:n]...)
		c.need -= n
		c.in = c.in[:copy(c.in, c.in[n:])]
		if c.need == 0 {
			c.state = csQueued
			return true
		}
	}
	if c.eof {
		l.closeClient(c)
		return false
	}
	if c.expect100 {
		c.expect100 = false
		c.out = append(c.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
		l.flush(c)
	}
	return false
}

// refuse answers a request the front end will not pass on, and closes the connection.
func (l *loop) refuse(c *hconn, code int, text string) {
	c.closing = true
	l.rw.reset()
	http.Error(&l.rw, text, code)
	c.req, c.head = nil, false
	l.reply(c)
}

// clientGone ends a request whose client has gone away.
func (l *loop) clientGone(c *hconn) {
	if c.w != nil {
		l.abandon(c.w, "client gone")
	}
	l.closeClient(c)
}

func (l *loop) closeClient(c *hconn) {
	if c.closed {
		return
	}
	if c.state == csQueued {
		l.unqueue(c)
	}
	c.closed = true
	l.disarm(c)
	l.forget(c.fd)
	l.clients--
}

func (l *loop) unqueue(c *hconn) {
	for i, q := range l.queue {
		if q == c {
			l.queue = append(l.queue[:i], l.queue[i+1:]...)
			return
		}
	}
}

// flush sends what it can of c.out.
func (l *loop) flush(c *hconn) {
	for c.outOff < len(c.out) {
		n, err := strategies.SocketWrite(c.fd, c.out[c.outOff:])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			if c.outOff >= lowWater {
				// Keep what waits at the front, so that a long stream to a slow reader does
				// not grow the buffer past highWater plus what one read of the worker adds.
				c.out, c.outOff = c.out[:copy(c.out, c.out[c.outOff:])], 0
			}
			l.setEvents(c, c.events|syscall.EPOLLOUT)
			l.resume(c)
			return
		}
		if err != 0 {
			l.clientGone(c)
			return
		}
		c.outOff += n
	}
	c.out, c.outOff = c.out[:0], 0
	if cap(c.out) > highWater {
		c.out = nil
	}
	l.setEvents(c, c.events&^syscall.EPOLLOUT)
	l.resume(c)
	if c.state == csWriting {
		l.answered(c)
	}
}

// resume reads from the worker of a streamed answer again once the client has taken most of
// what waits for it.
func (l *loop) resume(c *hconn) {
	if c.w != nil && c.w.paused && len(c.out)-c.outOff < lowWater {
		c.w.paused = false
		l.modify(c.w.fd, c.w.interest())
	}
}

// answered is the end of an exchange whose answer is all sent: the connection is kept for
// the next request, or closed.
func (l *loop) answered(c *hconn) {
	switch {
	case c.eof && len(c.in) == 0:
		l.closeClient(c)
		return
	case c.closing:
		// Shut down for writing, and drop what the client still sends until it closes too.
		syscall.Shutdown(c.fd, syscall.SHUT_WR)
		c.state, c.in = csLinger, c.in[:0]
		l.arm(c, &l.linger)
		l.setEvents(c, syscall.EPOLLIN|syscall.EPOLLRDHUP)
		l.dropInput(c)
		return
	}
	c.state, c.req = csIdle, nil
	if cap(c.body) > streamAfter {
		c.body = nil
	}
	if cap(c.stdout) > streamAfter {
		c.stdout = nil
	}
	l.arm(c, &l.keep)
	l.setEvents(c, c.events|syscall.EPOLLIN|syscall.EPOLLRDHUP)
	l.process(c)
}

// dropInput drops a closing connection's input, and closes it at the client's end.
func (l *loop) dropInput(c *hconn) {
	for {
		n, err := strategies.SocketRead(c.fd, l.buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return
		}
		if n <= 0 {
			l.closeClient(c)
			return
		}
	}
}

// reply sends the response in l.rw and ends the exchange (to a HEAD: without its body).
func (l *loop) reply(c *hconn) {
	head := c.head
	is11 := c.req == nil || c.req.ProtoAtLeast(1, 1)
	status := l.rw.status
	if status == 0 {
		status = http.StatusOK
	}
	length := int64(len(l.rw.body))
	switch {
	case !bodyAllowed(status):
		length = bodyNone
	case head:
		length = bodyNone
		if cl, err := strconv.ParseInt(l.rw.header.Get("Content-Length"), 10, 64); err == nil && cl >= 0 {
			length = cl
		}
	}
	c.out = l.hw.appendHead(c.out, l.now, is11, status, l.rw.header, length, c.closing, c.keepAlive)
	if bodyAllowed(status) && !head {
		c.out = append(c.out, l.rw.body...)
	}
	l.endExchange(c)
}

// endExchange sends what is queued and moves to writing; the next request is read once all is
// sent.
func (l *loop) endExchange(c *hconn) {
	c.state = csWriting
	c.stdout = c.stdout[:0]
	c.streaming, c.chunkOut, c.discard = false, false, false
	l.arm(c, &l.write)
	l.flush(c)
}

// ---- workers ----

// wconn is the loop's connection to one worker (one incarnation of a pool slot).
type wconn struct {
	w      *worker
	fd     int // -1: not connected
	out    []byte
	outOff int
	in     []byte
	c      *hconn // the request it serves, nil when idle
	reused bool   // it has served a request on this connection
	// hungUp is when the worker last hung up a connection it was asked to keep, zero if it
	// has not since: it may be exiting (an app that recycles itself), or it may close every
	// connection (one that ignores FCGI_KEEP_CONN). It gets no request for hangUpGrace, or
	// until it is seen to exit; still running then, it is taken to be the second kind
	// (noKeep), whose hang-ups need no wait.
	hungUp  time.Time
	noKeep  bool
	byUs    bool // the loop closed the connection, expecting the worker to exit: no noKeep
	got     bool // a byte of the current answer has come
	paused  bool
	pending bool // EPOLLOUT is in the interest set
	stderr  stderrLines
}

// interest is the epoll interest set for wc's state: its answer unless paused, and writability
// while a write waits (or a connect). Hang-ups and errors are always reported.
func (wc *wconn) interest() uint32 {
	var ev uint32
	if !wc.paused {
		ev = syscall.EPOLLIN | syscall.EPOLLRDHUP
	}
	if wc.pending {
		ev |= syscall.EPOLLOUT
	}
	return ev
}

// takeWorkers moves the pool's ready workers to the loop and gives them the waiting requests.
func (l *loop) takeWorkers() {
	for {
		w, ok := l.pool.q.tryGet()
		if !ok {
			break
		}
		l.idle = append(l.idle, &wconn{w: w, fd: -1, stderr: stderrLines{log: w.logStderr}})
	}
	l.serveQueue()
}

func (l *loop) serveQueue() {
	for len(l.queue) > 0 {
		wc := l.idleWorker(l.queue[0])
		if wc == nil {
			return
		}
		c := l.queue[0]
		l.queue = l.queue[1:]
		l.start(wc, c)
	}
}

// dispatch sends c's request to an idle worker, or queues it.
func (l *loop) dispatch(c *hconn) {
	if len(l.queue) == 0 {
		if wc := l.idleWorker(c); wc != nil {
			l.start(wc, c)
			return
		}
	}
	l.queue = append(l.queue, c)
}

// idleWorker takes the oldest idle worker that can take c's request, connected, or nil.
func (l *loop) idleWorker(c *hconn) *wconn {
	for i := 0; i < len(l.idle); {
		wc := l.idle[i]
		if wc.w.dead.Load() || exited(wc.w) {
			l.closeWorkerConn(wc)
			l.idle = append(l.idle[:i], l.idle[i+1:]...)
			continue
		}
		if wc.fd >= 0 && wc.reused && !replayable(c.req.Method) && !quiet(wc.fd) {
			// The worker hung up the kept connection: a request that may not run twice must
			// not be sent where it could be lost.
			l.hungUp(wc)
		}
		if !wc.hungUp.IsZero() {
			if l.now.Sub(wc.hungUp) < hangUpGrace {
				i++
				continue
			}
			if !wc.byUs {
				wc.noKeep = true
				l.h.Logger.Printf("fastcgi: worker %d pid %d closes the connections it is asked to keep (FCGI_KEEP_CONN): connecting anew for each request", wc.w.slot, wc.w.pid)
			}
			wc.hungUp, wc.byUs = time.Time{}, false
		}
		l.idle = append(l.idle[:i], l.idle[i+1:]...)
		if wc.fd < 0 {
			if err := l.connect(wc); err != nil {
				l.h.Logger.Printf("fastcgi: worker %d pid %d: %v; replacing it", wc.w.slot, wc.w.pid, err)
				wc.w.retireAs(endReplaced)
				continue
			}
		}
		return wc
	}
	return nil
}

// hangUpGrace is how long a worker that hung up a kept connection gets to show whether it
// is exiting (see wconn.hungUp).
const hangUpGrace = 200 * time.Millisecond

// exited reports whether w's process has been reaped.
func exited(w *worker) bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

// hungUp closes a connection the worker hung up while it was to be kept.
func (l *loop) hungUp(wc *wconn) {
	l.hangUp(wc)
	if !wc.noKeep {
		wc.hungUp = l.now
	}
}

// graceEnd is when the first worker that hung up may be given requests again, zero if none
// waits.
func (l *loop) graceEnd() time.Time {
	var end time.Time
	for _, wc := range l.idle {
		end = earlier(end, wc.hungUp)
	}
	if end.IsZero() {
		return end
	}
	return end.Add(hangUpGrace)
}

func (l *loop) connect(wc *wconn) error {
	w := wc.w
	var sa syscall.Sockaddr
	family := syscall.AF_UNIX
	if w.network == "unix" {
		sa = &syscall.SockaddrUnix{Name: w.addr}
	} else {
		ap, err := sockaddrInet4(w.addr)
		if err != nil {
			return err
		}
		family, sa = syscall.AF_INET, ap
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("connecting to %s:%s: socket: %w", w.network, w.addr, err)
	}
	err = syscall.Connect(fd, sa)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return fmt.Errorf("connecting to %s:%s: %w", w.network, w.addr, err)
	}
	if family == syscall.AF_INET {
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	wc.fd, wc.reused, wc.in, wc.stderr.part = fd, false, wc.in[:0], wc.stderr.part[:0]
	wc.pending = err == syscall.EINPROGRESS // writable once connected
	l.add(fd, wc.interest(), wc)
	return nil
}

// sockaddrInet4 is a worker's TCP address, "127.0.0.1:port", for connect.
func sockaddrInet4(addr string) (*syscall.SockaddrInet4, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("worker address %q is not 127.0.0.1:port", addr)
	}
	return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
}

// start sends c's request to wc.
func (l *loop) start(wc *wconn, c *hconn) {
	c.state, c.w, wc.c, wc.got = csActive, wc, c, false
	r := c.req
	bodyLen := int64(len(c.body))
	if !c.chunked {
		bodyLen = 0 // MetaVariables takes r.ContentLength
	}
	params := cgi.MetaVariables(r, cgi.EnvOptions{ScriptName: l.h.ScriptName, BodyLength: bodyLen})
	params = l.h.addExtra(params)
	b := appendRecord(wc.out[:0], typeBeginRequest, requestID, beginBody[:])
	pstart := len(b)
	b = appendParams(b, params)
	if parseHeader(b[pstart:]).ContentLength == 0 {
		pstart = -1
	}
	last := -1
	for body := c.body; len(body) > 0; {
		n := min(len(body), maxContentLen)
		last = len(b)
		b = appendRecord(b, typeStdin, requestID, body[:n])
		body = body[n:]
	}
	wc.out, wc.outOff = endStdin(b, last, pstart), 0
	wc.w.served.Add(1)
	l.flushWorker(wc)
}

func (wc *wconn) event(l *loop, ev uint32) {
	if ev&syscall.EPOLLOUT != 0 {
		l.flushWorker(wc) // the rest of a request, or a connect that completed
		if wc.fd < 0 {
			return
		}
	}
	if ev&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && (!wc.paused || ev&(syscall.EPOLLHUP|syscall.EPOLLERR) != 0) {
		l.readWorker(wc)
	}
}

func (l *loop) flushWorker(wc *wconn) {
	for wc.outOff < len(wc.out) {
		n, err := strategies.SocketWrite(wc.fd, wc.out[wc.outOff:])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			if !wc.pending {
				wc.pending = true
				l.modify(wc.fd, wc.interest())
			}
			return
		}
		if err != 0 {
			l.workerBroke(wc, fmt.Errorf("sending the request: %w", err))
			return
		}
		wc.outOff += n
	}
	if wc.pending {
		wc.pending = false
		l.modify(wc.fd, wc.interest())
	}
	wc.out, wc.outOff = wc.out[:0], 0
	if cap(wc.out) > 1<<20 {
		wc.out = nil
	}
}

// readWorker reads the worker's records and acts on each whole one.
func (l *loop) readWorker(wc *wconn) {
	eof := false
	var rerr error
	for {
		if cap(wc.in)-len(wc.in) < readChunk {
			wc.in = append(wc.in, make([]byte, 64<<10)...)[:len(wc.in)]
		}
		free := wc.in[len(wc.in):cap(wc.in)]
		n, err := strategies.SocketRead(wc.fd, free)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			break
		}
		if n <= 0 {
			eof = true
			if err != 0 {
				rerr = err
			}
			break
		}
		wc.in = wc.in[:len(wc.in)+n]
		if n < len(free) {
			break
		}
	}
	used, v := l.records(wc)
	if wc.fd < 0 || wc.c == nil && len(wc.in) == 0 && !eof {
		return // abandoned meanwhile (the client went away), or nothing came
	}
	wc.in = wc.in[:copy(wc.in, wc.in[used:])]
	switch {
	case v.err != nil:
		l.workerBroke(wc, v.err)
	case v.end:
		// Bytes after FCGI_END_REQUEST, or the end of the connection: it is not reused.
		l.endRequest(wc, v.appStatus, v.protocol, eof, len(wc.in) > 0)
	case wc.c == nil:
		if eof {
			l.hungUp(wc)
		} else {
			l.h.Logger.Printf("fastcgi: worker %d pid %d sent %d bytes with no request under way; closing the connection", wc.w.slot, wc.w.pid, len(wc.in))
			l.hangUp(wc)
		}
	case eof:
		if rerr == nil {
			rerr = errors.New("the worker closed the connection before FCGI_END_REQUEST")
		}
		l.workerBroke(wc, rerr)
	}
}

// verdict is what the records read so far decide: the end of the request, or a broken stream.
type verdict struct {
	end       bool
	appStatus uint32
	protocol  uint8
	err       error
}

// records handles the whole records at the start of wc.in, up to FCGI_END_REQUEST, and returns
// how many bytes they take and what they decide.
func (l *loop) records(wc *wconn) (used int, v verdict) {
	b := wc.in
	for len(b)-used >= headerLen && wc.fd >= 0 && wc.c != nil {
		h := parseHeader(b[used:])
		n := headerLen + int(h.ContentLength) + int(h.PaddingLength)
		if len(b)-used < n {
			break
		}
		content := b[used+headerLen : used+headerLen+int(h.ContentLength)]
		used += n
		wc.got = true
		switch {
		case h.Version != version1:
			v.err = fmt.Errorf("%w: record version %d, want %d", ErrProtocol, h.Version, version1)
			return used, v
		case h.ID == nullRequestID:
			// a management record: it concerns no request
		case h.ID != requestID:
			v.err = fmt.Errorf("%w: record of type %d for request %d, but only request %d is under way", ErrProtocol, h.Type, h.ID, requestID)
			return used, v
		case h.Type == typeStdout:
			l.stdout(wc.c, content)
		case h.Type == typeStderr:
			wc.stderr.write(content)
		case h.Type == typeEndRequest:
			if len(content) < 8 {
				v.err = fmt.Errorf("%w: FCGI_END_REQUEST body of %d bytes, want 8", ErrProtocol, len(content))
			} else {
				v.end, v.appStatus, v.protocol = true, binary.BigEndian.Uint32(content), content[4]
			}
			return used, v
		}
	}
	return used, v
}

// endRequest is FCGI_END_REQUEST: the worker is free, and the answer complete. eof says the
// worker closed the connection after it, stray that bytes followed it.
func (l *loop) endRequest(wc *wconn, appStatus uint32, protocol uint8, eof, stray bool) {
	c := wc.c
	wc.stderr.flush()
	wc.c, c.w = nil, nil
	var err error
	switch protocol {
	case statusRequestComplete:
	case statusCantMpxConn:
		err = ErrCantMpxConn
	case statusOverloaded:
		err = ErrOverloaded
	case statusUnknownRole:
		err = ErrUnknownRole
	default:
		err = fmt.Errorf("%w: FCGI_END_REQUEST with unknown protocol status %d", ErrProtocol, protocol)
	}
	// An app that recycles itself exits after as many requests as its last incarnation served
	// (php-cgi after PHP_FCGI_MAX_REQUESTS, 500 by default), closing the connection just after
	// this record: the next request must not race that close.
	switch {
	case wc.w.served.Load() == l.pool.recycleAfter.Load():
		// It is about to exit: no request until it has (or hangUpGrace has passed), even
		// if it ignores FCGI_KEEP_CONN and has just hung up.
		l.hangUp(wc)
		wc.hungUp, wc.byUs = l.now, true
	case eof:
		l.hungUp(wc)
	case err == nil && !stray && !wc.noKeep && wc.outOff == len(wc.out):
		wc.reused = true
	default:
		// A rejected request, or one whose body was not all sent, leaves the connection
		// unusable but the worker well.
		l.hangUp(wc)
	}
	if wc.paused {
		wc.paused = false
		l.modify(wc.fd, wc.interest())
	}
	l.release(wc)
	if err == nil && appStatus != 0 {
		l.h.Logger.Printf("fastcgi: %s: application status %d", l.h.Program.Name, appStatus)
	}
	if err != nil {
		l.fail(c, err)
	} else {
		l.complete(c)
	}
	l.serveQueue()
}

// release makes a worker that finished a request idle again, or recycles it.
func (l *loop) release(wc *wconn) {
	p := l.pool
	if p.cfg.MaxRequests > 0 && wc.w.served.Load() >= int64(p.cfg.MaxRequests) {
		l.closeWorkerConn(wc)
		wc.w.retireAs(endRecycled)
		return
	}
	l.idle = append(l.idle, wc)
}

// hangUp closes the connection but keeps the worker: the next request opens a new one.
func (l *loop) hangUp(wc *wconn) {
	l.closeWorkerConn(wc)
	wc.outOff, wc.out, wc.pending, wc.paused = 0, wc.out[:0], false, false
}

func (l *loop) closeWorkerConn(wc *wconn) {
	if wc.fd >= 0 {
		l.forget(wc.fd)
		wc.fd = -1
	}
}

// workerBroke handles a connection that broke under a request: the request is sent again if
// that is safe, otherwise it fails with 502; the worker, which may be stuck in it, is
// replaced.
func (l *loop) workerBroke(wc *wconn, err error) {
	c := wc.c
	if c == nil {
		l.hangUp(wc)
		return
	}
	if !wc.got {
		// Not a byte of an answer: the worker may have hung up or exited rather than taken
		// the request (an app that recycles itself). The count must stay the requests it
		// took, which the pool learns recycleAfter from when it exits (and MaxRequests
		// counts); the pool may have learnt it already, with this request in it.
		n := wc.w.served.Add(-1)
		l.pool.recycleAfter.CompareAndSwap(n+1, n)
	}
	if wc.reused && !wc.got {
		// A kept connection that went stale: the worker hung up before reading the request
		// (it is not stuck in it, so it is kept). As net/http does, a request that may run
		// twice is sent once more; one that may not fails.
		wc.c, c.w = nil, nil
		l.hungUp(wc)
		l.idle = append(l.idle, wc)
		if replayable(c.req.Method) {
			c.state = csQueued
			l.queue = append([]*hconn{c}, l.queue...)
		} else {
			l.fail(c, fmt.Errorf("%w: %w (a kept connection, hung up)", ErrConnLost, err))
		}
		l.serveQueue()
		return
	}
	l.abandon(wc, err.Error())
	l.fail(c, fmt.Errorf("%w: %w", ErrConnLost, err))
	l.serveQueue()
}

// abandon drops a request in the middle: its worker is replaced.
func (l *loop) abandon(wc *wconn, why string) {
	if c := wc.c; c != nil {
		c.w = nil
	}
	wc.c = nil
	l.h.Logger.Printf("fastcgi: worker %d pid %d: request abandoned (%s)", wc.w.slot, wc.w.pid, why)
	l.closeWorkerConn(wc)
	wc.w.retireAs(endReplaced)
}

// ---- answers ----

// stdout takes a piece of FCGI_STDOUT for c.
func (l *loop) stdout(c *hconn, p []byte) {
	switch {
	case c.discard:
	case c.streaming:
		if c.chunkOut {
			c.out = appendChunk(c.out, p)
		} else {
			c.out = append(c.out, p...)
		}
		l.flush(c)
		if !c.closed && c.w != nil && len(c.out)-c.outOff > highWater && !c.w.paused {
			c.w.paused = true
			l.modify(c.w.fd, c.w.interest())
		}
	default:
		c.stdout = append(c.stdout, p...)
		if len(c.stdout) > streamAfter {
			l.startStreaming(c)
		}
	}
}

// parseAnswer runs the program's header block in c.stdout through the CGI parser.
func (l *loop) parseAnswer(c *hconn) (*cgi.Header, []byte, error) {
	l.rd.Reset(c.stdout)
	l.br.Reset(&l.rd)
	hdr, err := cgi.ReadHeader(l.br)
	rest := c.stdout[len(c.stdout)-l.rd.Len()-l.br.Buffered():]
	l.br.Reset(nil)
	return hdr, rest, err
}

// startStreaming sends the head of an answer too long to buffer, and what has come of its body.
func (l *loop) startStreaming(c *hconn) {
	hdr, rest, err := l.parseAnswer(c)
	if err != nil {
		wc := c.w
		l.abandon(wc, err.Error())
		l.fail(c, err)
		return
	}
	if hdr.IsLocalRedirect() {
		c.discard = true // the body is dropped; the redirect is served at FCGI_END_REQUEST
		c.stdout = append(c.stdout[:0], "Location: "+hdr.Location+"\r\n\r\n"...)
		return
	}
	l.rw.reset()
	hdr.WriteHeader(&l.rw)
	status := l.rw.status
	head := c.head
	length := int64(bodyNone)
	switch {
	case !bodyAllowed(status) || head:
		c.discard = true
	case c.req.ProtoAtLeast(1, 1):
		length, c.chunkOut = bodyChunked, true
	default:
		length, c.closing = bodyUntilEOF, true
	}
	c.out = l.hw.appendHead(c.out, l.now, c.req.ProtoAtLeast(1, 1), status, l.rw.header, length, c.closing, c.keepAlive)
	c.streaming = true
	c.stdout = c.stdout[:0]
	l.stdout(c, rest)
}

// complete answers c once its worker has ended the request.
func (l *loop) complete(c *hconn) {
	if c.closed {
		return
	}
	if c.streaming {
		if c.chunkOut {
			c.out = append(c.out, lastChunk...)
		}
		l.endExchange(c)
		return
	}
	hdr, rest, err := l.parseAnswer(c)
	if err != nil {
		l.h.Logger.Printf("fastcgi: %s: %v", l.h.Program.Name, err)
		l.rw.reset()
		cgi.BadGateway(&l.rw)
		l.reply(c)
		return
	}
	if hdr.IsLocalRedirect() {
		nr, err := cgi.LocalRedirect(c.req, hdr.Location)
		if err != nil {
			l.h.Logger.Printf("fastcgi: %v", err)
			l.rw.reset()
			cgi.RedirectLoop(&l.rw)
			l.reply(c)
			return
		}
		c.req, c.body, c.chunked = nr, c.body[:0], false
		c.stdout, c.discard = c.stdout[:0], false
		c.state = csQueued
		l.arm(c, &l.req)
		l.dispatch(c)
		return
	}
	l.rw.reset()
	hdr.WriteHeader(&l.rw)
	l.rw.body = append(l.rw.body, rest...)
	l.reply(c)
}

// fail answers a request that got no usable answer, with the status its error calls for, as
// Handler.fail does; once the head is out, the connection is cut instead.
func (l *loop) fail(c *hconn, err error) {
	if c.closed {
		return
	}
	l.h.Logger.Printf("fastcgi: %s: %v", l.h.Program.Name, err)
	if c.streaming { // the head is out
		l.closeClient(c)
		return
	}
	l.rw.reset()
	answerFailure(&l.rw, err, l.h.Timeout)
	l.reply(c)
}

// ---- timers ----

// timerList holds the connections waiting on one kind of deadline. Every deadline of a kind
// is its start plus the same duration, so appending keeps the list in deadline order.
type timerList struct {
	d           time.Duration
	first, last *hconn
}

type timerNode struct {
	list       *timerList
	prev, next *hconn
	deadline   time.Time
}

func (l *loop) arm(c *hconn, tl *timerList) {
	l.disarm(c)
	c.timer = timerNode{list: tl, prev: tl.last, deadline: l.now.Add(tl.d)}
	if tl.last != nil {
		tl.last.timer.next = c
	} else {
		tl.first = c
	}
	tl.last = c
}

func (l *loop) disarm(c *hconn) {
	t := &c.timer
	if t.list == nil {
		return
	}
	if t.prev != nil {
		t.prev.timer.next = t.next
	} else {
		t.list.first = t.next
	}
	if t.next != nil {
		t.next.timer.prev = t.prev
	} else {
		t.list.last = t.prev
	}
	*t = timerNode{}
}

func (l *loop) timerLists() [6]*timerList {
	return [...]*timerList{&l.head, &l.body, &l.req, &l.write, &l.keep, &l.linger}
}

// expire acts on every deadline passed.
func (l *loop) expire() {
	for _, tl := range l.timerLists() {
		for tl.first != nil && !tl.first.timer.deadline.After(l.now) {
			c := tl.first
			l.disarm(c)
			if tl == &l.req {
				if c.w != nil {
					l.abandon(c.w, "timeout")
				}
				if c.state == csQueued {
					l.unqueue(c)
				}
				l.fail(c, fmt.Errorf("fastcgi: request: %w", context.DeadlineExceeded))
				continue
			}
			if c.w != nil {
				l.abandon(c.w, "the client stalled")
			}
			l.closeClient(c)
		}
	}
}
