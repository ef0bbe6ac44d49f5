package strategies

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sysCalls are the two sets of system calls a directConn may use. The behaviour tests run with
// both: the raw ones ship in ordinary builds, but CI runs the tests under the race detector,
// where DirectConn picks package syscall's.
var sysCalls = []struct {
	name        string
	read, write func(fd uintptr, p []byte) (int, syscall.Errno)
}{
	{"raw", rawRead, rawWrite},
	{"checked", checkedRead, checkedWrite},
}

// eachSys runs f once with each set of system calls.
func eachSys(t *testing.T, f func(t *testing.T, pair func(network string) (near, far net.Conn))) {
	for _, sc := range sysCalls {
		t.Run(sc.name, func(t *testing.T) {
			f(t, func(network string) (net.Conn, net.Conn) {
				near, far := connPair(t, network)
				d := near.(*directConn)
				d.sysRead, d.sysWrite = sc.read, sc.write
				return near, far
			})
		})
	}
}

// eachSysAndNetwork runs f with each set of system calls, over TCP and over unix sockets.
func eachSysAndNetwork(t *testing.T, f func(t *testing.T, near, far net.Conn)) {
	eachSys(t, func(t *testing.T, pair func(string) (net.Conn, net.Conn)) {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(network, func(t *testing.T) {
				near, far := pair(network)
				f(t, near, far)
			})
		}
	})
}

// connPair returns two connected sockets of the network ("tcp" on 127.0.0.1 or "unix"): the
// near end wrapped by DirectConn, the far end as net made it.
func connPair(t testing.TB, network string) (near, far net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	far = <-accepted
	if far == nil {
		t.FailNow()
	}
	near = DirectConn(c)
	t.Cleanup(func() { near.Close(); far.Close() })
	return near, far
}

func TestDirectConnWraps(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		near, _ := connPair(t, network)
		if _, ok := near.(*directConn); !ok {
			t.Errorf("DirectConn returned %T; want *directConn", near)
		}
		if _, err := near.(syscall.Conn).SyscallConn(); err != nil {
			t.Errorf("SyscallConn: %v", err)
		}
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := DirectConn(a); got != a {
		t.Errorf("DirectConn(net.Pipe end) = %T; want the connection unchanged", got)
	}
	// Datagram sockets stay as they are: an empty datagram is not the end of a stream.
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if got := DirectConn(udp); got != net.Conn(udp) {
		t.Errorf("DirectConn(udp) = %T; want the connection unchanged", got)
	}
	gram, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "g"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer gram.Close()
	if got := DirectConn(gram); got != net.Conn(gram) {
		t.Errorf("DirectConn(unixgram) = %T; want the connection unchanged", got)
	}
}

// TestDirectConnBothWays sends 4 MiB each way at once through one DirectConn, the far end
// reading in small pieces, so that writes fill the socket and resume, and Read and Write run
// concurrently on the one connection.
func TestDirectConnBothWays(t *testing.T) { eachSysAndNetwork(t, bothWays) }

func bothWays(t *testing.T, near, far net.Conn) {
	out, in := make([]byte, 4<<20), make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range out {
		out[i], in[i] = byte(rng.Uint32()), byte(rng.Uint32())
	}
	var wg sync.WaitGroup
	var nearGot, farGot []byte
	var nearWriteErr, farWriteErr, nearReadErr, farReadErr error
	wg.Add(4)
	go func() { // near → far, in writes of uneven sizes
		defer wg.Done()
		for rest := out; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(300<<10))
			n, err := near.Write(rest[:k])
			if err == nil && n != k {
				err = io.ErrShortWrite
			}
			if err != nil {
				nearWriteErr = err
				return
			}
			rest = rest[k:]
		}
	}()
	go func() {
		defer wg.Done()
		_, farWriteErr = far.Write(in)
	}()
	go func() { // the far end reads slowly: small buffers
		defer wg.Done()
		farGot, farReadErr = readN(far, len(out), 1500)
	}()
	go func() {
		defer wg.Done()
		nearGot, nearReadErr = readN(near, len(in), 64<<10)
	}()
	wg.Wait()
	for _, err := range []error{nearWriteErr, farWriteErr, nearReadErr, farReadErr} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(farGot, out) {
		t.Errorf("far end got %d bytes, crc %08x; want %d, crc %08x", len(farGot), crc32.ChecksumIEEE(farGot), len(out), crc32.ChecksumIEEE(out))
	}
	if !bytes.Equal(nearGot, in) {
		t.Errorf("near end got %d bytes, crc %08x; want %d, crc %08x", len(nearGot), crc32.ChecksumIEEE(nearGot), len(in), crc32.ChecksumIEEE(in))
	}
}

