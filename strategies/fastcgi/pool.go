package fastcgi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/cgi"
)

// PoolConfig configures a Pool. The zero value of each field but Program means its default.
type PoolConfig struct {
	// Program is what every worker runs. It must accept FastCGI connections on the listening
	// socket it finds on file descriptor 0 (FCGI_LISTENSOCK_FILENO), as under spawn-fcgi.
	// Program.Env is the workers' environment, after PATH=cgi.DefaultPath.
	Program strategies.Program
	// Workers is the number of worker processes; default runtime.NumCPU().
	Workers int
	// MaxRequests recycles a worker once it has been sent that many requests: when its last
	// one has ended it is stopped and a new one started. 0 means never. It needs per-worker
	// sockets: with SharedSocket, Validate rejects it.
	MaxRequests int
	// SharedSocket gives all the workers one listening socket, as spawn-fcgi and php-fpm do,
	// instead of one each: the kernel hands each connection to whichever worker accepts
	// first. See the package documentation for what the pool can and cannot do then.
	SharedSocket bool
	// Network is "unix" (the default: sockets in a private temporary directory) or "tcp"
	// (a free port on 127.0.0.1 for each worker, or for the shared socket).
	Network string
	// StopGrace is how long a worker has between SIGTERM and SIGKILL; default 2s.
	StopGrace time.Duration
	// StartTimeout bounds how long a new worker may take to answer FCGI_GET_VALUES, the sign
	// that it accepts; default 15s.
	StartTimeout time.Duration
	// Logger receives the workers' own stdout and stderr (fd 1 and 2), their FCGI_STDERR, and
	// the pool's events (a worker that died, a worker killed after a timeout), a line at a
	// time; default discards.
	Logger *log.Logger
}

// Defaults of PoolConfig.
const (
	DefaultStopGrace    = 2 * time.Second
	DefaultStartTimeout = 15 * time.Second
)

// Validate reports every problem with the configuration at once.
func (cfg PoolConfig) Validate() error {
	var errs []error
	if cfg.Program.Path == "" {
		errs = append(errs, strategies.ErrProgramRequired)
	}
	if cfg.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d is negative: give 1 or more (0 means one per CPU)", cfg.Workers))
	}
	if cfg.MaxRequests < 0 {
		errs = append(errs, fmt.Errorf("max-requests %d is negative: give 0 (never recycle) or more", cfg.MaxRequests))
	}
	if cfg.SharedSocket && cfg.MaxRequests > 0 {
		errs = append(errs, ErrSharedMaxRequests)
	}
	if err := CheckNetwork(cfg.Network); err != nil {
		errs = append(errs, err)
	}
	if cfg.StopGrace < 0 || cfg.StartTimeout < 0 {
		errs = append(errs, errors.New("stop grace and start timeout must not be negative"))
	}
	return errors.Join(errs...)
}

