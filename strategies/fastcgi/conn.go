package fastcgi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors an FCGI_END_REQUEST can carry instead of FCGI_REQUEST_COMPLETE: the application
// rejected the request. Response.Read returns them (unwrapped) in place of io.EOF.
var (
	// ErrCantMpxConn is FCGI_CANT_MPX_CONN: the application does not take a second request on a
	// connection that has one under way. The client never multiplexes, so it means a confused
	// application.
	ErrCantMpxConn = errors.New("fastcgi: application rejected the request: FCGI_CANT_MPX_CONN")
	// ErrOverloaded is FCGI_OVERLOADED: the application ran out of some resource. The HTTP
	// handler answers it with 503.
	ErrOverloaded = errors.New("fastcgi: application rejected the request: FCGI_OVERLOADED")
	// ErrUnknownRole is FCGI_UNKNOWN_ROLE: the application does not play the responder role.
	ErrUnknownRole = errors.New("fastcgi: application rejected the request: FCGI_UNKNOWN_ROLE")
)

var (
	// ErrUnknownType is returned by GetValues when the application answered FCGI_GET_VALUES
	// with FCGI_UNKNOWN_TYPE: it does not know management records. The connection stays usable.
	ErrUnknownType = errors.New("fastcgi: application answered FCGI_UNKNOWN_TYPE")
	// ErrConnLost is wrapped when the connection broke (closed, reset) before the application
	// sent FCGI_END_REQUEST: typically a worker that died mid-request.
	ErrConnLost = errors.New("fastcgi: connection lost before FCGI_END_REQUEST")
	// ErrStdin is wrapped when reading the request body (Request.Stdin) failed.
	ErrStdin = errors.New("fastcgi: reading the request body")
	// ErrClosed is returned by Do on a closed Client or Pool.
	ErrClosed = errors.New("fastcgi: closed")
)

// Request is one request in the responder role.
type Request struct {
	// Params are the CGI meta-variables and any extra variables, as NAME=value strings; an
	// entry without '=' or with an empty name is skipped.
	Params []string
	// Stdin is the request body, sent as FCGI_STDIN until EOF; nil for none. It should hold
	// exactly CONTENT_LENGTH bytes: the client does not count.
	Stdin io.Reader
	// Replayable says that running the request twice does no harm (a GET, HEAD, OPTIONS or
	// TRACE without a body, as net/http judges): it may then be sent again when a kept
	// connection breaks after the request went out but before any answer. Other requests are
	// sent again only when the connection is seen dead before they go out: a program that read
	// one and crashed must not run it twice.
	Replayable bool
}

// prefill bounds the first write of a request, so that a typical request (BEGIN_REQUEST,
// PARAMS, a small body) is one write and needs no goroutine. A longer body is streamed by a
// goroutine while the response is read. It is below the socket buffer sizes, so the write
// cannot block on an application that answers before reading its input.
const prefill = 32 << 10

// The empty FCGI_STDIN record that ends the body must reach the application in the same read
// as the body's last byte. An application that reads exactly CONTENT_LENGTH bytes (a libfcgi
// program's fread, FCGI.pm's read) never asks for the end of the stream, and libfcgi does not
// drain FCGI_STDIN when the request ends: an end record it has not read by then stays in the
// socket, and the next FCGX_Accept, which wants FCGI_BEGIN_REQUEST, takes it for a protocol
// error and hangs up, on the next request. The client therefore
//
//   - sends the end record in the same write as the last byte of the body (copyStdin holds
//     the last byte back until it knows that the body ends there), never on its own;
//   - makes every write of a request but the last a multiple of writeAlign long, so that a
//     reader that fills a buffer of writeAlign bytes (libfcgi reads a request 8 KiB at a time
//     into a fresh buffer, and a read returns less only at the end of what has been written)
//     stops only at multiples of writeAlign from the start of the request;
//   - moves the end record off any multiple of endAlign (see endStdin), where such a reader,
//     or one with a buffer of 1, 2 or 4 KiB, could stop right before it.
const (
	writeAlign = 8 << 10
	endAlign   = 1 << 10
)

