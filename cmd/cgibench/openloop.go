package main

import (
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/loadgen"
)

// openLoopFlags are the flags of the open (fixed-rate) model and of the capacity search, which
// run and load share.
type openLoopFlags struct {
	fs           *pflag.FlagSet
	rate         string
	maxConns     int
	threads      int
	interval     time.Duration
	step         time.Duration
	sloP99       time.Duration
	maxErrorRate string
	attempts     int
}

func (o *openLoopFlags) register(fs *pflag.FlagSet) {
	o.fs = fs
	fs.StringVar(&o.rate, "rate", "", "open loop: send R requests per second in total on a fixed schedule, latency corrected for coordinated omission; FROM:TO:STEP (e.g. 100:3000:100) or FROM:TO:xFACTOR (e.g. 10:5000:x1.5) searches for the highest sustainable rate")
	fs.IntVar(&o.maxConns, "max-connections", 0, "open loop: connections it may open to keep to the schedule (0: "+strconv.Itoa(loadgen.MaxConcurrency)+")")
	fs.IntVar(&o.threads, "threads", 0, "event-loop threads of the load generator (0: half the CPUs, at least 1)")
	fs.DurationVar(&o.interval, "interval", loadgen.DefaultInterval, "length of the intervals of the throughput and p99 time series (and of --hlog)")
	fs.DurationVar(&o.step, "step", loadgen.DefaultStepDuration, "capacity search: measured time at each rate")
	fs.DurationVar(&o.sloP99, "slo-p99", 0, "capacity search: a rate is sustainable only if its p99 (corrected) stays under this, e.g. 50ms (0: no bound)")
	fs.StringVar(&o.maxErrorRate, "max-error-rate", "0", "capacity search: a rate is sustainable only if at most this share of requests fail, e.g. 0.1%")
	fs.IntVar(&o.attempts, "attempts", loadgen.DefaultAttempts, "capacity search: times in a row a rate must fail before the search ends there")
}

// parse returns the fixed rate (0: closed loop) or the capacity search the flags ask for.
func (o *openLoopFlags) parse() (rate float64, search *loadgen.SearchConfig, err error) {
	searchOnly := []string{"step", "slo-p99", "max-error-rate", "attempts"}
	if o.rate == "" {
		for _, name := range append([]string{"max-connections"}, searchOnly...) {
			if o.fs.Changed(name) {
				return 0, nil, usagef("--%s needs --rate (a rate, or FROM:TO:STEP for a capacity search)", name)
			}
		}
		return 0, nil, nil
	}
	s, err := loadgen.ParseRateRange(o.rate)
	if err != nil {
		return 0, nil, &usageError{err}
	}
	if s.Step == 0 && s.Factor == 0 {
		for _, name := range searchOnly {
			if o.fs.Changed(name) {
				return 0, nil, usagef("--%s needs a capacity search: give --rate FROM:TO:STEP, e.g. 100:3000:100", name)
			}
		}
		return s.From, nil, nil
	}
	for _, name := range []string{"duration", "requests"} {
		if o.fs.Changed(name) {
			return 0, nil, usagef("--%s does not apply to a capacity search: each rate runs for --step", name)
		}
	}
	s.StepDuration, s.SLOP99, s.Attempts = o.step, o.sloP99, o.attempts
	if s.MaxErrorRate, err = loadgen.ParseFraction("--max-error-rate", o.maxErrorRate); err != nil {
		return 0, nil, &usageError{err}
	}
	if s.StepDuration <= 0 {
		return 0, nil, usagef("--step must be positive, got %s", s.StepDuration)
	}
	if s.Attempts < 1 {
		return 0, nil, usagef("--attempts must be 1 or more, got %d", s.Attempts)
	}
	if err := s.Validate(); err != nil {
		return 0, nil, &usageError{err}
	}
	return 0, &s, nil
}

// parseInto sets c's open-loop fields from the flags and returns the capacity search they ask
// for, if any.
func (o *openLoopFlags) parseInto(c *loadgen.Config) (*loadgen.SearchConfig, error) {
	rate, search, err := o.parse()
	if err != nil {
		return nil, err
	}
	c.Rate, c.MaxConnections, c.Threads, c.Interval = rate, o.maxConns, o.threads, o.interval
	return search, nil
}