func (cfg PoolConfig) resolve() PoolConfig {
	if cfg.Workers == 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.Network == "" {
		cfg.Network = "unix"
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	return cfg
}

// CheckNetwork checks a pool's socket network: "unix", "tcp" or "" (unix).
func CheckNetwork(network string) error {
	switch network {
	case "", "unix", "tcp":
		return nil
	}
	return fmt.Errorf("network %q: use unix or tcp", network)
}

// ErrSharedMaxRequests is Validate's error for MaxRequests with SharedSocket: the pool cannot
// count the requests of a worker it does not route to.
var ErrSharedMaxRequests = errors.New("max-requests needs per-worker sockets: drop --shared-socket, or let the app recycle itself (PHP_FCGI_MAX_REQUESTS for php-cgi)")

// Pool is a static set of FastCGI worker processes, each listening on its own socket, and the
// router that sends each request to an idle one; or, with PoolConfig.SharedSocket, workers
// sharing one socket and a Client to it. See the package documentation for the two models.
type Pool struct {
	cfg     PoolConfig
	argv    []string
	env     []string
	dir     string // the workers' working directory
	sockDir string // private directory of the unix sockets
	log     *log.Logger

	q         *idleQueue[*worker]
	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	spawnc    chan spawnReq
	spawnDone chan struct{}

	mu      sync.Mutex
	current []*worker // the ready incarnation of each slot, nil while there is none
	values  map[string]string

	restarts, recycles atomic.Int64
	// recycleAfter is how many requests the last worker that exited on its own had been
	// sent (0: none has): the app's own recycling, learnt. The event loop does not keep a
	// worker's connection past that many.
	recycleAfter atomic.Int64

	shared *sharedSocket // nil: a socket for each worker
	served atomic.Int64  // requests that got a connection, with a shared socket
}

// worker is one incarnation of one slot: a process and its socket. A restart makes a new one.
type worker struct {
	p       *Pool
	slot    int
	pid     int
	proc    *os.Process
	network string
	addr    string
	started time.Time

	exited  chan struct{} // closed once the process has been reaped
	state   *os.ProcessState
	waitErr error
	retire  chan end // from the request path: stop this worker (buffered, at most one)
	dead    atomic.Bool

	// Owned by whoever holds the worker: the queue, a request, or the supervisor.
	conn *conn
	// served counts the requests sent to it; the supervisor reads it when the worker ends.
	served atomic.Int64

	releaseFn func(*conn, outcome)
	logStderr func([]byte)
	dialFn    func(context.Context) (net.Conn, error)
}

// end is why an incarnation ended.
type end int

const (
	endDied     end = iota // exited on its own or was killed by someone else
	endReplaced            // a request was abandoned on it: it may be stuck, so it was stopped
	endRecycled            // it reached MaxRequests
	endExited              // it exited with status 0 after serving: the app recycled itself
	endClosing             // the pool is closing
)

// StartPool starts cfg.Workers workers and returns once every one has answered
// FCGI_GET_VALUES, or the first error (after stopping the others). ctx bounds the start only.
func StartPool(ctx context.Context, cfg PoolConfig) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fastcgi: %w", err)
	}
	cfg = cfg.resolve()
	if err := CheckExecutable(cfg.Program.Path); err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:       cfg,
		argv:      cfg.Program.Argv(),
		env:       append([]string{"PATH=" + cgi.DefaultPath}, cfg.Program.Env...),
		dir:       cfg.Program.Dir,
		log:       cfg.Logger,
		closing:   make(chan struct{}),
		spawnc:    make(chan spawnReq),
		spawnDone: make(chan struct{}),
		current:   make([]*worker, cfg.Workers),
	}
	if p.dir == "" {
		p.dir = filepath.Dir(p.argv[len(p.argv)-1])
	}
	// FIFO: requests go round the idle workers, as accept() on a shared socket would spread
	// them, so that recycling (and wear) is even.
	p.q = newIdleQueue(false, func(w *worker) bool { return !w.dead.Load() }, (*worker).closeConn)
	if cfg.Network == "unix" {
		dir, err := os.MkdirTemp("", "cgibench-fastcgi-")
		if err != nil {
			return nil, fmt.Errorf("fastcgi: creating the socket directory: %w", err)
		}
		p.sockDir = dir
	}
	if cfg.SharedSocket {
		if err := p.listenShared(); err != nil {
			if p.sockDir != "" {
				os.RemoveAll(p.sockDir)
			}
			return nil, err
		}
	}
	go p.spawner()

	ready := make(chan error, cfg.Workers)
	for slot := range cfg.Workers {
		p.wg.Add(1)
		if p.shared != nil {
			go p.superviseShared(slot, ready)
		} else {
			go p.supervise(slot, ready)
		}
	}
	var err error
	for range cfg.Workers {
		select {
		case e := <-ready:
			if e != nil && err == nil {
				err = e
			}
		case <-ctx.Done():
			err = fmt.Errorf("fastcgi: starting %d workers of %s: %w", cfg.Workers, cfg.Program.Path, ctx.Err())
		}
		if err != nil {
			p.Close()
			return nil, err
		}
	}
	if p.shared != nil {
		if err := p.probeShared(ctx); err != nil {
			p.Close()
			return nil, err
		}
	}
	vals := p.Values()
	answer := "FCGI_GET_VALUES:"
	for _, name := range []string{MaxConns, MaxReqs, MpxsConns} {
		if v, ok := vals[name]; ok {
			answer += " " + name + "=" + v
		}
	}
	where := "a " + cfg.Network + " socket each"
	if p.shared != nil {
		where = "one shared socket, " + p.shared.network + ":" + p.shared.addr
	}
	p.log.Printf("fastcgi: %d workers of %s ready on %s (%s)", cfg.Workers, cfg.Program.Path, where, answer)
	return p, nil
}