// abortWriteTimeout bounds the write of FCGI_ABORT_REQUEST: it is a courtesy, the connection
// is closed right after.
const abortWriteTimeout = 100 * time.Millisecond

// maxStderrLine bounds a buffered partial stderr line; a longer one is logged in pieces.
const maxStderrLine = 16 << 10

// outcome is what a finished request leaves of its connection.
type outcome int

const (
	// reuse: FCGI_END_REQUEST with FCGI_REQUEST_COMPLETE arrived, everything was sent and read;
	// the connection (opened with FCGI_KEEP_CONN) can carry the next request.
	reuse outcome = iota
	// closed: the request ended (FCGI_END_REQUEST arrived) but the connection is not reusable:
	// the application rejected the request, or part of the body was never sent. The application
	// is not working on it any more.
	closed
	// abandoned: the connection was dropped before FCGI_END_REQUEST (abort, timeout, I/O or
	// protocol error): the application may still be running the request.
	abandoned
)

var beginBody = [8]byte{0, roleResponder, flagKeepConn}

var abortRecord = [headerLen]byte{version1, typeAbortRequest, 0, requestID}

// conn is one transport connection carrying one request at a time (request id 1).
type conn struct {
	nc     net.Conn
	rc     syscall.RawConn // for the liveness check; nil when the conn has no file descriptor
	br     *bufio.Reader
	wbuf   []byte // the request's first write, reused
	rbuf   []byte // content of stderr and management records
	stderr stderrLines
	wmu    sync.Mutex
	resp   Response

	// redial opens a new connection to the same place, for a stale one; nil: none.
	redial func(context.Context) (net.Conn, error)
	// used: the connection carried an exchange before, so it may have gone stale since.
	used bool

	abortFn func()
	peekFn  func(fd uintptr) bool
	quiet   bool // what peek found
	// next is the byte of the body after the prefill, read to learn whether there is more.
	next [1]byte
}

func newConn(nc net.Conn, logStderr func([]byte), redial func(context.Context) (net.Conn, error)) *conn {
	c := &conn{
		br:     bufio.NewReaderSize(nc, 16<<10),
		wbuf:   make([]byte, 0, 4<<10),
		redial: redial,
	}
	c.stderr.log = logStderr
	c.setNC(nc)
	// Bound once here so that a request allocates no closures.
	c.abortFn = c.abort
	c.peekFn = c.peek
	return c
}

func (c *conn) setNC(nc net.Conn) {
	c.nc = nc
	c.br.Reset(nc)
	c.rc = nil
	if sc, ok := nc.(syscall.Conn); ok {
		c.rc, _ = sc.SyscallConn()
	}
}

// errNoRedial is returned by reconnect for a conn that cannot be reopened.
var errNoRedial = errors.New("fastcgi: connection cannot be reopened")

// reconnect replaces a stale connection by a new one to the same address. The caller makes
// sure that no abort can run meanwhile.
func (c *conn) reconnect(ctx context.Context) error {
	if c.redial == nil {
		return errNoRedial
	}
	nc, err := c.redial(ctx)
	if err != nil {
		return err
	}
	c.nc.Close()
	c.setNC(nc)
	c.stderr.part = c.stderr.part[:0]
	return nil
}

// stale reports whether err, met before any byte of the answer, is what a connection the
// peer closed while it was idle gives: EOF, a reset, a broken pipe.
func stale(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// alive reports whether an idle connection can carry a request: the peer has not closed it
// and has sent nothing unasked. It costs one non-blocking recv(MSG_PEEK), so it is used only
// before a request that cannot be sent again (see start).
func (c *conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.rc == nil {
		return true
	}
	if err := c.rc.Read(c.peekFn); err != nil {
		return false
	}
	return c.quiet
}

func (c *conn) peek(fd uintptr) bool {
	c.quiet = quiet(int(fd))
	return true // never wait
}

// quiet reports whether an idle connection is still usable: a non-blocking peek finds no
// byte to read (stray data) and no hang-up.
func quiet(fd int) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n < 0 && err == syscall.EAGAIN
}

