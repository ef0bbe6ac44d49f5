package fastcgi

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cgibench/cgibench/strategies"
)

// Strategy serves a program through a pool of persistent FastCGI workers, or through an
// already-running FastCGI server when Config.FastCGIAddr is set. The zero value gives each
// worker its own socket.
type Strategy struct {
	// SharedSocket runs the pool as spawn-fcgi and php-fpm do: all the workers accept on one
	// socket (PoolConfig.SharedSocket). Config.MaxRequests cannot be used with it.
	SharedSocket bool
	// Network is the pool's sockets: "unix" (the default) or "tcp" (ports on 127.0.0.1), as
	// PoolConfig.Network.
	Network string
	// FrontEnd is what serves HTTP: FrontEventLoop or FrontNetHTTP. The default, "", is the
	// event loop for a pool with a socket per worker and net/http otherwise (SharedSocket, or
	// an external server at Config.FastCGIAddr), which the event loop does not serve.
	FrontEnd string
}

// The front ends (Strategy.FrontEnd); see the package documentation, "The front ends".
const (
	FrontEventLoop = "event-loop"
	FrontNetHTTP   = "net/http"
)

// ErrEventLoopPool is CheckFrontEnd's error for the event loop asked of a pool it cannot serve.
var ErrEventLoopPool = errors.New("event-loop serves only a pool with a socket per worker: drop --shared-socket and --fastcgi-addr, or use --fastcgi-front-end net/http")

// CheckFrontEnd reports, in one line with the fix, a front end the strategy does not have, or
// ErrEventLoopPool for the event loop with a shared socket or an external server.
func CheckFrontEnd(name string, shared, external bool) error {
	switch name {
	case "", FrontNetHTTP:
		return nil
	case FrontEventLoop:
		if shared || external {
			return ErrEventLoopPool
		}
		return nil
	}
	return fmt.Errorf("front end %q: use %s or %s", name, FrontEventLoop, FrontNetHTTP)
}

// FrontEndFor is the front end the strategy uses: s.FrontEnd, or its default for the pool
// model (shared) and whether an external server is used.
func (s Strategy) FrontEndFor(external bool) string {
	if s.FrontEnd != "" {
		return s.FrontEnd
	}
	if s.SharedSocket || external {
		return FrontNetHTTP
	}
	return FrontEventLoop
}

var _ strategies.Strategy = Strategy{}

// Name implements strategies.Strategy.
func (Strategy) Name() string { return "fastcgi" }

// connectTimeout bounds the check that an external server accepts.
const connectTimeout = 5 * time.Second