// CheckExecutable reports, in one line with the fix, why path cannot be exec'd.
func CheckExecutable(path string) error {
	if path == "" {
		return fmt.Errorf("fastcgi: %w", strategies.ErrProgramRequired)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("fastcgi: program %s: %w (give the path of an executable or a built-in name)", path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("fastcgi: program %s is a directory: give the path of an executable file", path)
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("fastcgi: program %s is not executable: run chmod +x %s", path, path)
	}
	return nil
}

// Do sends req to an idle worker, waiting for one until ctx is done. The caller must Close
// the response; that makes the worker idle again (or recycles it, or replaces it when the
// request was abandoned). With a shared socket it sends req over the pool's Client, waiting
// for a free connection, and the kernel picks the worker.
func (p *Pool) Do(ctx context.Context, req Request) (*Response, error) {
	if p.shared != nil {
		return p.shared.client.Do(ctx, req)
	}
	for {
		w, err := p.q.get(ctx)
		if err != nil {
			return nil, fmt.Errorf("fastcgi: waiting for an idle worker: %w", err)
		}
		if w.dead.Load() {
			// It died while handed to us; the supervisor is restarting it.
			w.closeConn()
			continue
		}
		w.served.Add(1)
		cn, err := w.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				if !p.q.put(w) {
					w.closeConn()
				}
				return nil, fmt.Errorf("fastcgi: connecting to worker %d: %w", w.slot, ctx.Err())
			}
			p.log.Printf("fastcgi: worker %d pid %d: %v; replacing it", w.slot, w.pid, err)
			w.retireAs(endReplaced)
			continue
		}
		return cn.start(ctx, req, w.releaseFn)
	}
}

// PIDs lists the worker processes that are up.
func (p *Pool) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, 0, len(p.current))
	for _, w := range p.current {
		if w != nil {
			pids = append(pids, w.pid)
		}
	}
	return pids
}

// Restarts counts workers started to replace one that died (killed, crashed, a non-zero exit
// status, or status 0 without having served), or that was stopped because a request was
// abandoned on it (timeout, client gone, broken response).
func (p *Pool) Restarts() int64 { return p.restarts.Load() }

// Recycles counts workers replaced after MaxRequests requests, or after they exited with
// status 0 on their own once they had served: the app's own recycling (php-cgi's
// PHP_FCGI_MAX_REQUESTS).
func (p *Pool) Recycles() int64 { return p.recycles.Load() }

// Values is the first worker's answer to FCGI_GET_VALUES for MaxConns, MaxReqs and
// MpxsConns (empty when it answered FCGI_UNKNOWN_TYPE).
func (p *Pool) Values() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]string, len(p.values))
	for k, v := range p.values {
		m[k] = v
	}
	return m
}

// Close stops every worker (SIGTERM to its process group, SIGKILL after StopGrace) and removes
// the sockets. Requests under way fail; Do fails with ErrClosed afterwards.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		for _, w := range p.q.close() {
			w.closeConn()
		}
		if p.shared != nil {
			p.shared.client.Close()
		}
		p.wg.Wait()
		close(p.spawnc)
		<-p.spawnDone
		if p.shared != nil {
			// Only now: a worker restarted during Close still needed it.
			p.shared.file.Close()
		}
		if p.sockDir != "" {
			os.RemoveAll(p.sockDir)
		}
	})
	return nil
}

func (p *Pool) isClosing() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// sleep waits d unless the pool closes first; it reports whether the pool is still open.
func (p *Pool) sleep(d time.Duration) bool {
	if d <= 0 {
		return !p.isClosing()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.closing:
		return false
	}
}

// Restart backoff: a worker that dies young waits before its successor starts, twice as long
// each time up to maxBackoff, so that a crashing program does not fork in a tight loop.
const (
	minBackoff  = 50 * time.Millisecond
	maxBackoff  = 5 * time.Second
	healthyLife = time.Second
)

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return minBackoff
	}
	return min(2*d, maxBackoff)
}

// retryAfter handles a worker that failed to start: the slot's first failure goes to report
// and ends the slot; a later one is retried after the backoff, which it doubles. It reports
// whether to try again (false once the pool is closing).
func (p *Pool) retryAfter(err error, first bool, report chan<- error, backoff *time.Duration) bool {
	if first {
		report <- err
		return false
	}
	if p.isClosing() {
		return false
	}
	*backoff = nextBackoff(*backoff)
	p.log.Printf("%v; retrying in %v", err, *backoff)
	return p.sleep(*backoff)
}