// abort runs when the request's context is done: it sends FCGI_ABORT_REQUEST if no other
// write is under way (a stdin write may be blocked on a full socket; never wait for it) and
// closes the connection, which unblocks every read and write on it.
func (c *conn) abort() {
	c.resp.aborted.Store(true)
	c.sendAbort()
	c.nc.Close()
}

func (c *conn) sendAbort() {
	if c.wmu.TryLock() {
		c.nc.SetWriteDeadline(time.Now().Add(abortWriteTimeout))
		c.nc.Write(abortRecord[:])
		c.wmu.Unlock()
	}
}

// start sends a request and returns its response, which is c.resp: a conn has one request
// at a time. On error the conn has been released through release already.
//
// A kept-alive connection may have gone stale while idle: the application exited, or hung up
// although asked to keep the connection (php-cgi does after a management record). A
// Replayable request whose whole body is still in wbuf (it was not streamed), on a reused
// connection that fails before the first byte of the answer, is sent again, once, on a new
// connection, as net/http does. Any other request on a reused connection has the connection
// checked first (alive), which costs a system call, and is sent again only if its write fails.
func (c *conn) start(ctx context.Context, req Request, release func(*conn, outcome)) (*Response, error) {
	r := &c.resp
	r.reset(c, ctx, release)
	r.reused, c.used = c.used, true

	b, more, err := appendRequest(c.wbuf[:0], req, &c.next)
	c.wbuf = b
	if err != nil {
		r.c = nil
		release(c, reuse) // nothing was sent
		return nil, err
	}

	if err := ctx.Err(); err != nil {
		r.c = nil
		release(c, reuse)
		return nil, fmt.Errorf("fastcgi: request not sent: %w", err)
	}
	r.replayable = req.Replayable && !more
	if !r.replayable && r.reused && !c.alive() {
		if err := c.reconnect(ctx); err != nil {
			r.c = nil
			c.nc.Close()
			release(c, closed)
			return nil, fmt.Errorf("fastcgi: reconnecting: %w", err)
		}
	}
	r.arm()
	c.wmu.Lock()
	_, err = c.nc.Write(b)
	c.wmu.Unlock()
	if err != nil && r.reused && stale(err) {
		err = r.resend()
	}
	if err != nil {
		r.fail(err)
		err = r.err
		r.Close()
		return nil, err
	}
	if more {
		r.stdinDone = make(chan struct{})
		go r.copyStdin(c, req.Stdin, c.next[0], r.stdinDone)
	}
	return r, nil
}

// appendRequest appends a request's first write to b, which must be empty: BEGIN_REQUEST,
// the FCGI_PARAMS stream, and FCGI_STDIN, all of it and its end if the body fits (more is
// false), else a first part, and the byte of the body after it in next.
func appendRequest(b []byte, req Request, next *[1]byte) (_ []byte, more bool, err error) {
	b = appendRecord(b, typeBeginRequest, requestID, beginBody[:])
	params := len(b)
	b = appendParams(b, req.Params)
	if parseHeader(b[params:]).ContentLength == 0 {
		params = -1 // no pairs: the stream is just its end
	}
	body := -1
	if req.Stdin != nil {
		body = len(b)
		b, more, err = appendStdin(b, req.Stdin)
		if err == nil && more {
			// A body that just fills the first write must end in it too.
			more, err = readNext(req.Stdin, next)
		}
		if err != nil {
			return b, false, fmt.Errorf("%w: %w", ErrStdin, err)
		}
		if len(b) == body {
			body = -1 // empty
		}
	}
	if !more {
		b = endStdin(b, body, params)
	}
	return b, more, nil
}

