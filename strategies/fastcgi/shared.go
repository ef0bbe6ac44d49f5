package fastcgi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// sharedSocket is what a Pool with PoolConfig.SharedSocket has instead of a socket per worker:
// one listening socket, which every worker gets as fd 0, and a Client to it.
type sharedSocket struct {
	file    *os.File // the pool's copy of the listening socket, kept open until Close
	network string
	addr    string
	client  *Client
	exits   exitLog
}

func (s *sharedSocket) fileOrNil() *os.File {
	if s == nil {
		return nil
	}
	return s.file
}

// listenShared creates the shared socket and the Client to it.
func (p *Pool) listenShared() error {
	s := &sharedSocket{network: p.cfg.Network}
	var ln net.Listener
	var err error
	if s.network == "unix" {
		s.addr = filepath.Join(p.sockDir, "fcgi.sock")
		var ul *net.UnixListener
		if ul, err = net.ListenUnix("unix", &net.UnixAddr{Name: s.addr, Net: "unix"}); err == nil {
			// The socket file must outlive this listener; Close removes the directory.
			ul.SetUnlinkOnClose(false)
			ln = ul
		}
	} else if ln, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
		s.addr = ln.Addr().String()
	}
	if err != nil {
		return fmt.Errorf("fastcgi: creating the shared socket: %w", err)
	}
	// Unlike a worker's own socket, the pool keeps a copy open for the pool's life: the workers
	// it restarts need it, and a connection made while none is accepting waits in the backlog
	// for the next one instead of being refused. Nothing in this process accepts on it.
	s.file, err = ln.(filer).File()
	ln.Close()
	if err != nil {
		return fmt.Errorf("fastcgi: the shared socket: %w", err)
	}
	s.client = &Client{
		Network: s.network,
		Address: s.addr,
		// No more requests in flight than workers: a worker serving one connection (libfcgi,
		// php-cgi) accepts no other, so a connection beyond that would wait in the backlog.
		MaxConns:   p.cfg.Workers,
		Logger:     p.log,
		exitMark:   s.exits.mark,
		resendGate: p.resendGate,
		onSend:     func() { p.served.Add(1) },
	}
	p.shared = s
	return nil
}

// superviseShared keeps one slot's worker running until the pool closes. With a shared socket
// there is nothing to route: a worker is current from its start, and the kernel hands it
// connections once it accepts. The first start reports to started.
func (p *Pool) superviseShared(slot int, started chan<- error) {
	defer p.wg.Done()
	var backoff time.Duration
	first := true
	for gen := 0; ; gen++ {
		// Read before the worker starts: a request is counted when it has a connection, which
		// may be one waiting in the socket's backlog for a worker yet to start, so a count read
		// after the start could already include this worker's first request.
		served := p.served.Load()
		w, err := p.startWorker(slot, gen)
		if err != nil {
			if !p.retryAfter(err, first, started, &backoff) {
				return
			}
			continue
		}
		p.setCurrent(slot, w)
		if first {
			first = false
			started <- nil
		}
		select {
		case <-w.exited:
		case <-p.closing:
			p.stop(w)
			p.setCurrent(slot, nil)
			return
		}
		p.setCurrent(slot, nil)
		// Whatever it started in its process group goes with it.
		killGroup(w.pid)
		if p.isClosing() {
			return
		}
		// The pool cannot tell which worker served what: "it served" means the pool sent
		// requests while it lived. A worker serves one connection at a time and at most the
		// first request on it can have been sent before it started, so one that exits on its
		// own after two requests or more is always seen to have served. (One that exits after
		// its first is counted as a restart: only the count and a backoff differ.)
		servedSome := p.served.Load() > served
		recycled := w.exitedClean() && servedSome
		if recycled {
			p.recycles.Add(1)
			p.log.Printf("fastcgi: worker %d pid %d exited on its own (%s) after requests were served: the app recycles itself; restarting it", slot, w.pid, w.exitText())
		} else {
			p.restarts.Add(1)
			p.log.Printf("fastcgi: worker %d pid %d ended (%s); restarting it", slot, w.pid, w.exitText())
		}
		if time.Since(w.started) < healthyLife && !recycled {
			backoff = nextBackoff(backoff)
		} else {
			backoff = 0
		}
		if !p.sleep(backoff) {
			return
		}
	}
}

