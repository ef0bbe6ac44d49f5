package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The engine is an epoll event loop per thread, each driving its share of the connections with
// non-blocking sockets, as wrk does: per request one write, usually one read, and a share of one
// epoll_wait; no goroutine switch, no lock, no allocation. A goroutine per connection over
// net.Conn costs about half as much CPU again per request (the runtime's netpoller, scheduler
// and timers), CPU taken from the server under test on the same machine.

// Epoll user data: a connection's slot in Fd (or one of these), its descriptor in Pad, which
// guards against an event of a descriptor closed since.
const (
	tokenWake  = -1 // the eventfd that cancellation writes to
	tokenTimer = -2 // the timerfd of the open loop's schedule
)

const (
	inputEvents  = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR
	hangupEvents = syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR
	epollET      = 1 << 31 // syscall.EPOLLET, which the syscall package declares negative
	// connEvents are watched for every connection, edge-triggered: an event is reported once
	// per change, so nothing needs to be re-armed between requests.
	connEvents = syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET
)

// Timer precision (open loop). The timerfd wakes the loop some tens of microseconds after it
// expires (more on a loaded or virtual machine): the loop estimates that lag and arms the timer
// that much early, then polls without sleeping for what remains, within a budget of CPU.
const (
	initialWakeLag = 50 * time.Microsecond
	maxWakeLag     = time.Millisecond
	spinShare      = 20                     // spin for at most 1/spinShare of the time...
	maxSpinBudget  = 2 * time.Millisecond   // ...saved up to this much
	minScanEvery   = time.Millisecond       // timeouts are checked this often at most
	maxScanEvery   = 100 * time.Millisecond // ...and at least
	yieldEvery     = 2 * time.Millisecond   // see poll
)

// spawnDelay is how long a due request of an open loop waits for a busy connection to finish
// before a new one is opened for it, and so the least time between two new connections of an
// event loop. A backlog after the loop itself was held up (by the machine, the runtime) is sent
// on the connections as they finish, in a round trip or so, instead of opening connections that
// the steady state never needs — and that slow the loop further. A server that stops answering
// gets new connections (up to MaxConnections) at up to 1/spawnDelay per second and loop.
const spawnDelay = 250 * time.Microsecond

// errTimeout is the error of a request without a complete response within Config.Timeout.
var errTimeout = fmt.Errorf("no complete response within the timeout: %w", os.ErrDeadlineExceeded)

// connPhase is where a connection is in its current request.
type connPhase uint8

const (
	phaseIdle       connPhase = iota // no request (connected or not: fd says)
	phaseConnecting                  // opening the connection, maybe for a request
	phaseWriting                     // writing the request
	phaseReading                     // reading the response
)

// conn is one connection slot of an event loop: at most one request at a time, reconnected
// whenever needed.
type conn struct {
	slot     int32
	fd       int // -1 when closed
	phase    connPhase
	rr       *responseReader
	p        responseParser
	x        exchange // the request in progress; x.req is nil when there is none
	written  int      // bytes of the request written
	deadline time.Time
	events   uint32 // input events not acted upon yet (while connecting, writing or idle)
	next     int    // closed loop: index of its next request in plan.reqs
	base     int    // the connect in progress tries addrs from this index on...
	attempt  int    // ...and is at this one past it

	// reused is set once the connection has carried a complete response: if the next request
	// then fails before any byte of its response, the server most likely closed the idle
	// connection, and the request is sent again once on a new one (as net/http does).
	reused      bool
	resent      bool // the current request was sent again already
	sentPending int  // rr.buffered() when the request was sent
	sentRead    int64
}

