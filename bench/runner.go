package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/procfs"

	"github.com/cgibench/cgibench/loadgen"
	"github.com/cgibench/cgibench/scripts"
	"github.com/cgibench/cgibench/scripts/go/refapp"
	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/fastcgi"
)

// Version is the tool version written into results.
var Version = "0.1.0"

// Config says what to measure. The zero value of each field means its default.
type Config struct {
	// Strategies to run; default every strategy.
	Strategies []string
	// Programs: built-in names or paths of the user's programs; default every built-in program
	// each strategy has.
	Programs []string
	// Workloads; default every workload (get, urlencoded, multipart).
	Workloads []string
	// Concurrency levels (closed-loop connections); default {8}.
	Concurrency []int
	// Duration of the measured load per cell; default DefaultDuration. Requests, when set, ends a
	// cell after that many requests if that comes first.
	Duration time.Duration
	Requests int64
	// Warmup is load before measuring, excluded; default DefaultWarmup. Negative: none.
	Warmup time.Duration
	// Work lists work=N values, one cell per value (0: no work parameter); default {0}. Several
	// values give the crossover plot: where start-up stops mattering.
	Work []int
	// Timeout, Workers, MaxRequests, FastCGIAddr are passed to every backend.
	Timeout     time.Duration
	Workers     int
	MaxRequests int
	FastCGIAddr string
	// SharedSocket runs FastCGI workers on one shared listening socket.
	SharedSocket bool
	// FastCGINetwork is the FastCGI pool's sockets: "unix" (default) or "tcp".
	FastCGINetwork string
	// FastCGIFrontEnd is what serves HTTP in front of the FastCGI workers:
	// fastcgi.FrontEventLoop or fastcgi.FrontNetHTTP; "" is fastcgi.Strategy's default.
	FastCGIFrontEnd string
	// Rate, when positive, makes every cell an open loop (fixed rate, corrected for
	// coordinated omission) at that many requests per second; Concurrency is then the number of
	// connections opened at the start, more opened as the schedule needs, up to MaxConnections.
	Rate float64
	// Search, when set, makes every cell a capacity search: open-loop steps at rising rates
	// until one is not sustainable (Rate, Duration and Requests are then not used).
	Search *loadgen.SearchConfig
	// MaxConnections, Threads and Interval are passed to the load generator (loadgen.Config).
	MaxConnections int
	Threads        int
	Interval       time.Duration
	// HlogDir, when set, receives an HdrHistogram interval log (.hlog) per cell, one per step of
	// a capacity search.
	HlogDir string
	// Verify checks every response against the reference implementation. Built-in programs
	// are always verified; user programs only when this is set (they must implement the
	// contract in scripts/README.md).
	Verify bool
	// CacheDir is where built-in apps are built.
	CacheDir string
	// ServeCommand starts a backend: it is run with ServeOptions.Args() appended and must behave
	// like `cgibench serve`. Default: this executable with "serve".
	ServeCommand []string
	// Log receives the backends' log lines (program stderr, failures); default discarded.
	Log io.Writer
	// OnEvent, when set, is told of progress. It must not block.
	OnEvent func(Event)
	// OnCell, when set, is called with the results so far after every cell (to save them).
	OnCell func(*Results) error

	// onlyPairs, when set, limits the matrix to these "strategy/program" pairs, silently.
	onlyPairs map[string]bool
}

// Defaults of the main job: about two minutes for the default matrix on 2 cores.
const (
	DefaultDuration    = 1500 * time.Millisecond
	DefaultWarmup      = 500 * time.Millisecond
	DefaultConcurrency = 8
)

// Event reports progress.
type Event struct {
	Index, Total int    // 1-based cell number and number of cells planned
	Cell         string // "cgi/python/get c=8"
	Phase        string // "start", "warmup", "load", "done", "failed"
	// ETA estimates the time left for the whole run.
	ETA time.Duration
}

