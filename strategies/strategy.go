package strategies

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Program is an executable the way a backend runs it: argv is Path followed by Args.
type Program struct {
	// Name is the short name reported in results: "c", "python", or a user program's base name.
	Name string
	// Path is the absolute path of the file exec'd: the binary, or the resolved interpreter.
	Path string
	// Args follow argv[0]; for an interpreted app, the script.
	Args []string
	// Env holds extra NAME=value entries the program needs beyond the CGI meta-variables.
	Env []string
	// Dir is the working directory; empty means the directory of the last of Path and Args.
	Dir string
	// Script is the app's source file for strategies that load it themselves (embedded).
	Script string
}

// Argv is the program's full argument vector.
func (p Program) Argv() []string { return append([]string{p.Path}, p.Args...) }

// Config is what a strategy needs to start a backend. The zero value of each field means its
// default, resolved by the strategy that uses it.
type Config struct {
	// Program is the app to serve. The inprocess strategy ignores it.
	Program Program
	// Listen is the HTTP address to bind; default "127.0.0.1:0" (a free loopback port).
	Listen string
	// Timeout bounds one request; default 30s. A program that overruns it is killed (with its
	// whole process group) and the client gets 504. A client that takes more than twice as
	// long to send its request, or three times as long to take the answer, is cut off.
	Timeout time.Duration
	// Workers is the number of persistent worker processes or interpreter states; default the
	// number of CPUs.
	Workers int
	// MaxRequests recycles a worker after that many requests; 0 means never.
	MaxRequests int
	// FastCGIAddr points the fastcgi strategy at an already-running FastCGI server
	// ("unix:/path.sock" or "tcp:127.0.0.1:9000") instead of starting a pool.
	FastCGIAddr string
	// Log receives the backend's log lines (program stderr, failures); default io.Discard.
	Log io.Writer
}

// DefaultTimeout is the per-request timeout when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultListen is the address a backend binds when Config.Listen is empty.
const DefaultListen = "127.0.0.1:0"

// Strategy starts backends of one kind.
type Strategy interface {
	// Name is the strategy's name in results and on the command line.
	Name() string
	// Start starts a backend serving cfg.Program and returns once it accepts requests.
	Start(ctx context.Context, cfg Config) (Backend, error)
}

// Backend is one running server.
type Backend interface {
	// URL is the base URL requests go to, e.g. "http://127.0.0.1:41234/app".
	URL() string
	// PIDs lists the processes whose resources belong to the backend besides the server itself:
	// persistent workers, an external server. A CGI child lives too briefly to be listed.
	PIDs() []int
	// Close stops the backend and every process it started; it leaves no orphan.
	Close() error
}

// ErrProgramRequired is returned by strategies that need a program when none was given.
var ErrProgramRequired = errors.New("a program is required: pass --program NAME or PATH")

// Resolve returns cfg with every zero field set to its default.
func (cfg Config) Resolve() Config {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	return cfg
}

// Validate reports every problem with the configuration at once.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v is negative: give a positive duration such as 30s", cfg.Timeout))
	}
	if cfg.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d is negative: give 1 or more (0 means one per CPU)", cfg.Workers))
	}
	if cfg.MaxRequests < 0 {
		errs = append(errs, fmt.Errorf("max-requests %d is negative: give 0 (never recycle) or more", cfg.MaxRequests))
	}
	return errors.Join(errs...)
}