// eventLoop is one thread of the engine.
type eventLoop struct {
	p         *plan
	id        int
	epfd      int
	wakefd    int
	timerfd   int
	addrs     []syscall.Sockaddr
	addrErr   error         // resolving the host failed: every connection fails with it
	preferred *atomic.Int32 // index into addrs of the last address that accepted a connection
	events    []syscall.EpollEvent
	conns     []*conn
	ready     []*conn // closed loop: finished a request, to start the next in the next round
	starting  bool    // closed loop: a request is being started (finish must not recurse)
	idle      []*conn // open loop: no request
	busy      int     // connections with a request
	rec       *recorder
	dials     int64 // connections opened without a request (open loop, before the start)
	cancelled bool
	stoppedAt time.Time // when the loop noticed the cancellation
	stopping  bool      // closed loop: no new request
	scanEvery time.Duration
	nextScan  time.Time
	nextYield time.Time

	// Open loop.
	ticket     int64     // next ticket of this loop
	closed     bool      // no more tickets will be sent
	due        time.Time // when the next ticket is due, if a connection is free for it
	waiting    time.Time // since when a due ticket has found no free connection
	started    int64     // measured tickets sent
	timerAt    time.Time // what the timer is armed for, zero when it is not
	wakeLag    time.Duration
	spinBudget time.Duration
	spinning   bool
	lastTick   time.Time
}

// execute runs the plan on cfg.Threads event loops and returns what each measured, the end of
// the run and whether ctx ended it.
func execute(ctx context.Context, p *plan) (loops []loopResult, end time.Time, cancelled bool, err error) {
	cfg := &p.cfg
	var addrs []syscall.Sockaddr
	var addrErr error
	if p.dial == nil || p.dial(p.target.addr) == nil {
		addrs, addrErr = testHookResolve(ctx, p.target.addr, cfg.Timeout)
	} else {
		addrErr = fmt.Errorf("dial tcp %s: refused by the test hook", p.target.addr)
	}
	// Cancellation writes to every loop's eventfd. The descriptors are closed only once that
	// can no longer happen: a write to a number reused by another file would be a disaster.
	var ls []*eventLoop
	var wakeMu sync.Mutex
	wakeClosed := false
	defer func() {
		wakeMu.Lock()
		wakeClosed = true
		wakeMu.Unlock()
		for _, l := range ls {
			l.close()
			syscall.Close(l.wakefd)
		}
	}()
	var preferred atomic.Int32
	for i := range cfg.Threads {
		l, err := newEventLoop(p, i, addrs, addrErr, &preferred)
		if err != nil {
			return nil, time.Time{}, false, err
		}
		ls = append(ls, l)
	}
	initial := cfg.Concurrency
	for i := range initial {
		l := ls[i%len(ls)]
		c := l.newConn()
		c.next = i * len(p.reqs) / initial // spread the connections over the variants
	}
	p.slots.Store(int64(initial))
	stop := context.AfterFunc(ctx, func() {
		wakeMu.Lock()
		defer wakeMu.Unlock()
		if !wakeClosed {
			for _, l := range ls {
				l.wake()
			}
		}
	})
	defer stop()

	var ready, done sync.WaitGroup
	begin := make(chan struct{})
	for _, l := range ls {
		ready.Add(1)
		done.Go(func() { l.run(ctx, &ready, begin) })
	}
	ready.Wait()
	p.begin(time.Now())
	close(begin)
	done.Wait()
	end = time.Now()

	loops = make([]loopResult, len(ls))
	for i, l := range ls {
		cancelled = cancelled || l.cancelled
		l.rec.dials += l.dials
		loops[i] = loopResult{rec: l.rec, conns: len(l.conns)}
		if p.open {
			// A cancelled schedule ends when the loop noticed it (at the start if before).
			due := end
			if l.cancelled && l.stoppedAt.Before(end) {
				due = l.stoppedAt
				if due.Before(p.start) {
					due = p.start
				}
			}
			loops[i].started = l.started
			loops[i].scheduled = max(p.measuredTickets(i, due), l.started)
		}
	}
	return loops, end, cancelled, nil
}