// Start implements strategies.Strategy. Without FastCGIAddr it starts cfg.Workers workers of
// cfg.Program on unix sockets, one each or (SharedSocket) one for all, and returns once they
// accept; cfg.MaxRequests recycles them (not with SharedSocket). With FastCGIAddr it checks
// that the server accepts and opens at most cfg.Workers connections to it (so set Workers to
// at most the server's process count).
func (s Strategy) Start(ctx context.Context, cfg strategies.Config) (strategies.Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fastcgi: %w", err)
	}
	cfg = cfg.Resolve()
	logger := log.New(cfg.Log, "", log.LstdFlags|log.Lmicroseconds)
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}

	if err := CheckFrontEnd(s.FrontEnd, s.SharedSocket, cfg.FastCGIAddr != ""); err != nil {
		return nil, fmt.Errorf("fastcgi: %w", err)
	}
	front := s.FrontEndFor(cfg.FastCGIAddr != "")

	if cfg.FastCGIAddr != "" {
		network, address, err := ParseAddr(cfg.FastCGIAddr)
		if err != nil {
			return nil, err
		}
		pid, err := checkServer(ctx, network, address)
		if err != nil {
			return nil, fmt.Errorf("fastcgi: nothing accepts on %s (%v): start the FastCGI server (e.g. php-fpm) first", cfg.FastCGIAddr, err)
		}
		if cfg.MaxRequests > 0 {
			logger.Printf("fastcgi: max-requests %d ignored: the server at %s manages its own processes", cfg.MaxRequests, cfg.FastCGIAddr)
		}
		if s.SharedSocket {
			logger.Printf("fastcgi: shared-socket ignored: the server at %s manages its own processes", cfg.FastCGIAddr)
		}
		if s.Network == "tcp" { // unix is the default, given or not
			logger.Printf("fastcgi: network tcp ignored: the server's address %s says how to reach it", cfg.FastCGIAddr)
		}
		client := &Client{Network: network, Address: address, MaxConns: workers, Logger: logger}
		h := &Handler{Doer: client, Program: cfg.Program, Timeout: cfg.Timeout, Logger: logger}
		var pids func() []int
		if pid > 0 {
			pids = func() []int { return []int{pid} }
		}
		b, err := strategies.ServeHandler(cfg, h, pids, client.Close)
		if err == nil {
			logger.Printf("fastcgi: serving %s through the %s front end", b.URL(), front)
		}
		return b, err
	}

	pool, err := StartPool(ctx, PoolConfig{
		Program:      cfg.Program,
		Workers:      workers,
		MaxRequests:  cfg.MaxRequests,
		SharedSocket: s.SharedSocket,
		Network:      s.Network,
		Logger:       logger,
	})
	if err != nil {
		return nil, err
	}
	h := &Handler{Doer: pool, Program: cfg.Program, Timeout: cfg.Timeout, Logger: logger}
	var fe frontEnd
	if front == FrontEventLoop {
		fe, err = StartFront(cfg.Listen, h, pool)
	} else {
		fe, err = strategies.ServeHandler(cfg, h, pool.PIDs, pool.Close)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	logger.Printf("fastcgi: serving %s through the %s front end", fe.URL(), front)
	return &PoolBackend{frontEnd: fe, pool: pool}, nil
}

// frontEnd is what serves HTTP for a pool; its Close closes the pool too.
type frontEnd interface {
	URL() string
	Close() error
}

// PoolBackend is the backend Start returns when it runs a pool: besides strategies.Backend it
// reports the pool's worker turnover, for callers that look for
// interface{ Restarts() int64; Recycles() int64 }.
type PoolBackend struct {
	frontEnd
	pool *Pool
}

// PIDs implements strategies.Backend: the pool's workers.
func (b *PoolBackend) PIDs() []int { return b.pool.PIDs() }

// Restarts is Pool.Restarts.
func (b *PoolBackend) Restarts() int64 { return b.pool.Restarts() }

// Recycles is Pool.Recycles.
func (b *PoolBackend) Recycles() int64 { return b.pool.Recycles() }

var _ strategies.Backend = (*PoolBackend)(nil)

// ParseAddr splits a FastCGI server address, "unix:/path.sock" or "tcp:host:port", into the
// network and address net.Dial takes.
func ParseAddr(s string) (network, address string, err error) {
	scheme, rest, _ := strings.Cut(s, ":")
	switch scheme {
	case "unix":
		if rest != "" {
			return "unix", rest, nil
		}
	case "tcp":
		host, port, err := net.SplitHostPort(rest)
		if n, perr := strconv.Atoi(port); err == nil && host != "" && perr == nil && n > 0 && n < 65536 {
			return "tcp", rest, nil
		}
	}
	return "", "", fmt.Errorf("fastcgi: FastCGI address %q: write unix:/path/to.sock or tcp:127.0.0.1:9000", s)
}

// checkServer connects once to see that something accepts; for a unix socket it also learns
// the pid of the process that listens (SO_PEERCRED), so that its resources can be accounted.
func checkServer(ctx context.Context, network, address string) (pid int, err error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	if uc, ok := nc.(*net.UnixConn); ok {
		if rc, err := uc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
					pid = int(cred.Pid)
				}
			})
		}
	}
	return pid, nil
}
