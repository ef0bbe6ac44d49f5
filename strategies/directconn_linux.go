package strategies

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// directConn is DirectConn's connection. One Read and one Write may run at once, as net.Conn
// allows; each has its own state, which the callbacks handed to the socket's RawConn fill in.
// The callbacks are bound once, so that a call allocates nothing.
type directConn struct {
	net.Conn
	rc      syscall.RawConn
	rd, wr  ioState
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

type ioState struct {
	buf   []byte
	n     int
	errno syscall.Errno
}

func direct(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	d := &directConn{Conn: c, rc: rc}
	d.readFn, d.writeFn = d.readReady, d.writeReady
	return d
}

// SyscallConn implements syscall.Conn: the socket underneath.
func (c *directConn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// CloseWrite shuts down the writing side, as net.TCPConn and net.UnixConn do (net/http's
// server uses it before closing a connection).
func (c *directConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.opError("close", errors.ErrUnsupported)
}

func (c *directConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
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
		n, errno := sysRead(fd, c.rd.buf)
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
		return 0, nil
	}
	c.wr = ioState{buf: p}
	err := c.rc.Write(c.writeFn)
	n, errno := c.wr.n, c.wr.errno
	c.wr.buf = nil
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// writeReady is the RawConn callback: it writes until all is written or the socket is full
// (false: wait until it is writable, then go on from where it stopped).
func (c *directConn) writeReady(fd uintptr) bool {
	for c.wr.n < len(c.wr.buf) {
		n, errno := sysWrite(fd, c.wr.buf[c.wr.n:])
		switch errno {
		case 0:
			c.wr.n += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.wr.errno = errno
			return true
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

// checkedRead and checkedWrite go through package syscall, which tells the race detector about
// the ordering a socket creates.
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