// Validate reports every problem with the configuration at once, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	for _, s := range c.Strategies {
		if _, err := lookupStrategy(s); err != nil {
			errs = append(errs, fmt.Errorf("--strategies: %w", err))
		}
	}
	for _, w := range c.Workloads {
		if !slices.Contains(loadgen.WorkloadNames, w) {
			errs = append(errs, fmt.Errorf("--workloads: unknown workload %q: choose from %s", w, strings.Join(loadgen.WorkloadNames, ", ")))
		}
	}
	for _, n := range c.Concurrency {
		if n < 1 {
			errs = append(errs, fmt.Errorf("--concurrency %d: give 1 or more connections", n))
		}
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("--duration %v is negative: give a duration such as 10s", c.Duration))
	}
	if c.Requests < 0 {
		errs = append(errs, fmt.Errorf("--requests %d is negative: give 0 (no bound) or more", c.Requests))
	}
	for _, w := range c.Work {
		if w < 0 || w > refapp.MaxWork {
			errs = append(errs, fmt.Errorf("--work %d: give 0 to %d iterations", w, refapp.MaxWork))
		}
	}
	if err := (strategies.Config{Timeout: c.Timeout, Workers: c.Workers, MaxRequests: c.MaxRequests}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Search != nil {
		if err := c.Search.Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.Rate > 0 {
			errs = append(errs, errors.New("--rate: give one rate or a FROM:TO:STEP range, not both"))
		}
	}
	// The load generator checks its own settings; any workload and loopback URL will do here.
	probe := loadgen.Config{URL: "http://127.0.0.1/", Workload: &loadgen.Workload{Name: "get", Requests: make([]loadgen.Request, 1)},
		Duration: time.Second, Rate: c.Rate, MaxConnections: c.MaxConnections, Threads: c.Threads, Interval: c.Interval}
	if c.Search != nil {
		probe.Rate = c.Search.From
	}
	concs := c.Concurrency
	if len(concs) == 0 {
		concs = []int{DefaultConcurrency}
	}
	for _, n := range concs {
		if n >= 1 {
			probe.Concurrency = n
			if err := probe.Validate(); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	if c.SharedSocket && c.MaxRequests > 0 {
		errs = append(errs, errors.New("--max-requests needs per-worker sockets: drop --shared-socket"))
	}
	if err := fastcgi.CheckNetwork(c.FastCGINetwork); err != nil {
		errs = append(errs, fmt.Errorf("--fastcgi-network: %w", err))
	}
	if err := checkFrontEnd(c.FastCGIFrontEnd, c.SharedSocket, c.FastCGIAddr); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) resolve() Config {
	if len(c.Strategies) == 0 {
		c.Strategies = StrategyNames()
	}
	if len(c.Workloads) == 0 {
		c.Workloads = loadgen.WorkloadNames
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = []int{DefaultConcurrency}
	}
	if len(c.Work) == 0 {
		c.Work = []int{0}
	}
	if c.Duration == 0 && c.Requests == 0 {
		c.Duration = DefaultDuration
	}
	if c.Warmup == 0 {
		c.Warmup = DefaultWarmup
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.OnEvent == nil {
		c.OnEvent = func(Event) {}
	}
	return c
}

// planned is one cell to measure.
type planned struct {
	strategy    string
	program     strategies.Program
	arg         string // what --program the serve child gets
	builtin     bool
	workload    string
	concurrency int
	work        int
}

func (p planned) label() string {
	l := fmt.Sprintf("%s/%s/%s c=%d", p.strategy, p.program.Name, p.workload, p.concurrency)
	if p.work > 0 {
		l += fmt.Sprintf(" work=%d", p.work)
	}
	return l
}

// plan resolves programs (building built-in apps) and lists the cells and the skips.
func plan(ctx context.Context, c Config, cat *scripts.Catalog) ([]planned, []Skip, error) {
	var cells []planned
	var skips []Skip
	for _, s := range c.Strategies {
		names := c.Programs
		explicit := len(names) > 0
		if !explicit {
			names = DefaultPrograms(s)
		}
		for _, name := range names {
			if c.onlyPairs != nil && !c.onlyPairs[s+"/"+name] {
				continue
			}
			prog, err := ResolveProgram(ctx, cat, s, name)
			var unavail *scripts.UnavailableError
			switch {
			case errors.Is(err, ErrNotApplicable):
				if explicit {
					skips = append(skips, Skip{Strategy: s, Program: name, Reason: err.Error()})
				}
				continue
			case errors.As(err, &unavail):
				skips = append(skips, Skip{Strategy: s, Program: name, Reason: unavail.Error()})
				continue
			case err != nil:
				if ctx.Err() != nil {
					return cells, skips, ctx.Err()
				}
				return nil, nil, err
			}
			builtin := !IsUserProgram(name)
			arg := name
			if !builtin {
				arg = prog.Path
				if prog.Script != "" {
					arg = prog.Script
				}
			}
			for _, w := range c.Workloads {
				if builtin && !scripts.SupportsWorkload(name, w) {
					skips = append(skips, Skip{Strategy: s, Program: name, Workload: w, Reason: name + " handles GET only"})
					continue
				}
				for _, work := range c.Work {
					for _, n := range c.Concurrency {
						cells = append(cells, planned{s, prog, arg, builtin, w, n, work})
					}
				}
			}
		}
	}
	return cells, skips, nil
}

// Run measures every cell of the matrix. When ctx is cancelled it stops the cell under way,
// keeps what was measured (marked partial) and returns the results with ctx's error.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.resolve()
	res := &Results{
		Schema:    SchemaVersion,
		Tool:      "cgibench " + Version,
		StartedAt: time.Now().UTC(),
		Host:      hostInfo(),
	}
	cat := &scripts.Catalog{CacheDir: cfg.CacheDir, Log: cfg.Log}
	cells, skips, err := plan(ctx, cfg, cat)
	res.Skipped = skips
	if err != nil {
		res.Partial = true
		res.FinishedAt = time.Now().UTC()
		return res, err
	}
	if len(cells) == 0 {
		return res, errors.New("nothing to run: no strategy has any of the programs asked for (see the skipped list)")
	}
	serveCmd := cfg.ServeCommand
	if len(serveCmd) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench: finding this executable to start backends: %w", err)
		}
		serveCmd = []string{exe, "serve"}
	}
	perCell := cfg.Duration + max(cfg.Warmup, 0) + 300*time.Millisecond
	if s := cfg.Search; s != nil {
		// The steps have no warm-up of their own: the cell's warm-up comes before the first.
		perCell = time.Duration(len(s.Rates()))*s.WithDefaults().StepDuration + max(cfg.Warmup, 0) + 300*time.Millisecond
	}
	for i, p := range cells {
		ev := Event{Index: i + 1, Total: len(cells), Cell: p.label(), ETA: time.Duration(len(cells)-i) * perCell}
		ev.Phase = "start"
		cfg.OnEvent(ev)
		cell, err := runCell(ctx, cfg, serveCmd, p, func(phase string) { ev.Phase = phase; cfg.OnEvent(ev) })
		res.Cells = append(res.Cells, cell)
		if err != nil || cell.Error != "" || cell.Partial {
			res.Partial = true
		}
		res.FinishedAt = time.Now().UTC()
		if cfg.OnCell != nil {
			if err := cfg.OnCell(res); err != nil {
				return res, fmt.Errorf("bench: saving results: %w", err)
			}
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		ev.Phase = "done"
		cfg.OnEvent(ev)
	}
	res.FinishedAt = time.Now().UTC()
	return res, nil
}

// runCell measures one cell. A backend that fails is recorded in the cell, not returned.
func runCell(ctx context.Context, cfg Config, serveCmd []string, p planned, phase func(string)) (Cell, error) {
	cell := Cell{
		Strategy:    p.strategy,
		Program:     p.program.Name,
		Workload:    p.workload,
		Concurrency: p.concurrency,
		Work:        p.work,
		RateRPS:     cfg.Rate,
		Errors:      map[string]int64{},
	}
	if p.strategy == "fastcgi" || p.strategy == "embedded" {
		cell.Workers = cfg.Workers
		if cell.Workers == 0 {
			cell.Workers = runtime.NumCPU()
		}
	}
	if p.strategy == "fastcgi" {
		cell.FastCGISocket, cell.SharedSocket = fastCGISocket(cfg)
		cell.FrontEnd = fastcgi.Strategy{SharedSocket: cfg.SharedSocket, FrontEnd: cfg.FastCGIFrontEnd}.FrontEndFor(cfg.FastCGIAddr != "")
	}
	wl, err := loadgen.NewWorkload(p.workload, p.work)
	if err != nil {
		cell.Error = err.Error()
		return cell, err
	}
	srv, err := startServe(ctx, serveCmd, ServeOptions{
		Strategy:        p.strategy,
		Program:         p.arg,
		Timeout:         cfg.Timeout,
		Workers:         cfg.Workers,
		MaxRequests:     cfg.MaxRequests,
		FastCGIAddr:     cfg.FastCGIAddr,
		SharedSocket:    cfg.SharedSocket,
		FastCGINetwork:  cfg.FastCGINetwork,
		FastCGIFrontEnd: cfg.FastCGIFrontEnd,
		CacheDir:        cfg.CacheDir,
	}, cfg.Log)
	if err != nil {
		cell.Error = err.Error()
		phase("failed")
		return cell, nil
	}
	defer srv.stop()

	lcfg := loadgen.Config{
		URL:         srv.url,
		Workload:    wl,
		Concurrency: p.concurrency,
		Timeout:     cfg.Timeout,
		Verify:      p.builtin || cfg.Verify,
	}
	if cfg.Warmup > 0 {
		phase("warmup")
		w := lcfg
		w.Duration, w.Verify = cfg.Warmup, false
		if _, err := loadgen.Run(ctx, w); err != nil {
			cell.Error = "warm-up: " + err.Error()
			return cell, nil
		}
		if ctx.Err() != nil {
			cell.Partial = true
			return cell, nil
		}
	}

	phase("load")
	lcfg.Duration, lcfg.Requests = cfg.Duration, cfg.Requests
	lcfg.Rate, lcfg.MaxConnections, lcfg.Threads, lcfg.Interval = cfg.Rate, cfg.MaxConnections, cfg.Threads, cfg.Interval
	fs, fsErr := procfs.NewFS("/proc")
	var res Resources
	var smp *sampler
	var cpu0 cpuSnapshot
	if fsErr == nil {
		cpu0 = treeCPU(fs, srv.pid())
		smp = startSampler(ctx, fs, srv.pid())
	}
	self0 := selfCPU()
	loads, err := LoadCell(ctx, &cell, lcfg, cfg.Search)
	self1 := selfCPU()
	if fsErr == nil {
		cpu1 := treeCPU(fs, srv.pid())
		smp.finish(&res)
		res.ServerCPUNS = max(cpu1.live-cpu0.live, 0)
		res.ChildrenCPUNS = max(cpu1.reaped-cpu0.reaped, 0)
	}
	res.LoadgenCPUNS = self1 - self0
	if err != nil {
		cell.Error = "load: " + err.Error()
		return cell, nil
	}
	// The resources cover the whole load: every step of a search (the steps have no warm-up
	// of their own, so every request the CPU went to is counted).
	var requests int64
	for _, l := range loads {
		requests += l.Requests
	}
	if requests > 0 {
		res.CPUPerRequestNS = float64(res.ServerCPUNS+res.ChildrenCPUNS) / float64(requests)
	}
	cell.Resources = &res
	if cfg.HlogDir != "" {
		if err := writeHlogs(cfg.HlogDir, p, loads, cfg.Search != nil); err != nil {
			fmt.Fprintf(cfg.Log, "cgibench: %s: %v\n", p.label(), err)
			return cell, err
		}
	}
	return cell, nil
}

// writeHlogs writes the interval logs of a cell into dir, named after the cell.
func writeHlogs(dir string, p planned, logs []*loadgen.Result, search bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing interval logs: %w", err)
	}
	stem := fmt.Sprintf("%s-%s-%s-c%d", p.strategy, p.program.Name, p.workload, p.concurrency)
	if p.work > 0 {
		stem += fmt.Sprintf("-work%d", p.work)
	}
	return WriteHlogs(filepath.Join(dir, FileStem(stem)), ".hlog", logs, search)
}

