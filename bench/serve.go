package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/scripts"
	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/fastcgi"
)

// ServeOptions configures one backend run in the foreground (`cgibench serve`).
type ServeOptions struct {
	Strategy    string        // strategy name; default "cgi"
	Program     string        // built-in name or path
	Listen      string        // default 127.0.0.1:0
	Timeout     time.Duration // per request; default 30s
	Workers     int           // fastcgi/embedded pool size; 0 means one per CPU
	MaxRequests int           // recycle a worker after this many requests; 0 never
	FastCGIAddr string        // an already-running FastCGI server instead of a pool
	// SharedSocket gives all FastCGI workers one listening socket (the spawn-fcgi / php-fpm
	// model) instead of one each.
	SharedSocket bool
	// FastCGINetwork is the FastCGI pool's sockets: "unix" (default) or "tcp".
	FastCGINetwork string
	// FastCGIFrontEnd serves HTTP in front of the workers: "event-loop" or "net/http"; ""
	// is the default (the event loop, unless SharedSocket or FastCGIAddr).
	FastCGIFrontEnd string
	CacheDir        string // where built-in apps are built
	AllowRemote     bool   // permit --listen on a non-loopback address
}

// Flags registers the serve flags on fs, with help text and defaults.
func (o *ServeOptions) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Strategy, "strategy", "cgi", "how to run the program: "+strings.Join(StrategyNames(), ", "))
	fs.StringVar(&o.Program, "program", "", "built-in app name (c, c-static, go, python, perl, sh, …) or the path of your own program")
	fs.StringVar(&o.Listen, "listen", strategies.DefaultListen, "HTTP address to serve on (loopback unless --allow-remote)")
	fs.DurationVar(&o.Timeout, "timeout", strategies.DefaultTimeout, "per-request timeout; an overrunning program is killed and the client gets 504; a client slower than 2x it to send its request, or 3x to take the answer, is cut off")
	fs.IntVar(&o.Workers, "workers", 0, "worker processes or interpreter states for fastcgi/embedded (0: one per CPU)")
	fs.IntVar(&o.MaxRequests, "max-requests", 0, "recycle a FastCGI worker after this many requests (0: never)")
	fs.StringVar(&o.FastCGIAddr, "fastcgi-addr", "", "use an already-running FastCGI server (unix:/path.sock or tcp:127.0.0.1:9000) instead of starting a pool")
	fs.BoolVar(&o.SharedSocket, "shared-socket", false, "fastcgi: all workers accept on one listening socket, as spawn-fcgi and php-fpm do (no --max-requests then)")
	fs.StringVar(&o.FastCGINetwork, "fastcgi-network", "unix", "fastcgi: the workers' sockets, unix or tcp (ports on 127.0.0.1)")
	fs.StringVar(&o.FastCGIFrontEnd, "fastcgi-front-end", "", FrontEndHelp)
	fs.StringVar(&o.CacheDir, "cache", "", "folder for built apps (default $CGIBENCH_CACHE or the user cache folder)")
	fs.BoolVar(&o.AllowRemote, "allow-remote", false, "allow --listen on a non-loopback address")
}

// Args renders o as the command-line flags Flags parses, for starting a serve child.
func (o ServeOptions) Args() []string {
	args := []string{"--strategy", o.Strategy, "--program", o.Program}
	if o.Listen != "" {
		args = append(args, "--listen", o.Listen)
	}
	if o.Timeout != 0 {
		args = append(args, "--timeout", o.Timeout.String())
	}
	if o.Workers != 0 {
		args = append(args, "--workers", strconv.Itoa(o.Workers))
	}
	if o.MaxRequests != 0 {
		args = append(args, "--max-requests", strconv.Itoa(o.MaxRequests))
	}
	if o.FastCGIAddr != "" {
		args = append(args, "--fastcgi-addr", o.FastCGIAddr)
	}
	if o.SharedSocket {
		args = append(args, "--shared-socket")
	}
	if o.FastCGINetwork != "" {
		args = append(args, "--fastcgi-network", o.FastCGINetwork)
	}
	if o.FastCGIFrontEnd != "" {
		args = append(args, "--fastcgi-front-end", o.FastCGIFrontEnd)
	}
	if o.CacheDir != "" {
		args = append(args, "--cache", o.CacheDir)
	}
	if o.AllowRemote {
		args = append(args, "--allow-remote")
	}
	return args
}