func newEventLoop(p *plan, id int, addrs []syscall.Sockaddr, addrErr error, preferred *atomic.Int32) (*eventLoop, error) {
	l := &eventLoop{p: p, id: id, epfd: -1, wakefd: -1, timerfd: -1, addrs: addrs, addrErr: addrErr,
		preferred: preferred, wakeLag: initialWakeLag}
	l.scanEvery = min(max(p.cfg.Timeout/20, minScanEvery), maxScanEvery)
	var err error
	if l.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("loadgen: epoll_create1: %w", err)
	}
	fd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		l.close()
		return nil, fmt.Errorf("loadgen: eventfd: %w", errno)
	}
	l.wakefd = int(fd)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: tokenWake}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, l.wakefd, &ev); err != nil {
		l.close()
		syscall.Close(l.wakefd)
		return nil, fmt.Errorf("loadgen: epoll_ctl: %w", err)
	}
	if p.open {
		const clockMonotonic = 1
		fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if errno != 0 {
			l.close()
			syscall.Close(l.wakefd)
			return nil, fmt.Errorf("loadgen: timerfd_create: %w", errno)
		}
		l.timerfd = int(fd)
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: tokenTimer}
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, l.timerfd, &ev); err != nil {
			l.close()
			syscall.Close(l.wakefd)
			return nil, fmt.Errorf("loadgen: epoll_ctl: %w", err)
		}
	}
	l.events = make([]syscall.EpollEvent, 256)
	return l, nil
}

// close releases the loop's descriptors but the eventfd (see execute).
func (l *eventLoop) close() {
	for _, c := range l.conns {
		l.closeConn(c)
	}
	if l.timerfd >= 0 {
		syscall.Close(l.timerfd)
		l.timerfd = -1
	}
	if l.epfd >= 0 {
		syscall.Close(l.epfd)
		l.epfd = -1
	}
}

// cancel ends the loop: the context is done.
func (l *eventLoop) cancel() {
	if !l.cancelled {
		l.cancelled, l.stoppedAt = true, time.Now()
	}
}

// wake makes the loop's epoll_wait return: the context is done.
func (l *eventLoop) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	syscall.Write(l.wakefd, one[:])
}

// newConn adds a connection slot.
func (l *eventLoop) newConn() *conn {
	c := &conn{slot: int32(len(l.conns)), fd: -1, rr: newResponseReader(nil, readBufferSize)}
	l.conns = append(l.conns, c)
	return c
}

// run is the loop: connect (open loop), wait for the start, then send and receive until the
// plan's end or the context's.
func (l *eventLoop) run(ctx context.Context, ready *sync.WaitGroup, begin <-chan struct{}) {
	if l.p.open {
		// Open the initial connections before the start, so that the first requests are
		// not late for want of them.
		for _, c := range l.conns {
			l.connect(c)
		}
		for !l.cancelled && l.connecting() {
			l.poll()
		}
	}
	ready.Done()
	<-begin
	p := l.p
	l.rec = newRecorder(p.open, p.measureFrom, p.cfg.Interval)
	l.nextScan = time.Now().Add(l.scanEvery)
	if ctx.Err() != nil {
		l.cancel()
	}
	if p.open {
		l.ticket = int64(l.id)
		l.idle = make([]*conn, 0, p.cfg.MaxConnections)
		for i := len(l.conns) - 1; i >= 0; i-- {
			l.idle = append(l.idle, l.conns[i])
		}
		l.lastTick = time.Now()
	} else {
		// Room for every connection twice: one may finish again while its round is on.
		l.ready = append(make([]*conn, 0, 2*len(l.conns)), l.conns...)
	}
	for !l.cancelled {
		if p.open {
			l.dispatch()
			if l.closed && l.busy == 0 {
				return
			}
		} else {
			// Start the next request of the connections that finished one; those that
			// finish again meanwhile wait for the next round, after a look at the events.
			n := len(l.ready)
			l.starting = true
			for i := range n {
				l.startNext(l.ready[i])
			}
			l.starting = false
			l.ready = append(l.ready[:0], l.ready[n:]...)
			if l.busy == 0 && len(l.ready) == 0 {
				return
			}
		}
		l.poll()
	}
	for _, c := range l.conns {
		l.closeConn(c) // requests in flight are abandoned
	}
}

// connecting reports whether a connection is being opened.
func (l *eventLoop) connecting() bool {
	for _, c := range l.conns {
		if c.phase == phaseConnecting {
			return true
		}
	}
	return false
}

