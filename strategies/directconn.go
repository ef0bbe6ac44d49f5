package strategies

import "net"

// DirectConn returns c with its Read and Write done as plain read(2) and write(2) calls on its
// non-blocking socket, waiting in Go's network poller only when the socket is not ready; on
// Linux, for stream sockets (*net.TCPConn, unix stream *net.UnixConn). Anything else is
// returned as it is. It behaves as c does: safe for concurrent use, each Write sent whole,
// deadlines, Close, CloseRead and CloseWrite, SyscallConn. What it lacks is c's ReadFrom and
// WriteTo (sendfile and splice), which nothing served here needs: no strategy answers with a
// file.
//
// Why: a front end spends most of its time in short socket calls. Go treats every ordinary
// system call as one that may block: it tells the scheduler on the way in and out, and its
// monitor thread wakes up to take the processor from a call that has not returned within
// 20 µs, to give it to another thread. On a small machine, where the server's threads share
// the CPUs with the workers and the load generator, those hand-offs and wake-ups cost the
// front end context switches that an event loop such as lighttpd's does not pay
// (scripts/bench-fastcgi.sh prints the front end's CPU per request).
//
// Under the race detector the calls go through package syscall, which tells the detector
// that what one goroutine writes to a socket happens before another reads it.
func DirectConn(c net.Conn) net.Conn { return direct(c) }

// directListener accepts DirectConns.
type directListener struct{ net.Listener }

func (l directListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return DirectConn(c), nil
}