// WriteHlogs writes the interval log (loadgen.WriteIntervalLog) of a load to stem+ext; of a
// capacity search (search set), the log of each step to stem-stepNN-rRATE+ext, numbered from 1.
func WriteHlogs(stem, ext string, results []*loadgen.Result, search bool) error {
	for i, r := range results {
		path := stem + ext
		if search {
			path = fmt.Sprintf("%s-step%02d-r%g%s", stem, i+1, r.Rate, ext)
		}
		if err := writeHlog(path, r); err != nil {
			return err
		}
	}
	return nil
}

func writeHlog(path string, r *loadgen.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing interval log: %w", err)
	}
	if err := loadgen.WriteIntervalLog(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing interval log %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing interval log: %w", err)
	}
	return nil
}

// FileStem makes s safe as a file name on any system: lower case letters, digits, '.', '_'
// and '-'; anything else becomes '-'.
func FileStem(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, s)
}

// LoadCell runs lcfg's load, or the capacity search when search is set, and fills cell with
// what it measured (FillCell, FillCapacity). It returns the loads it ran, one per step of a
// search, for their interval logs; on error, none, and cell is left as it was.
func LoadCell(ctx context.Context, cell *Cell, lcfg loadgen.Config, search *loadgen.SearchConfig) ([]*loadgen.Result, error) {
	if search == nil {
		out, err := loadgen.Run(ctx, lcfg)
		if err != nil {
			return nil, err
		}
		FillCell(cell, out)
		return []*loadgen.Result{out}, nil
	}
	out, err := loadgen.Search(ctx, lcfg, *search)
	if err != nil {
		return nil, err
	}
	FillCapacity(cell, search.WithDefaults(), out)
	loads := make([]*loadgen.Result, len(out.Steps))
	for i, st := range out.Steps {
		loads[i] = st.Result
	}
	return loads, nil
}