// readN reads from c, size bytes at most per Read, until it has n bytes or an error.
func readN(c net.Conn, n, size int) ([]byte, error) {
	var got []byte
	buf := make([]byte, size)
	for len(got) < n {
		k, err := c.Read(buf)
		got = append(got, buf[:k]...)
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// TestDirectConnConcurrentWrites: Writes from two goroutines at once each arrive whole, as with
// net's own connections.
func TestDirectConnConcurrentWrites(t *testing.T) {
	eachSys(t, func(t *testing.T, pair func(string) (net.Conn, net.Conn)) {
		near, far := pair("unix")
		const msgs, size = 2000, 512
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(far)
			got <- b
		}()
		var wg sync.WaitGroup
		for _, letter := range []byte("AB") {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := bytes.Repeat([]byte{letter}, size)
				for range msgs {
					if _, err := near.Write(m); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		near.Close()
		b := <-got
		if len(b) != 2*msgs*size {
			t.Fatalf("got %d bytes; want %d", len(b), 2*msgs*size)
		}
		for i := 0; i < len(b); i += size {
			if m := b[i : i+size]; bytes.Count(m, m[:1]) != size {
				t.Fatalf("bytes %d to %d mix two writes: %q…", i, i+size, m[:16])
			}
		}
	})
}

func TestDirectConnEOFAndCloseWrite(t *testing.T) { eachSysAndNetwork(t, eofAndCloseWrite) }

func eofAndCloseWrite(t *testing.T, near, far net.Conn) {
	// Half close from the near end: the far end sees EOF, the near end can still read.
	if err := near.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if n, err := far.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("far Read after CloseWrite = %d, %v; want 0, EOF", n, err)
	}
	far.Write([]byte("last"))
	far.Close()
	got, err := io.ReadAll(near)
	if err != nil || string(got) != "last" {
		t.Errorf("near ReadAll = %q, %v; want \"last\", nil", got, err)
	}
	if n, err := near.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("Read at end = %d, %v; want 0, io.EOF itself", n, err)
	}
	if n, err := near.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	near.Close()
	if _, err := near.Read(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read(nil) after Close: %v; want net.ErrClosed, as net's", err)
	}
	if _, err := near.Write(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write(nil) after Close: %v; want net.ErrClosed, as net's", err)
	}
}

func TestDirectConnDeadlines(t *testing.T) {
	eachSys(t, func(t *testing.T, pair func(string) (net.Conn, net.Conn)) { deadlines(t, pair) })
}

func deadlines(t *testing.T, pair func(string) (net.Conn, net.Conn)) {
	near, _ := pair("tcp")
	near.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, err := near.Read(make([]byte, 8))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Read past the deadline: %v; want a net.Error that times out, os.ErrDeadlineExceeded", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Errorf("Read past the deadline: %#v; want a *net.OpError with Op \"read\"", err)
	}
	near.SetReadDeadline(time.Time{})

	// The far end never reads: the socket fills, then the write deadline ends the Write.
	big := make([]byte, 32<<20) // more than loopback TCP buffers hold
	near.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := near.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= len(big) {
		t.Errorf("Write past the deadline = %d, %v; want part written and os.ErrDeadlineExceeded", n, err)
	}

	// net/http stops a read it no longer wants by moving the deadline into the past from
	// another goroutine.
	near.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := near.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the Read waits in the poller
	near.SetReadDeadline(time.Unix(1, 0))
	awaitErr(t, done, os.ErrDeadlineExceeded, "Read aborted by a past deadline")
}