// probeShared waits until the shared socket answers FCGI_GET_VALUES, the sign that a worker
// accepts. Which worker answered cannot be known, so this is the only readiness check: a
// worker still starting gets its connections once it accepts. A worker that exits meanwhile
// fails the start, as with sockets of their own.
func (p *Pool) probeShared(ctx context.Context) error {
	s := p.shared
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	type result struct {
		vals map[string]string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		var d net.Dialer
		nc, err := d.DialContext(ctx, s.network, s.addr)
		if err != nil {
			res <- result{nil, err}
			return
		}
		// The connection is closed once answered: a worker that serves one connection at a
		// time (php-cgi hangs up after a management record anyway) is free again.
		defer nc.Close()
		vals, err := newConn(nc, nil, nil).getValues(ctx, []string{MaxConns, MaxReqs, MpxsConns})
		res <- result{vals, err}
	}()
	for {
		n, _, last, changed := s.exits.state()
		if n > 0 {
			cancel()
			<-res
			return fmt.Errorf("fastcgi: worker %d (pid %d, %s) ended (%s) before answering FCGI_GET_VALUES on the shared socket: is it a FastCGI program? (its output is in the log)", last.slot, last.pid, p.cfg.Program.Path, last.exitText())
		}
		select {
		case r := <-res:
			if errors.Is(r.err, ErrUnknownType) {
				r.vals, r.err = map[string]string{}, nil
			}
			if r.err == nil {
				if r.vals == nil {
					r.vals = map[string]string{}
				}
				p.mu.Lock()
				p.values = r.vals
				p.mu.Unlock()
				return nil
			}
			if errors.Is(r.err, context.DeadlineExceeded) {
				return fmt.Errorf("fastcgi: the shared socket %s:%s did not answer FCGI_GET_VALUES within %v: is %s a FastCGI program accepting on fd 0?", s.network, s.addr, p.cfg.StartTimeout, p.cfg.Program.Path)
			}
			return fmt.Errorf("fastcgi: the shared socket %s:%s: %w", s.network, s.addr, r.err)
		case <-changed:
		}
	}
}

// exitWait bounds how long a request whose connection broke waits for a worker's exit to be
// reported (see resendGate). The peer's end of a connection closes as its process exits, and
// the exit status follows within milliseconds.
const exitWait = time.Second

// errNotResent is why a request that broke on a kept connection to the shared socket is not
// sent again.
var errNotResent = errors.New("the worker serving it died (no worker exited cleanly since the request was sent): not sent again")

// resendGate decides, for the shared socket, whether a request that broke before the first
// byte of its answer, on a kept connection, may be sent again on a new one. With a socket per
// worker, or to a server of one's own, a broken kept connection means the peer had hung up
// while it was idle; with a shared socket it may also mean that the worker serving the
// request died, and sending the request again would run it twice: a worker killed mid-request
// must cost that request, and only it, a 502.
//
// The connection was checked just before the request (alive), so its peer closed it after
// that, and its process exits now. A worker that recycles itself (php-cgi after
// PHP_FCGI_MAX_REQUESTS) finishes its request, sends FCGI_END_REQUEST, then closes and exits
// with status 0 without reading what came next: the request may be sent again. Anything else
// (killed, crashed, a non-zero status) means the request may have run: it is not. So it waits
// (at most exitWait) for a worker's exit after mark, the count of exits when the request was
// sent, and allows the resend only if every exit since was clean. The pool cannot tell which
// worker held the connection: a worker that recycles itself at the moment another dies
// mid-request lets that request run again.
func (p *Pool) resendGate(ctx context.Context, mark uint64) error {
	t := time.NewTimer(exitWait)
	defer t.Stop()
	for {
		n, unclean, _, changed := p.shared.exits.state()
		if unclean > mark {
			return errNotResent
		}
		if n > mark {
			p.log.Printf("fastcgi: a kept connection broke before the answer as a worker exited with status 0 (the app recycles itself): sending the request again on a new connection")
			return nil
		}
		select {
		case <-changed:
		case <-t.C:
			return errNotResent
		case <-ctx.Done():
			return ctx.Err()
		case <-p.closing:
			return ErrClosed
		}
	}
}

// exitLog counts the workers' exits, for the shared socket (see resendGate).
type exitLog struct {
	mu          sync.Mutex
	n           uint64        // exits so far
	lastUnclean uint64        // the number (1-based) of the last exit that was not status 0
	last        *worker       // the last worker that exited
	changed     chan struct{} // closed, and replaced, at each exit
}

// mark is the number of exits so far.
func (l *exitLog) mark() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *exitLog) state() (n, lastUnclean uint64, last *worker, changed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.n, l.lastUnclean, l.last, l.changed
}

// add records w's exit; w.state and w.waitErr are set.
func (l *exitLog) add(w *worker) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if !w.exitedClean() {
		l.lastUnclean = l.n
	}
	l.last = w
	if l.changed != nil {
		close(l.changed)
	}
	l.changed = make(chan struct{})
}