// FillCell copies a load result into a cell: the figures, the open-loop figures when it was one,
// and the interval series.
func FillCell(cell *Cell, out *loadgen.Result) {
	cell.DurationNS = out.Elapsed.Nanoseconds()
	cell.Requests = out.Requests
	for k, v := range out.Errors {
		if v != 0 {
			cell.Errors[k] = v
		}
	}
	if out.Elapsed > 0 {
		cell.ThroughputRPS = float64(out.Requests) / out.Elapsed.Seconds()
	}
	cell.LatencyNS = Summarize(out.Histogram)
	cell.OutOfRange = out.OutOfRange
	cell.Partial = out.Partial
	cell.Histogram = encodeOrEmpty(out.Histogram)
	cell.OpenLoop = nil
	if out.Uncorrected != nil {
		cell.OpenLoop = &OpenLoop{
			Scheduled:            out.Scheduled,
			Late:                 out.Late,
			Unsent:               out.Unsent,
			PeakConnections:      out.PeakConnections,
			UncorrectedLatencyNS: Summarize(out.Uncorrected),
			UncorrectedHistogram: encodeOrEmpty(out.Uncorrected),
			ScheduleLagNS:        Summarize(out.ScheduleLag),
		}
	}
	cell.IntervalNS = out.IntervalLength.Nanoseconds()
	cell.Intervals = make([]Interval, 0, len(out.Intervals))
	for i := range out.Intervals {
		iv := &out.Intervals[i]
		cell.Intervals = append(cell.Intervals, Interval{
			StartNS:       iv.Start.Nanoseconds(),
			DurationNS:    iv.Duration.Nanoseconds(),
			Requests:      iv.Requests,
			Errors:        iv.Errors,
			ThroughputRPS: iv.RequestsPerSecond(),
			P50NS:         iv.P50NS,
			P99NS:         iv.P99NS,
			MaxNS:         iv.MaxNS,
		})
	}
}