// endStdin appends the empty FCGI_STDIN record to a write that starts at a multiple of
// writeAlign from the start of the request (see writeAlign). If it would start at a multiple
// of endAlign, a reader could stop right before it: the bytes before it are made 8 or 16
// longer, by splitting the body's last record (at b[body:], the last in b) when it holds 2
// bytes or more, else by padding the FCGI_PARAMS record at b[params:]. A negative offset
// means there is no such record; it is never needed then.
func endStdin(b []byte, body, params int) []byte {
	if len(b)%endAlign == 0 {
		switch {
		case body >= 0 && parseHeader(b[body:]).ContentLength >= 2:
			b = splitLast(b, body)
		case params >= 0:
			b = padRecord(b, params)
		}
	}
	return appendHeader(b, typeStdin, requestID, 0)
}

// appendParams appends the FCGI_PARAMS stream: the pairs in one record when they fit in
// 65535 bytes (nearly always), else split over several, then the empty record that ends it.
func appendParams(b []byte, params []string) []byte {
	start := len(b)
	b = append(b, zeros[:headerLen]...) // the header, once the length is known
	for _, kv := range params {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" || len(name) > maxPairLen || len(value) > maxPairLen {
			continue
		}
		b = appendPair(b, name, value)
	}
	n := len(b) - start - headerLen
	if n == 0 {
		b = b[:start] // no pairs: an empty record would end the stream here already
	} else if n <= maxContentLen {
		appendHeader(b[start:start], typeParams, requestID, n)
		b = append(b, zeros[:padding(n)]...)
	} else {
		content := append([]byte(nil), b[start+headerLen:]...)
		b = appendStream(b[:start], typeParams, requestID, content)
	}
	return appendHeader(b, typeParams, requestID, 0)
}

// appendStdin appends the start of stdin as one FCGI_STDIN record to b, which holds the
// request from its start, and reports whether stdin may hold more. It reads as much as makes
// the write a multiple of writeAlign long (prefill bytes unless the request's head is longer
// than writeAlign): from prefill-writeAlign+1 to prefill bytes.
func appendStdin(b []byte, stdin io.Reader) ([]byte, bool, error) {
	start := len(b)
	room := prefill - (start+headerLen)%writeAlign
	// Room for the end too: padding, a split of the record (endStdin), the empty record.
	b = slices.Grow(b, headerLen+room+32)
	n, err := io.ReadFull(stdin, b[start+headerLen:start+headerLen+room])
	switch err {
	case nil:
	case io.EOF, io.ErrUnexpectedEOF:
		err = nil
	default:
		return b[:start], false, err
	}
	more := n == room
	if n == 0 {
		return b[:start], more, nil
	}
	b = b[:start+headerLen+n]
	appendHeader(b[start:start], typeStdin, requestID, n)
	return append(b, zeros[:padding(n)]...), more, nil
}

// readNext reads the byte of stdin after the prefill into p and reports whether there was one.
func readNext(stdin io.Reader, p *[1]byte) (bool, error) {
	switch _, err := io.ReadFull(stdin, p[:]); err {
	case nil:
		return true, nil
	case io.EOF:
		return false, nil
	default:
		return false, err
	}
}

// stdinChunk is the content of one streamed FCGI_STDIN record but the last: a record of 32 KiB,
// a multiple of writeAlign, with no padding.
const stdinChunk = 32<<10 - headerLen

// stdinBufs hold a record header, stdinChunk bytes and one more; or the last record (at most
// stdinChunk bytes), its padding, the 16 bytes a split adds (endStdin) and the empty record.
var stdinBufs = sync.Pool{New: func() any { b := make([]byte, headerLen+stdinChunk+32); return &b }}