// awaitErr waits up to 5 s for a blocked call's error on ch and checks that it is want.
func awaitErr(t *testing.T, ch <-chan error, want error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		if !errors.Is(err, want) {
			t.Errorf("%s: %v; want %v", what, err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: still blocked after 5 s", what)
	}
}

func TestDirectConnCloseUnblocks(t *testing.T) {
	eachSys(t, func(t *testing.T, pair func(string) (net.Conn, net.Conn)) { closeUnblocks(t, pair) })
}

func closeUnblocks(t *testing.T, pair func(string) (net.Conn, net.Conn)) {
	near, _ := pair("unix")
	done := make(chan error, 1)
	go func() {
		_, err := near.Read(make([]byte, 8))
		done <- err
	}()
	// The far end never writes nor reads: a Write of more than the socket holds blocks too.
	wrote := make(chan error, 1)
	go func() {
		_, err := near.Write(make([]byte, 32<<20))
		wrote <- err
	}()
	time.Sleep(100 * time.Millisecond) // both wait in the poller
	near.Close()
	awaitErr(t, done, net.ErrClosed, "Read when closed")
	awaitErr(t, wrote, net.ErrClosed, "Write when closed")
	if _, err := near.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v; want net.ErrClosed", err)
	}
}

// TestDirectConnPeerGone: writing to a connection the peer has closed fails with an error (the
// process is not killed by SIGPIPE).
func TestDirectConnPeerGone(t *testing.T) { eachSysAndNetwork(t, peerGone) }

func peerGone(t *testing.T, near, far net.Conn) {
	far.Close()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = near.Write(make([]byte, 64<<10))
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" || !(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("writing to a closed peer: %v; want a write *net.OpError with EPIPE or ECONNRESET", err)
	}
}

// TestRawSyscalls exercises the raw calls that non-race builds use (the test binary under -race
// uses package syscall's), on a non-blocking socket pair, in one goroutine.
func TestRawSyscalls(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	buf := make([]byte, 16)
	if n, errno := rawRead(uintptr(fds[0]), buf); n != 0 || errno != syscall.EAGAIN {
		t.Errorf("rawRead of an empty socket = %d, %v; want 0, EAGAIN", n, errno)
	}
	if n, errno := rawWrite(uintptr(fds[1]), []byte("hello")); n != 5 || errno != 0 {
		t.Fatalf("rawWrite = %d, %v; want 5, 0", n, errno)
	}
	if n, errno := rawRead(uintptr(fds[0]), buf); n != 5 || errno != 0 || string(buf[:n]) != "hello" {
		t.Errorf("rawRead = %d, %v, %q; want 5, 0, \"hello\"", n, errno, buf[:n])
	}
	if n, errno := rawRead(^uintptr(0), buf); n != 0 || errno != syscall.EBADF {
		t.Errorf("rawRead of a bad descriptor = %d, %v; want 0, EBADF", n, errno)
	}
	// Fill the socket: the last write is EAGAIN, as writeReady expects.
	chunk := make([]byte, 64<<10)
	var errno syscall.Errno
	for i := 0; i < 1000 && errno == 0; i++ {
		_, errno = rawWrite(uintptr(fds[1]), chunk)
	}
	if errno != syscall.EAGAIN {
		t.Errorf("writing into a full socket: %v; want EAGAIN", errno)
	}
}

// TestDirectConnRaceOrdering: memory written before a write to a socket and read after the
// read that receives it is ordered for the race detector too, whichever end is a DirectConn.
// It uses the calls DirectConn picks for the build: raw system calls under -race would make the
// detector report a race here.
func TestDirectConnRaceOrdering(t *testing.T) {
	near, far := connPair(t, "unix")
	var shared [64]int
	done := make(chan struct{})
	go func() { // writer: plain conn
		defer close(done)
		for i := range 100 {
			shared[i%64] = i
			far.Write([]byte{byte(i)})
			if _, err := far.Read(make([]byte, 1)); err != nil {
				t.Error(err)
				return
			}
			_ = shared[i%64]
		}
	}()
	b := make([]byte, 1)
	for i := range 100 {
		if _, err := io.ReadFull(near, b); err != nil {
			t.Fatal(err)
		}
		shared[i%64]++
		near.Write(b)
	}
	<-done
}

func TestDirectConnAllocs(t *testing.T) {
	near, far := connPair(t, "unix")
	msg, buf := []byte("ping"), make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		near.Write(msg)
		io.ReadFull(far, buf[:len(msg)])
		far.Write(msg)
		io.ReadFull(near, buf[:len(msg)])
	})
	if allocs != 0 {
		t.Errorf("a write and a read allocate %.1f times; want 0", allocs)
	}
}