// FillCapacity fills a cell from a capacity search: the search in Capacity, the other figures
// from the step at the highest sustainable rate (the first step when none was), with RateRPS
// that step's rate.
func FillCapacity(cell *Cell, s loadgen.SearchConfig, out *loadgen.SearchResult) {
	c := &Capacity{
		MaxSustainableRPS: out.MaxSustainableRPS,
		Bound:             out.Bound,
		FromRPS:           s.From,
		ToRPS:             s.To,
		StepRPS:           s.Step,
		Factor:            s.Factor,
		StepNS:            s.StepDuration.Nanoseconds(),
		Attempts:          s.Attempts,
		SLOP99NS:          s.SLOP99.Nanoseconds(),
		MaxErrorRate:      s.MaxErrorRate,
	}
	var shown *loadgen.SearchStep
	for i := range out.Steps {
		st := &out.Steps[i]
		c.Steps = append(c.Steps, CapacityStep{
			RateRPS:     st.RateRPS,
			AchievedRPS: st.AchievedRPS,
			P99NS:       st.P99NS,
			ErrorRate:   st.ErrorRate,
			Unsent:      st.Result.Unsent,
			OK:          st.OK,
			Reason:      st.Reason,
		})
		if shown == nil || st.OK && st.RateRPS == out.MaxSustainableRPS {
			shown = st
		}
	}
	if shown != nil {
		FillCell(cell, shown.Result)
		cell.RateRPS = shown.RateRPS
	}
	cell.Partial = cell.Partial || out.Partial
	cell.Capacity = c
}