// poll waits for events (or not at all, or until the schedule's next ticket) and handles them.
func (l *eventLoop) poll() {
	n, err := syscall.EpollWait(l.epfd, l.events, l.timeout(time.Now()))
	if err != nil && err != syscall.EINTR {
		// Cannot happen with a valid descriptor and buffer; stop rather than spin.
		l.cancel()
		return
	}
	for i := range max(n, 0) {
		l.handle(&l.events[i])
	}
	now := time.Now()
	if !now.Before(l.nextScan) {
		l.scan(now)
	}
	if !now.Before(l.nextYield) {
		// The loop reaches the scheduler only through syscalls that return at once. After
		// 10ms of that, sysmon takes it for a goroutine that hogs its P: it preempts it,
		// hands its P off mid-syscall and polls every 20µs for a while — thousands of
		// context switches a second, more CPU than a slow open loop needs. A yield now and
		// then keeps it quiet.
		runtime.Gosched()
		l.nextYield = now.Add(yieldEvery)
	}
}

// timeout is how long poll may wait, in milliseconds (epoll_wait's unit): until the next
// timeout scan, or not at all when there is work or the next ticket is too close to sleep. A
// later ticket is waited for with the timerfd, armed early by the estimated wake-up lag.
func (l *eventLoop) timeout(now time.Time) int {
	if l.p.open {
		elapsed := now.Sub(l.lastTick)
		l.lastTick = now
		if l.spinning {
			l.spinBudget -= elapsed
		} else {
			l.spinBudget = min(l.spinBudget+elapsed/spinShare, maxSpinBudget)
		}
		l.spinning = false
	}
	if len(l.ready) > 0 || l.cancelled {
		return 0
	}
	ms := int((l.nextScan.Sub(now) + time.Millisecond - 1) / time.Millisecond)
	if ms < 0 {
		ms = 0
	}
	if l.due.IsZero() {
		return ms
	}
	d := l.due.Sub(now)
	switch {
	case d <= 0:
		return 0
	case d <= l.wakeLag && l.spinBudget >= d:
		l.spinning = true
		return 0
	case d > l.wakeLag:
		l.arm(l.due.Add(-l.wakeLag), now)
	default:
		l.arm(l.due, now) // no budget to spin: be late by the wake-up lag
	}
	return ms
}

// arm sets the timer to expire at t.
func (l *eventLoop) arm(t, now time.Time) {
	if t.Equal(l.timerAt) {
		return
	}
	l.timerAt = t
	var its struct{ interval, value syscall.Timespec }
	its.value = syscall.NsecToTimespec(max(int64(t.Sub(now)), 1))
	syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(l.timerfd), 0, uintptr(unsafe.Pointer(&its)), 0, 0, 0)
}

// handle acts on one epoll event.
func (l *eventLoop) handle(ev *syscall.EpollEvent) {
	switch ev.Fd {
	case tokenWake:
		l.cancel()
		return
	case tokenTimer:
		var b [8]byte
		syscall.Read(l.timerfd, b[:])
		if !l.timerAt.IsZero() {
			lag := time.Since(l.timerAt)
			l.wakeLag = min(max(l.wakeLag+(lag-l.wakeLag)/8, 0), maxWakeLag)
			l.timerAt = time.Time{}
		}
		return
	}
	c := l.conns[ev.Fd]
	if int32(c.fd) != ev.Pad {
		return
	}
	e := ev.Events
	c.events |= e & inputEvents
	switch c.phase {
	case phaseConnecting:
		l.connected(c)
	case phaseWriting:
		if e&(syscall.EPOLLOUT|hangupEvents) != 0 {
			l.write(c)
		}
	case phaseReading:
		if c.events != 0 {
			l.read(c)
		}
	}
}

// scan fails the requests past their deadline.
func (l *eventLoop) scan(now time.Time) {
	l.nextScan = now.Add(l.scanEvery)
	for _, c := range l.conns {
		if c.phase == phaseIdle || now.Before(c.deadline) {
			continue
		}
		if c.phase == phaseConnecting {
			l.closeConn(c)
			l.connectFailed(c, fmt.Errorf("dial tcp %s: %w", l.p.target.addr, os.ErrDeadlineExceeded))
			continue
		}
		l.failed(c, errTimeout, false)
	}
}