// supervise keeps one slot's worker running until the pool closes. The first start reports
// to ready; later failures are retried with backoff.
func (p *Pool) supervise(slot int, ready chan<- error) {
	defer p.wg.Done()
	var backoff time.Duration
	first := true
	for gen := 0; ; gen++ {
		w, err := p.startWorker(slot, gen)
		if err == nil {
			if err = p.waitReady(w); err != nil {
				p.stop(w)
				w.removeSocket()
			}
		}
		if err != nil {
			if !p.retryAfter(err, first, ready, &backoff) {
				return
			}
			continue
		}
		p.setCurrent(slot, w)
		if !p.q.put(w) { // closed meanwhile
			w.dead.Store(true)
		}
		if first {
			// Only now: StartPool's caller may list PIDs and send requests at once.
			first = false
			ready <- nil
		}
		why := p.watch(w)
		p.setCurrent(slot, nil)
		w.removeSocket()
		switch why {
		case endClosing:
			return
		case endRecycled, endExited:
			p.recycles.Add(1)
			backoff = 0
		default:
			p.restarts.Add(1)
			// Only a worker that died young without serving anything looks like a crash loop;
			// one that exits on its own after a number of requests is replaced at once.
			if time.Since(w.started) < healthyLife && w.served.Load() == 0 {
				backoff = nextBackoff(backoff)
			} else {
				backoff = 0
			}
			if !p.sleep(backoff) {
				return
			}
		}
	}
}

func (p *Pool) setCurrent(slot int, w *worker) {
	p.mu.Lock()
	p.current[slot] = w
	p.mu.Unlock()
}

// watch waits until w must end, ends it, and says why.
func (p *Pool) watch(w *worker) end {
	select {
	case <-w.exited:
		return p.ended(w)
	case why := <-w.retire:
		if why == endReplaced && exitsWithin(w, exitRace) {
			// The request path gave up on it as it exited on its own (its connection broke
			// as it did): the exit says why it ended.
			return p.ended(w)
		}
		// The request path handed the worker over: it is in no queue and has no connection.
		w.dead.Store(true)
		p.stop(w)
		if why == endReplaced {
			// "signal: terminated" if we stopped it; anything else if it ended on its own.
			p.log.Printf("fastcgi: worker %d pid %d: a request was abandoned on it (timeout, client gone, broken response, or it died); replaced it (%s)", w.slot, w.pid, w.exitText())
		}
		return why
	case <-p.closing:
		w.dead.Store(true)
		if p.q.remove(w) {
			w.closeConn()
		}
		p.stop(w)
		return endClosing
	}
}

// exitRace is how long a worker the request path replaces is given to show that it was
// exiting on its own.
const exitRace = 50 * time.Millisecond

func exitsWithin(w *worker, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.exited:
		return true
	case <-t.C:
		return false
	}
}

// ended handles a worker whose process has exited without being stopped.
func (p *Pool) ended(w *worker) end {
	w.dead.Store(true)
	if p.q.remove(w) {
		w.closeConn()
	}
	why := endDied
	select {
	case why = <-w.retire:
	default:
	}
	if why == endReplaced {
		why = endDied // it was not stopped: it ended on its own
	}
	switch {
	case why == endDied && w.exitedClean() && w.served.Load() > 0:
		// php-cgi does this after PHP_FCGI_MAX_REQUESTS requests.
		why = endExited
		p.log.Printf("fastcgi: worker %d pid %d exited on its own after %d requests (%s): the app recycles itself; restarting it", w.slot, w.pid, w.served.Load(), w.exitText())
		p.recycleAfter.Store(w.served.Load())
	case why != endRecycled:
		p.log.Printf("fastcgi: worker %d pid %d ended (%s); restarting it", w.slot, w.pid, w.exitText())
	}
	// Whatever it started in its process group goes with it.
	killGroup(w.pid)
	return why
}

// stop ends a worker and its process group: SIGTERM, then SIGKILL after StopGrace.
func (p *Pool) stop(w *worker) {
	syscall.Kill(-w.pid, syscall.SIGTERM)
	t := time.NewTimer(p.cfg.StopGrace)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
		p.log.Printf("fastcgi: worker %d pid %d still running %v after SIGTERM; sending SIGKILL", w.slot, w.pid, p.cfg.StopGrace)
		syscall.Kill(-w.pid, syscall.SIGKILL)
		<-w.exited
	}
	// A child that ignored SIGTERM must not outlive its parent as an orphan.
	killGroup(w.pid)
}