// copyStdin streams the rest of the body after the first write, next (the byte after it)
// first. A read error closes the connection: the application cannot be told that its input is
// short.
//
// It holds the last byte it has read back until a read says whether more follows: a chunk
// goes out once the byte after it has come, and the last byte only with the empty record
// that ends the stream, in one write (see writeAlign for why).
func (r *Response) copyStdin(c *conn, stdin io.Reader, next byte, done chan struct{}) {
	defer close(done)
	bp := stdinBufs.Get().(*[]byte)
	defer stdinBufs.Put(bp)
	buf := *bp
	data := buf[headerLen : headerLen+stdinChunk+1]
	data[0] = next
	n := 1 // bytes of data held
	for {
		m, err := io.ReadFull(stdin, data[n:])
		n += m
		switch err {
		case nil:
			// A whole chunk and the first byte of the next.
			appendHeader(buf[:0], typeStdin, requestID, stdinChunk)
			if !r.writeStdin(c, buf[:headerLen+stdinChunk]) {
				return
			}
			data[0] = data[stdinChunk]
			n = 1
		case io.EOF, io.ErrUnexpectedEOF:
			appendHeader(buf[:0], typeStdin, requestID, n)
			rec := append(buf[:headerLen+n], zeros[:padding(n)]...)
			// Every write before was a multiple of writeAlign long: this one starts at one.
			rec = endStdin(rec, 0, -1)
			if r.writeStdin(c, rec) {
				r.stdinSent.Store(true)
			}
			return
		default:
			e := fmt.Errorf("%w: %w", ErrStdin, err)
			r.stdinErr.Store(&e)
			c.nc.Close()
			return
		}
	}
}

// writeStdin writes streamed records and reports whether it could. On error the connection is
// broken; the reader sees it too and reports it.
func (r *Response) writeStdin(c *conn, rec []byte) bool {
	c.wmu.Lock()
	_, err := c.nc.Write(rec)
	c.wmu.Unlock()
	return err == nil
}

// Response is the application's answer to one request. Read (or WriteTo) yields FCGI_STDOUT as
// it arrives; FCGI_STDERR goes to the log, a line at a time. At FCGI_END_REQUEST Read returns
// io.EOF, or ErrOverloaded, ErrCantMpxConn or ErrUnknownRole when the application rejected the
// request. Close must be called: it releases the connection, and before the end it aborts the
// request. A Response must not be used after Close; it is recycled with its connection.
type Response struct {
	c       *conn
	ctx     context.Context
	release func(*conn, outcome)
	stop    func() bool // stops the abort on ctx; nil when ctx cannot be done

	remaining  int // content bytes of the current FCGI_STDOUT record not yet read
	pad        int // padding after it
	ended      bool
	broken     bool
	appStatus  uint32
	protocol   uint8
	err        error // io.EOF after a complete request; else why the stream ended
	aborted    atomic.Bool
	stdinDone  chan struct{} // closed when copyStdin returns; nil when it never ran
	stdinErr   atomic.Pointer[error]
	stdinSent  atomic.Bool // copyStdin wrote the whole body and the end of the stream
	stdoutSeen bool
	reused     bool // the connection had carried an exchange before this request
	replayable bool // Request.Replayable, and the whole request is in wbuf
	answered   bool // a byte of the answer has arrived
	resent     bool
	abortFired bool // disarm found the abort already started
}

func (r *Response) reset(c *conn, ctx context.Context, release func(*conn, outcome)) {
	r.c, r.ctx, r.release, r.stop = c, ctx, release, nil
	r.remaining, r.pad = 0, 0
	r.ended, r.broken = false, false
	r.appStatus, r.protocol = 0, 0
	r.err = nil
	r.aborted.Store(false)
	r.stdinDone = nil
	r.stdinErr.Store(nil)
	r.stdinSent.Store(false)
	r.stdoutSeen = false
	r.answered, r.resent, r.abortFired = false, false, false
}

// arm makes the end of the request's context abort it.
func (r *Response) arm() {
	if r.ctx.Done() != nil {
		r.stop = context.AfterFunc(r.ctx, r.c.abortFn)
	}
}