// startNext starts the next request of a closed-loop connection, unless the run is over.
func (l *eventLoop) startNext(c *conn) {
	if l.stopping {
		return
	}
	p := l.p
	now := time.Now()
	measured := !now.Before(p.measureFrom)
	if measured {
		// Taking a ticket before sending makes the request count exact: every ticket becomes
		// one recorded request unless the run is cancelled.
		if p.timed && !now.Before(p.until) || p.limited && p.budget.Add(-1) < 0 {
			l.stopping = true
			return
		}
	}
	req := &p.reqs[c.next]
	if c.next++; c.next == len(p.reqs) {
		c.next = 0
	}
	l.start(c, req, time.Time{}, measured)
}

// dispatch sends the open loop's due tickets, as far as there are connections for them, and
// notes when the next one is due.
func (l *eventLoop) dispatch() {
	p := l.p
	l.due = time.Time{}
	for !l.closed {
		if l.ticket >= p.endTicket {
			l.closed = true
			return
		}
		t := p.intended(l.ticket)
		now := time.Now()
		if t.After(now) {
			l.waiting = time.Time{}
			if len(l.idle) > 0 || p.slots.Load() < int64(p.cfg.MaxConnections) {
				l.due = t
			}
			return
		}
		if now.After(p.stopAt) {
			l.closed = true // what is left is Unsent
			return
		}
		c := l.popIdle()
		if c == nil {
			if l.waiting.IsZero() {
				l.waiting = now
			}
			if now.Sub(l.waiting) >= spawnDelay {
				if c = l.spawn(); c != nil {
					l.waiting = now // the next new connection after another wait
				}
			}
			if c == nil {
				if p.slots.Load() < int64(p.cfg.MaxConnections) {
					l.due = l.waiting.Add(spawnDelay)
				}
				return // the next connection to finish takes it, late, or a new one then
			}
		} else {
			l.waiting = time.Time{}
		}
		g := l.ticket
		l.ticket += int64(p.cfg.Threads)
		measured := g >= p.warmTickets
		if measured {
			l.started++
		}
		l.start(c, &p.reqs[g%int64(len(p.reqs))], t, measured)
	}
}

// popIdle returns a connection without a request, if any.
func (l *eventLoop) popIdle() *conn {
	n := len(l.idle)
	if n == 0 {
		return nil
	}
	c := l.idle[n-1]
	l.idle = l.idle[:n-1]
	return c
}

// spawn adds a connection slot, if the run may have more.
func (l *eventLoop) spawn() *conn {
	if l.p.slots.Add(1) > int64(l.p.cfg.MaxConnections) {
		l.p.slots.Add(-1)
		return nil
	}
	return l.newConn()
}

// start begins a request on an idle connection.
func (l *eventLoop) start(c *conn, req *wireRequest, intended time.Time, measured bool) {
	c.x = exchange{req: req, intended: intended, measured: measured}
	c.resent = false
	l.busy++
	if c.fd >= 0 && c.events != 0 {
		l.probe(c)
	}
	if c.fd < 0 {
		l.connect(c)
		return
	}
	l.send(c)
}

// probe looks at what arrived on an idle connection: most likely the server closed it, and then
// it is closed here too, before a request is sent over it in vain.
func (l *eventLoop) probe(c *conn) {
	c.events = 0
	space := c.rr.free()
	if len(space) == 0 {
		return
	}
	n, err := readFD(c.fd, space)
	switch {
	case n > 0:
		c.rr.added(n) // unsolicited bytes: the next response will have to make sense of them
	case err == syscall.EAGAIN:
	default:
		l.closeConn(c)
	}
}

// send writes the connection's request.
func (l *eventLoop) send(c *conn) {
	if c.x.start.IsZero() {
		c.x.start = time.Now()
	}
	c.deadline = c.x.start.Add(l.p.cfg.Timeout)
	c.written = 0
	c.sentPending, c.sentRead = c.rr.buffered(), c.rr.read
	c.p.begin(c.x.req.body, l.p.cfg.Verify)
	c.phase = phaseWriting
	l.write(c)
}