// groupGoneWait bounds how long killGroup waits for a process group to vanish.
const groupGoneWait = 2 * time.Second

// killGroup sends SIGKILL to the process group pgid and waits until no member is left (its
// leader has been reaped already). A signal is delivered asynchronously: without the wait, a
// grandchild could still be running when Close returns.
func killGroup(pgid int) {
	if syscall.Kill(-pgid, syscall.SIGKILL) != nil {
		return // ESRCH: the group is empty
	}
	deadline := time.Now().Add(groupGoneWait)
	for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
}

type spawnReq struct {
	attr *os.ProcAttr
	res  chan spawnRes
}

type spawnRes struct {
	proc *os.Process
	err  error
}

// spawner forks every worker from one OS thread that lives as long as the pool. Pdeathsig
// fires when the *thread* that forked a child exits, not the process, and the Go runtime may
// end threads; a goroutine locked to its thread, never unlocked, keeps that thread until the
// pool closes, so a worker dies with the pool (or with this process), never before.
func (p *Pool) spawner() {
	runtime.LockOSThread()
	defer close(p.spawnDone)
	for req := range p.spawnc {
		proc, err := os.StartProcess(p.cfg.Program.Path, p.argv, req.attr)
		req.res <- spawnRes{proc, err}
	}
}

type filer interface{ File() (*os.File, error) }

// startWorker starts a process with a listening socket as fd 0: the shared one, or a new one
// of its own.
func (p *Pool) startWorker(slot, gen int) (*worker, error) {
	w := &worker{p: p, slot: slot, exited: make(chan struct{}), retire: make(chan end, 1)}
	sock := p.shared.fileOrNil()
	if sock == nil {
		var err error
		if sock, err = p.listenWorker(w, gen); err != nil {
			return nil, err
		}
		defer sock.Close()
	}
	logR, logW, err := os.Pipe()
	if err != nil {
		w.removeSocket()
		return nil, fmt.Errorf("fastcgi: worker %d: log pipe: %w", slot, err)
	}
	res := make(chan spawnRes, 1)
	p.spawnc <- spawnReq{res: res, attr: &os.ProcAttr{
		Dir:   p.dir,
		Env:   p.env,
		Files: []*os.File{sock, logW, logW},
		Sys: &syscall.SysProcAttr{
			// The worker leads its own process group, so stopping it stops what it started.
			Setpgid: true,
			// If this process dies, so do the workers (see spawner).
			Pdeathsig: syscall.SIGKILL,
		},
	}}
	r := <-res
	logW.Close()
	if r.err != nil {
		logR.Close()
		w.removeSocket()
		return nil, fmt.Errorf("fastcgi: starting %s: %w", p.cfg.Program.Path, r.err)
	}
	w.proc, w.pid, w.started = r.proc, r.proc.Pid, time.Now()
	w.releaseFn = w.release
	w.dialFn = w.dial
	w.logStderr = func(line []byte) { p.log.Printf("fastcgi: worker %d pid %d FCGI_STDERR: %s", slot, w.pid, line) }
	go p.copyLog(w, logR)
	go func() {
		w.state, w.waitErr = w.proc.Wait()
		if p.shared != nil {
			p.shared.exits.add(w)
		}
		close(w.exited)
	}()
	return w, nil
}

// listenWorker creates w's own listening socket and returns the copy to pass to the worker.
func (p *Pool) listenWorker(w *worker, gen int) (*os.File, error) {
	slot := w.slot
	var ln net.Listener
	var err error
	if p.cfg.Network == "unix" {
		w.network = "unix"
		w.addr = filepath.Join(p.sockDir, fmt.Sprintf("w%d.%d.sock", slot, gen))
		var ul *net.UnixListener
		if ul, err = net.ListenUnix("unix", &net.UnixAddr{Name: w.addr, Net: "unix"}); err == nil {
			// The socket file must outlive this listener: the worker holds the socket.
			ul.SetUnlinkOnClose(false)
			ln = ul
		}
	} else {
		w.network = "tcp"
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
			w.addr = ln.Addr().String()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("fastcgi: worker %d: creating its socket: %w", slot, err)
	}
	// The child gets a duplicate (the caller closes it once the child has it); ours closes so
	// that once the worker is gone a connection is refused at once rather than left in a
	// backlog no one accepts. (os.StartProcess puts the shared descriptor in blocking mode, as
	// an accept loop expects.)
	sock, err := ln.(filer).File()
	ln.Close()
	if err != nil {
		w.removeSocket()
		return nil, fmt.Errorf("fastcgi: worker %d: %w", slot, err)
	}
	return sock, nil
}

