package strategies

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// directConn is DirectConn's connection. Like net's own, it may be used from several
// goroutines at once, and each Write is sent whole: Reads take rmu and Writes wmu for the
// whole call. Each side's state is filled in by a callback handed to the socket's RawConn; the
// callbacks are bound once, so that a call allocates nothing.
type directConn struct {
	net.Conn
	rc       syscall.RawConn
	rmu, wmu sync.Mutex
	rd, wr   ioState
	readFn   func(fd uintptr) bool
	writeFn  func(fd uintptr) bool
	// The system calls: raw in ordinary builds, package syscall's under the race detector and
	// the sanitizers (directconn_raw.go, directconn_checked.go); tests set either.
	sysRead, sysWrite func(fd uintptr, p []byte) (int, syscall.Errno)
}

type ioState struct {
	buf   []byte
	n     int
	errno syscall.Errno
	err   error
}

// direct wraps stream sockets only (TCP, unix stream): for a datagram socket a read of 0 bytes
// is an empty datagram, not the end.
func direct(c net.Conn) net.Conn {
	switch c := c.(type) {
	case *net.TCPConn:
	case *net.UnixConn:
		if c.LocalAddr().Network() != "unix" {
			return c
		}
	default:
		return c
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return c
	}
	d := &directConn{Conn: c, rc: rc, sysRead: sysRead, sysWrite: sysWrite}
	d.readFn, d.writeFn = d.readReady, d.writeReady
	return d
}

// SyscallConn implements syscall.Conn: the socket underneath.
func (c *directConn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// CloseWrite shuts down the writing side, as net.TCPConn and net.UnixConn do (net/http's
// server uses it before closing a connection).
func (c *directConn) CloseWrite() error { return c.Conn.(interface{ CloseWrite() error }).CloseWrite() }

// CloseRead shuts down the reading side, as net.TCPConn and net.UnixConn do.
func (c *directConn) CloseRead() error { return c.Conn.(interface{ CloseRead() error }).CloseRead() }

func nothing(uintptr) {}

// empty answers a Read or Write of nothing as net's connections do: an error if the connection
// is closed, else nothing to do.
func (c *directConn) empty(op string) (int, error) {
	if err := c.rc.Control(nothing); err != nil {
		return 0, c.opError(op, err)
	}
	return 0, nil
}

func (c *directConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return c.empty("read")
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rd = ioState{buf: p}
	err := c.rc.Read(c.readFn)
	n, errno := c.rd.n, c.rd.errno
	c.rd.buf = nil
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readReady is the RawConn callback: false asks to wait until the socket is readable.
func (c *directConn) readReady(fd uintptr) bool {
	for {
		n, errno := c.sysRead(fd, c.rd.buf)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rd.n, c.rd.errno = n, errno
		return true
	}
}

func (c *directConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return c.empty("write")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wr = ioState{buf: p}
	err := c.rc.Write(c.writeFn)
	n := c.wr.n
	if err == nil {
		err = c.wr.err
	}
	c.wr.buf = nil
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// writeReady is the RawConn callback: it writes until all is written or the socket is full
// (false: wait until it is writable, then go on from where it stopped).
func (c *directConn) writeReady(fd uintptr) bool {
	for c.wr.n < len(c.wr.buf) {
		n, errno := c.sysWrite(fd, c.wr.buf[c.wr.n:])
		switch {
		case errno == syscall.EINTR:
		case errno == syscall.EAGAIN:
			return false
		case errno != 0:
			c.wr.err = os.NewSyscallError("write", errno)
			return true
		case n == 0:
			// A stream socket that takes nothing and reports no error: as net does.
			c.wr.err = io.ErrUnexpectedEOF
			return true
		default:
			c.wr.n += n
		}
	}
	return true
}

// opError names the operation and the connection's ends, as net's own errors do. An error from
// the RawConn (closed connection, deadline) already is a *net.OpError.
func (c *directConn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// rawRead and rawWrite are read(2) and write(2) without the scheduler's system-call hooks: for
// a non-blocking socket only, which never blocks.
func rawRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

func rawWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// checkedRead and checkedWrite go through package syscall, which tells the race detector (and
// the memory and address sanitizers) what a socket call reads and writes, and that a write to a
// socket happens before the read that sees its bytes.
func checkedRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	if err != nil {
		return 0, err.(syscall.Errno)
	}
	return n, 0
}

func checkedWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	if err != nil {
		return 0, err.(syscall.Errno)
	}
	return n, 0
}

// SocketRead reads from a non-blocking socket as DirectConn does: with a raw system call,
// which a read that cannot block allows (it skips the scheduler's bookkeeping), or through
// package syscall under the race detector and the sanitizers. The event-loop front end of the
// fastcgi strategy uses it.
func SocketRead(fd int, p []byte) (int, syscall.Errno) { return sysRead(uintptr(fd), p) }

// SocketWrite writes to a non-blocking socket, as SocketRead reads.
func SocketWrite(fd int, p []byte) (int, syscall.Errno) { return sysWrite(uintptr(fd), p) }