// write writes what it can of the request, then reads the response.
func (l *eventLoop) write(c *conn) {
	b := c.x.req.bytes
	for c.written < len(b) {
		n, err := writeFD(c.fd, b[c.written:])
		switch {
		case n > 0:
			c.written += n
			continue
		case err == syscall.EAGAIN:
			return // on with EPOLLOUT
		case err == syscall.EINTR:
			continue
		case err == nil:
			err = io.ErrShortWrite
		}
		l.failed(c, err, c.reused && isClosedConn(err))
		return
	}
	c.phase = phaseReading
	if c.rr.buffered() > 0 {
		if done, err := c.p.advance(c.rr, false); err != nil {
			l.failed(c, err, false)
			return
		} else if done {
			l.completed(c)
			return
		}
	}
	if c.events != 0 {
		l.read(c)
	}
}

// read reads what arrived and parses it.
func (l *eventLoop) read(c *conn) {
	hangup := c.events&hangupEvents != 0
	c.events = 0
	for {
		space := c.rr.free()
		if len(space) == 0 { // a parser reports a full buffer first; never read 0 bytes
			l.failed(c, errLineTooLong, false)
			return
		}
		n, err := readFD(c.fd, space)
		switch {
		case n > 0:
			c.rr.added(n)
			done, err := c.p.advance(c.rr, false)
			switch {
			case err != nil:
				l.failed(c, err, false)
				return
			case done:
				l.completed(c)
				return
			case n < len(space) && !hangup:
				// The socket is drained: edge-triggered epoll reports the next bytes. (A
				// close that came with these bytes was reported as a hang-up.)
				return
			}
		case err == nil: // end of stream
			done, err := c.p.advance(c.rr, true)
			if done {
				l.completed(c)
				return
			}
			l.failed(c, err, err == io.EOF && l.stale(c))
			return
		case err == syscall.EAGAIN:
			return
		case err == syscall.EINTR:
		default:
			l.failed(c, err, isClosedConn(err) && l.stale(c))
			return
		}
	}
}

// stale reports whether the response failed before any byte of it on a connection that had
// carried one: the server had closed it while idle.
func (l *eventLoop) stale(c *conn) bool {
	return c.reused && c.sentPending == 0 && c.rr.read == c.sentRead
}

// completed finishes a request that got its whole response.
func (l *eventLoop) completed(c *conn) {
	c.x.end = time.Now()
	resp := &c.p.resp
	c.reused = true
	if resp.close {
		l.closeConn(c)
	}
	c.x.complete = true
	c.x.status = resp.status
	c.x.class = judge(resp, c.x.req, l.p.cfg.Verify)
	l.finish(c)
}

// failed finishes a request that failed after its connection was open, or sends it again on a
// new connection when the old one had gone stale.
func (l *eventLoop) failed(c *conn, err error, stale bool) {
	l.closeConn(c)
	if stale && !c.resent {
		c.resent = true
		l.connect(c)
		return
	}
	c.x.end = time.Now()
	c.x.class, c.x.err = classProtocol, err
	if err == errTimeout {
		c.x.class = classTimeout
	}
	l.finish(c)
}

// finish records a request and frees its connection.
func (l *eventLoop) finish(c *conn) {
	if c.x.measured {
		l.rec.add(&c.x)
	}
	c.x.req = nil
	c.phase = phaseIdle
	l.busy--
	switch {
	case l.p.open:
		l.idle = append(l.idle, c)
	case l.starting:
		// A request that failed as it was started (a refused connection): the next waits
		// for the next round, after a look at the events, rather than recurse.
		l.ready = append(l.ready, c)
	default:
		// The next request leaves at once: the server can work on it while the loop reads
		// the other responses.
		l.starting = true
		l.startNext(c)
		l.starting = false
	}
}

// connect starts opening the connection, for its request if it has one.
func (l *eventLoop) connect(c *conn) {
	if c.x.req != nil {
		c.x.dials++
	} else {
		l.dials++
	}
	if l.addrErr != nil {
		l.connectFailed(c, l.addrErr)
		return
	}
	c.base, c.attempt = int(l.preferred.Load()), 0
	l.tryConnect(c, nil)
}