// disarm stops the abort; false means it has run or is running.
func (r *Response) disarm() bool {
	if r.abortFired {
		return false
	}
	if r.stop == nil {
		return true
	}
	ok := r.stop()
	r.stop = nil
	r.abortFired = !ok
	return ok
}

// resend sends the request again on a new connection, once: the reused one was stale.
func (r *Response) resend() error {
	c := r.c
	if r.resent || !r.disarm() {
		return io.ErrUnexpectedEOF
	}
	r.resent = true
	if err := c.reconnect(r.ctx); err != nil {
		r.arm()
		return err
	}
	r.arm()
	c.wmu.Lock()
	_, err := c.nc.Write(c.wbuf)
	c.wmu.Unlock()
	return err
}

// errResponseClosed is returned by Read after Close.
var errResponseClosed = errors.New("fastcgi: read after Close")

// Read implements io.Reader over FCGI_STDOUT.
func (r *Response) Read(p []byte) (int, error) {
	if r.c == nil {
		return 0, errResponseClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	for r.remaining == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.next()
	}
	if len(p) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.c.br.Read(p)
	r.remaining -= n
	if err != nil {
		r.fail(err)
	} else if r.remaining == 0 {
		r.skipPadding()
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err
}

// WriteTo implements io.WriterTo: it writes FCGI_STDOUT content to w straight from the
// connection's buffer. bufio.Reader.WriteTo and io.Copy use it.
func (r *Response) WriteTo(w io.Writer) (int64, error) {
	if r.c == nil {
		return 0, errResponseClosed
	}
	var total int64
	for {
		for r.remaining == 0 {
			if r.err == io.EOF {
				return total, nil
			}
			if r.err != nil {
				return total, r.err
			}
			r.next()
		}
		buf, perr := r.c.br.Peek(min(r.remaining, r.c.br.Size()))
		if len(buf) > 0 {
			n, werr := w.Write(buf)
			r.c.br.Discard(n)
			r.remaining -= n
			total += int64(n)
			if werr != nil {
				return total, werr
			}
		}
		if perr != nil {
			r.fail(perr)
			return total, r.err
		}
		if r.remaining == 0 {
			r.skipPadding()
		}
	}
}

// BodyDone is closed once the goroutine that streams a long request body has finished: the
// whole body sent, or the copy given up. It is nil when the body went out with the request's
// first write. Take it before Close: the Response is reused after Close.
func (r *Response) BodyDone() <-chan struct{} { return r.stdinDone }

// AppStatus is the application status of FCGI_END_REQUEST (for a CGI-like program, its exit
// status); valid once Read has returned io.EOF.
func (r *Response) AppStatus() uint32 { return r.appStatus }

// next reads records until one yields stdout content, ends the request or breaks the stream.
func (r *Response) next() {
	c := r.c
	hb, err := c.br.Peek(headerLen)
	if err != nil {
		if len(hb) == 0 && !r.answered && r.reused && r.replayable && !r.aborted.Load() && stale(err) {
			if err = r.resend(); err == nil {
				return
			}
		}
		r.fail(err)
		return
	}
	r.answered = true
	h := parseHeader(hb)
	c.br.Discard(headerLen)
	if h.Version != version1 {
		r.fail(fmt.Errorf("%w: record version %d, want %d", ErrProtocol, h.Version, version1))
		return
	}
	if h.ID == nullRequestID {
		// A management record in the middle of a request (a late answer to a query, a type
		// from a later protocol version) concerns no request: skip it.
		r.skip(int(h.ContentLength) + int(h.PaddingLength))
		return
	}
	if h.ID != requestID {
		r.fail(fmt.Errorf("%w: record of type %d for request %d, but only request %d is under way", ErrProtocol, h.Type, h.ID, requestID))
		return
	}
	switch h.Type {
	case typeStdout:
		r.stdoutSeen = true
		r.remaining, r.pad = int(h.ContentLength), int(h.PaddingLength)
		if r.remaining == 0 {
			r.skipPadding() // the empty record that ends the stream
		}
	case typeStderr:
		content, ok := r.readContent(h)
		if ok {
			c.stderr.write(content)
		}
	case typeEndRequest:
		content, ok := r.readContent(h)
		if !ok {
			return
		}
		if len(content) < 8 {
			r.fail(fmt.Errorf("%w: FCGI_END_REQUEST body of %d bytes, want 8", ErrProtocol, len(content)))
			return
		}
		r.ended = true
		r.appStatus = binary.BigEndian.Uint32(content)
		r.protocol = content[4]
		c.stderr.flush()
		switch r.protocol {
		case statusRequestComplete:
			r.err = io.EOF
		case statusCantMpxConn:
			r.err = ErrCantMpxConn
		case statusOverloaded:
			r.err = ErrOverloaded
		case statusUnknownRole:
			r.err = ErrUnknownRole
		default:
			r.err = fmt.Errorf("%w: FCGI_END_REQUEST with unknown protocol status %d", ErrProtocol, r.protocol)
		}
	default:
		// A type the responder role does not send to a server: skip it rather than fail.
		r.skip(int(h.ContentLength) + int(h.PaddingLength))
	}
}

func (r *Response) readContent(h header) ([]byte, bool) {
	n := int(h.ContentLength) + int(h.PaddingLength)
	if cap(r.c.rbuf) < n {
		r.c.rbuf = make([]byte, n)
	}
	buf := r.c.rbuf[:n]
	if _, err := io.ReadFull(r.c.br, buf); err != nil {
		r.fail(err)
		return nil, false
	}
	return buf[:h.ContentLength], true
}

func (r *Response) skip(n int) {
	if _, err := r.c.br.Discard(n); err != nil {
		r.fail(err)
	}
}

func (r *Response) skipPadding() {
	if r.pad > 0 {
		n := r.pad
		r.pad = 0
		r.skip(n)
	}
}

// fail records why the stream broke, in the terms a caller can test: the context's error
// when the request was aborted, ErrStdin, ErrProtocol, or ErrConnLost.
func (r *Response) fail(err error) {
	r.broken = true
	switch {
	case r.aborted.Load():
		r.err = fmt.Errorf("fastcgi: request aborted: %w", r.ctx.Err())
	case r.stdinErr.Load() != nil:
		r.err = *r.stdinErr.Load()
	case errors.Is(err, ErrProtocol):
		r.err = err
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		r.err = fmt.Errorf("%w: %w", ErrConnLost, io.ErrUnexpectedEOF)
	default:
		r.err = fmt.Errorf("%w: %w", ErrConnLost, err)
	}
}

// stderrLines logs FCGI_STDERR a whole line at a time, keeping a partial one for the next
// record; a line longer than maxStderrLine is logged in pieces.
type stderrLines struct {
	part []byte
	log  func(line []byte) // nil: the lines are dropped
}

func (s *stderrLines) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.part = append(s.part, p...)
			if len(s.part) >= maxStderrLine {
				s.flush()
			}
			return
		}
		line := p[:i]
		if len(s.part) > 0 {
			s.part = append(s.part, line...)
			line = s.part
		}
		s.emit(line)
		s.part = s.part[:0]
		p = p[i+1:]
	}
}