// copyLog writes a worker's own stdout and stderr to the log, a line at a time.
func (p *Pool) copyLog(w *worker, r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxStderrLine)
	for sc.Scan() {
		p.log.Printf("fastcgi: worker %d pid %d: %s", w.slot, w.pid, sc.Bytes())
	}
	io.Copy(io.Discard, r) // after a line too long for the scanner
}

// waitReady asks the new worker for FCGI_GET_VALUES: an answer (even FCGI_UNKNOWN_TYPE) means
// it accepts. The probe's connection is closed (php-cgi hangs up after a management record
// anyway); the first request opens the worker's connection.
func (p *Pool) waitReady(w *worker) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StartTimeout)
	defer cancel()
	go func() {
		select {
		case <-w.exited:
		case <-p.closing:
		case <-ctx.Done():
		}
		cancel()
	}()
	var d net.Dialer
	nc, err := d.DialContext(ctx, w.network, w.addr)
	if err == nil {
		var vals map[string]string
		vals, err = newConn(nc, nil, nil).getValues(ctx, []string{MaxConns, MaxReqs, MpxsConns})
		nc.Close()
		if errors.Is(err, ErrUnknownType) {
			err = nil
		}
		if err == nil {
			p.mu.Lock()
			if p.values == nil {
				p.values = vals
				if p.values == nil {
					p.values = map[string]string{}
				}
			}
			p.mu.Unlock()
			return nil
		}
	}
	// A refused or broken connection usually means the process is exiting: give it a moment,
	// since its exit status says more than the socket error.
	grace := time.NewTimer(time.Second)
	defer grace.Stop()
	if ctx.Err() != nil {
		grace.Reset(0)
	}
	select {
	case <-grace.C:
	case <-w.exited:
	case <-p.closing:
	}
	select {
	case <-w.exited:
		return fmt.Errorf("fastcgi: worker %d (pid %d, %s) ended (%s) before answering FCGI_GET_VALUES: is it a FastCGI program? (its output is in the log)", w.slot, w.pid, p.cfg.Program.Path, w.exitText())
	case <-p.closing:
		return ErrClosed
	default:
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("fastcgi: worker %d (pid %d, %s) did not answer FCGI_GET_VALUES within %v: is it a FastCGI program accepting on fd 0?", w.slot, w.pid, p.cfg.Program.Path, p.cfg.StartTimeout)
	}
	return fmt.Errorf("fastcgi: worker %d (pid %d, %s): %w", w.slot, w.pid, p.cfg.Program.Path, err)
}

// exitedClean reports whether the process exited with status 0.
func (w *worker) exitedClean() bool {
	return w.waitErr == nil && w.state != nil && w.state.Success()
}

func (w *worker) exitText() string {
	if w.waitErr != nil {
		return "could not be waited for: " + w.waitErr.Error()
	}
	return w.state.String()
}

func (w *worker) removeSocket() {
	if w.network == "unix" && w.addr != "" {
		os.Remove(w.addr)
	}
}

func (w *worker) connect(ctx context.Context) (*conn, error) {
	if w.conn == nil {
		nc, err := w.dial(ctx)
		if err != nil {
			return nil, err
		}
		w.conn = newConn(nc, w.logStderr, w.dialFn)
	}
	return w.conn, nil
}

func (w *worker) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, w.network, w.addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s:%s: %w", w.network, w.addr, err)
	}
	return strategies.DirectConn(nc), nil
}

func (w *worker) closeConn() {
	if w.conn != nil {
		w.conn.nc.Close()
		w.conn = nil
	}
}

// release is where a request hands its worker back.
func (w *worker) release(cn *conn, out outcome) {
	if out != reuse {
		w.conn = nil // already closed
	}
	switch {
	case out == abandoned:
		w.retireAs(endReplaced)
	case w.p.cfg.MaxRequests > 0 && w.served.Load() >= int64(w.p.cfg.MaxRequests):
		w.closeConn()
		w.retireAs(endRecycled)
	default:
		if !w.p.q.put(w) {
			w.closeConn() // it died meanwhile, or the pool is closing
		}
	}
}

// retireAs hands the worker to its supervisor to be stopped.
func (w *worker) retireAs(why end) {
	select {
	case w.retire <- why:
	default:
	}
}