// tryConnect tries the addresses from the preferred one on, from attempt c.attempt.
func (l *eventLoop) tryConnect(c *conn, lastErr error) {
	for ; c.attempt < len(l.addrs); c.attempt++ {
		sa := l.addrs[(c.base+c.attempt)%len(l.addrs)]
		family := syscall.AF_INET
		if _, ok := sa.(*syscall.SockaddrInet6); ok {
			family = syscall.AF_INET6
		}
		fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
		if err != nil {
			lastErr = os.NewSyscallError("socket", err)
			break // out of descriptors, most likely: another address will not help
		}
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		err = syscall.Connect(fd, sa)
		if err != nil && err != syscall.EINPROGRESS && err != syscall.EINTR {
			syscall.Close(fd)
			lastErr = os.NewSyscallError("connect", err)
			continue
		}
		ev := syscall.EpollEvent{Events: connEvents, Fd: c.slot, Pad: int32(fd)}
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			syscall.Close(fd)
			lastErr = os.NewSyscallError("epoll_ctl", err)
			break
		}
		c.fd = fd
		c.rr.reset(nil)
		c.reused = false
		c.events = 0
		c.phase = phaseConnecting
		c.deadline = time.Now().Add(l.p.cfg.Timeout)
		return // on with EPOLLOUT (at once if already connected)
	}
	if lastErr == nil {
		lastErr = errors.New("no address")
	}
	l.connectFailed(c, fmt.Errorf("dial tcp %s: %w", l.p.target.addr, lastErr))
}

// connected handles the end of a connection attempt.
func (l *eventLoop) connected(c *conn) {
	soerr, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err == nil && soerr != 0 {
		err = syscall.Errno(soerr)
	}
	switch err {
	case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		return // not yet
	case nil:
		l.preferred.Store(int32((c.base + c.attempt) % len(l.addrs)))
		c.phase = phaseIdle
		if c.x.req != nil {
			l.send(c)
		}
		return
	}
	l.closeConn(c)
	c.attempt++
	l.tryConnect(c, os.NewSyscallError("connect", err))
}

// connectFailed finishes a request whose connection could not be opened.
func (l *eventLoop) connectFailed(c *conn, err error) {
	c.phase = phaseIdle
	if c.x.req == nil {
		return // opened ahead of need: the request that gets the slot will try again
	}
	c.x.end = time.Now()
	c.x.class, c.x.err = classConnect, err
	l.finish(c)
}

// readFD and writeFD are read(2) and write(2) on a non-blocking socket: they never block, so
// they need not tell the scheduler (syscall.Read and Write do, at a cost of about 5% of the
// generator's CPU per request).
func readFD(fd int, p []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

func writeFD(fd int, p []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

// closeConn closes the connection's socket, if open; its slot stays.
func (l *eventLoop) closeConn(c *conn) {
	if c.fd >= 0 {
		syscall.Close(c.fd) // which also removes it from the epoll set
		c.fd = -1
	}
	c.rr.reset(nil)
	c.reused = false
	c.events = 0
}

// isClosedConn reports whether err says that the peer closed the connection.
func isClosedConn(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// testHookResolve is resolve, but in tests that need other addresses.
var testHookResolve = resolve

// resolve turns host:port into socket addresses: an IP literal as it is, a name (localhost, or
// any with AllowRemote) through the resolver, once for the whole run.
func resolve(ctx context.Context, hostport string, timeout time.Duration) ([]syscall.Sockaddr, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("dial tcp %s: %w", hostport, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("dial tcp %s: bad port", hostport)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		ips, err = net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("dial tcp %s: %w", hostport, err)
		}
	}
	var sas []syscall.Sockaddr
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			sas = append(sas, &syscall.SockaddrInet4{Port: port, Addr: ip.Unmap().As4()})
			continue
		}
		sa := &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}
		if zone := ip.Zone(); zone != "" {
			if ifi, err := net.InterfaceByName(zone); err == nil {
				sa.ZoneId = uint32(ifi.Index)
			} else if n, err := strconv.Atoi(zone); err == nil {
				sa.ZoneId = uint32(n)
			}
		}
		sas = append(sas, sa)
	}
	if len(sas) == 0 {
		return nil, fmt.Errorf("dial tcp %s: no address", hostport)
	}
	return sas, nil
}