func encodeOrEmpty(h *hdrhistogram.Histogram) string {
	if h == nil {
		return ""
	}
	enc, err := EncodeHistogram(h)
	if err != nil {
		return ""
	}
	return enc
}

// served is a running `cgibench serve` child.
type served struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func (s *served) pid() int { return s.cmd.Process.Pid }

// ServeStartTimeout bounds how long a backend may take to say it is ready.
const ServeStartTimeout = 60 * time.Second

func startServe(ctx context.Context, serveCmd []string, o ServeOptions, logw io.Writer) (*served, error) {
	args := append(slices.Clone(serveCmd[1:]), o.Args()...)
	cmd := exec.Command(serveCmd[0], args...)
	cmd.Stderr = logw
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a Ctrl-C at the terminal reaches only us, and we stop the
		// backend in order. If we die, so does it.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting backend %s: %w", serveCmd[0], err)
	}
	s := &served{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, ReadyPrefix) {
				url, _, _ := strings.Cut(strings.TrimPrefix(line, ReadyPrefix), " ")
				ready <- url
			}
		}
		close(ready)
		s.done <- cmd.Wait()
	}()
	timer := time.NewTimer(ServeStartTimeout)
	defer timer.Stop()
	select {
	case url, ok := <-ready:
		if ok {
			s.url = url
			return s, nil
		}
		err := <-s.done
		return nil, fmt.Errorf("backend %s/%s exited before serving (%v); its log says why", o.Strategy, o.Program, err)
	case <-timer.C:
		s.stop()
		return nil, fmt.Errorf("backend %s/%s not ready after %v", o.Strategy, o.Program, ServeStartTimeout)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// StopGrace is how long a backend has to stop after SIGTERM before it is killed.
const StopGrace = 10 * time.Second

// stop asks the backend to stop, then kills its whole process group if it lingers.
func (s *served) stop() {
	pid := s.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(StopGrace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-s.done
	}
	// Anything the backend left in its group (it should have left nothing) goes too.
	syscall.Kill(-pid, syscall.SIGKILL)
}

func hostInfo() HostInfo {
	h := HostInfo{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(data))
	}
	return h
}

// fastCGISocket says how the fastcgi strategy reaches its workers under cfg: over which
// network, and whether they share one socket. A server at --fastcgi-addr is reached as its
// address says, and its sharing is unknown (false).
func fastCGISocket(cfg Config) (network string, shared bool) {
	if cfg.FastCGIAddr != "" {
		network, _, _ = fastcgi.ParseAddr(cfg.FastCGIAddr)
		return network, false
	}
	if cfg.FastCGINetwork == "" {
		return "unix", cfg.SharedSocket
	}
	return cfg.FastCGINetwork, cfg.SharedSocket
}