// Validate reports every problem with the options at once.
func (o ServeOptions) Validate() error {
	var errs []error
	if _, err := lookupStrategy(o.Strategy); err != nil {
		errs = append(errs, fmt.Errorf("--strategy: %w", err))
	}
	if o.Listen != "" && !o.AllowRemote {
		if err := checkLoopback(o.Listen); err != nil {
			errs = append(errs, err)
		}
	}
	cfg := strategies.Config{Timeout: o.Timeout, Workers: o.Workers, MaxRequests: o.MaxRequests}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := fastcgi.CheckNetwork(o.FastCGINetwork); err != nil {
		errs = append(errs, fmt.Errorf("--fastcgi-network: %w", err))
	}
	if o.Strategy == "fastcgi" {
		if err := checkFrontEnd(o.FastCGIFrontEnd, o.SharedSocket, o.FastCGIAddr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// FrontEndHelp is the --fastcgi-front-end flag's help, for run and serve.
const FrontEndHelp = "fastcgi: what serves HTTP in front of the workers: event-loop (one epoll loop, as lighttpd and nginx; the default) or net/http (a goroutine per connection, as the other strategies; the only one with --shared-socket or --fastcgi-addr)"

// checkFrontEnd reports a --fastcgi-front-end the fastcgi strategy cannot use with the rest.
func checkFrontEnd(front string, shared bool, addr string) error {
	err := fastcgi.CheckFrontEnd(front, shared, addr != "")
	switch {
	case errors.Is(err, fastcgi.ErrEventLoopPool):
		return fmt.Errorf("--fastcgi-front-end %w", err) // "--fastcgi-front-end event-loop serves only…"
	case err != nil:
		return fmt.Errorf("--fastcgi-front-end: %w", err)
	}
	return nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %v: give host:port such as 127.0.0.1:8080", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q is not a loopback address: use 127.0.0.1 or [::1], or pass --allow-remote", addr)
	}
	return nil
}

// ReadyPrefix starts the line Serve prints once the backend accepts requests; the URL follows.
const ReadyPrefix = "cgibench: serving at "

// Serve starts one backend, prints ReadyPrefix+URL on stdout, and serves until ctx is done; then
// it stops the backend and every process it started. Backend log lines go to logw.
func Serve(ctx context.Context, o ServeOptions, stdout, logw io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	cat := &scripts.Catalog{CacheDir: o.CacheDir, Log: logw}
	prog, err := ResolveProgram(ctx, cat, o.Strategy, o.Program)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	e, _ := lookupStrategy(o.Strategy)
	strategy := e.strategy
	if _, ok := strategy.(fastcgi.Strategy); ok {
		strategy = fastcgi.Strategy{SharedSocket: o.SharedSocket, Network: o.FastCGINetwork, FrontEnd: o.FastCGIFrontEnd}
	}
	b, err := strategy.Start(ctx, strategies.Config{
		Program:     prog,
		Listen:      o.Listen,
		Timeout:     o.Timeout,
		Workers:     o.Workers,
		MaxRequests: o.MaxRequests,
		FastCGIAddr: o.FastCGIAddr,
		Log:         logw,
	})
	if err != nil {
		return fmt.Errorf("serve: starting %s/%s: %w", o.Strategy, prog.Name, err)
	}
	fmt.Fprintf(stdout, "%s%s (%s/%s; Ctrl-C stops)\n", ReadyPrefix, b.URL(), o.Strategy, prog.Name)
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}
	<-ctx.Done()
	if err := b.Close(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