// flush logs the partial line, if any.
func (s *stderrLines) flush() {
	if len(s.part) > 0 {
		s.emit(s.part)
		s.part = s.part[:0]
	}
}

func (s *stderrLines) emit(line []byte) {
	if s.log != nil {
		s.log(bytes.TrimSuffix(line, []byte("\r")))
	}
}

// Close releases the connection: for the next request if the request ended cleanly,
// otherwise it is closed, after FCGI_ABORT_REQUEST if the request had not ended.
func (r *Response) Close() error {
	c := r.c
	if c == nil {
		return nil
	}
	stopped := r.disarm()
	out := abandoned
	if r.ended {
		out = closed
		if r.protocol == statusRequestComplete && stopped && r.stdinFinished() && c.br.Buffered() == 0 {
			out = reuse
		}
	} else if stopped && !r.broken {
		// The caller stopped reading before the end: the application should stop too.
		c.sendAbort()
	}
	if out != reuse {
		c.nc.Close()
	}
	c.stderr.flush()
	release := r.release
	r.c = nil
	release(c, out)
	return nil
}

// stdinWait bounds how long Close waits, after FCGI_END_REQUEST, for the goroutine that
// streamed the body to return: its last write is done, it may just not have been scheduled.
const stdinWait = 100 * time.Millisecond

// stdinFinished reports whether the whole body was sent, the end of the stream included. The
// application has ended the request, so a goroutine still blocked in a write after stdinWait
// means the application left part of its input unread, and the connection cannot be reused;
// nor can it when a read of the body or a write failed.
func (r *Response) stdinFinished() bool {
	if r.stdinDone == nil {
		return true
	}
	select {
	case <-r.stdinDone:
		return r.stdinSent.Load()
	default:
	}
	t := time.NewTimer(stdinWait)
	defer t.Stop()
	select {
	case <-r.stdinDone:
		return r.stdinSent.Load()
	case <-t.C:
		return false
	}
}

// getValues sends FCGI_GET_VALUES for names and waits for FCGI_GET_VALUES_RESULT. On error
// other than ErrUnknownType the connection is unusable.
func (c *conn) getValues(ctx context.Context, names []string) (map[string]string, error) {
	b := append(c.wbuf[:0], zeros[:headerLen]...)
	for _, name := range names {
		if name == "" || len(name) > maxPairLen {
			return nil, fmt.Errorf("fastcgi: GET_VALUES: bad variable name %q", name)
		}
		b = appendPair(b, name, "")
	}
	n := len(b) - headerLen
	if n > maxContentLen {
		return nil, fmt.Errorf("fastcgi: GET_VALUES: %d bytes of names exceed one record (%d)", n, maxContentLen)
	}
	// libfcgi (fcgiapp.c, FillBuffProc) reads the socket again before it notices that a
	// management record has ended, so a GET_VALUES whose content ends exactly where the bytes
	// received end would wait for more: 8 bytes of padding when the content is already aligned
	// keep the record's end inside the same read. Any padding length is valid.
	pad := padding(n)
	if pad == 0 {
		pad = 8
	}
	b = append(b, zeros[:pad]...)
	b[0], b[1], b[2], b[3] = version1, typeGetValues, 0, nullRequestID
	b[4], b[5], b[6], b[7] = byte(n>>8), byte(n), byte(pad), 0
	c.wbuf = b

	c.used = true
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer stop()
	wrap := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("fastcgi: GET_VALUES: %w", ctx.Err())
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("fastcgi: GET_VALUES: %w", err)
	}
	c.wmu.Lock()
	_, err := c.nc.Write(b)
	c.wmu.Unlock()
	if err != nil {
		return nil, wrap(err)
	}
	for {
		h, content, err := readRecord(c.br, c.rbuf)
		if cap(content) > cap(c.rbuf) {
			c.rbuf = content[:0]
		}
		if err != nil {
			return nil, wrap(err)
		}
		if h.ID != nullRequestID {
			return nil, fmt.Errorf("%w: record of type %d for request %d while waiting for FCGI_GET_VALUES_RESULT", ErrProtocol, h.Type, h.ID)
		}
		switch h.Type {
		case typeGetValuesResult:
			return parsePairs(content)
		case typeUnknownType:
			t := -1
			if len(content) > 0 {
				t = int(content[0])
			}
			return nil, fmt.Errorf("%w (type %d)", ErrUnknownType, t)
		}
		// Any other management record is not the answer: skip it.
	}
}
