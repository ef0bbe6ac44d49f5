package loadgen

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// Run sends the load cfg describes and measures it: a closed loop of cfg.Concurrency
// connections, each sending its next request as soon as the previous response is read; or, when
// cfg.Rate is set, an open loop that sends requests on a fixed schedule over as many connections
// as it takes (up to cfg.MaxConnections).
//
// It returns an error only for an unusable configuration (or a system that cannot run the event
// loops), and then sends nothing. Failed requests are counted in the Result. Cancelling ctx
// stops the run promptly: requests in flight are abandoned (not counted) and the Result, marked
// Partial, covers what completed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	return run(ctx, cfg, nil)
}

// dialHook, when not nil (tests), is called before every connection attempt with the host:port
// to connect to; an error fails the attempt.
type dialHook func(addr string) error

// plan is what the event loops of one run share. After the start only the atomics change.
type plan struct {
	cfg    Config // defaults resolved
	target *target
	reqs   []wireRequest
	dial   dialHook

	start       time.Time // the load begins: warm-up, then the measured phase
	measureFrom time.Time // end of the warm-up
	until       time.Time // end of the measured phase, when bounded in time
	timed       bool
	limited     bool         // bounded in requests
	budget      atomic.Int64 // closed loop: measured requests left to start, when limited

	// Open loop. Requests are tickets 0, 1, 2, ... whose intended start is start+offset(g);
	// event loop i of n sends the tickets g with g%n == i.
	open        bool
	warmTickets int64 // tickets before this one are warm-up
	endTicket   int64 // tickets from this one on are past the schedule
	stopAt      time.Time
	slots       atomic.Int64 // connections opened so far, all loops together
}

// offset is how long after the start ticket g is due, to the nearest nanosecond.
func (p *plan) offset(g int64) time.Duration {
	return time.Duration(math.Round(float64(g) * 1e9 / p.cfg.Rate))
}

// intended is when ticket g is due.
func (p *plan) intended(g int64) time.Time { return p.start.Add(p.offset(g)) }

// ticketAt is the first ticket due at or after d from the start.
func (p *plan) ticketAt(d time.Duration) int64 {
	g := int64(math.Ceil(float64(d) * p.cfg.Rate / 1e9))
	for g > 0 && p.offset(g-1) >= d {
		g--
	}
	for p.offset(g) < d {
		g++
	}
	return g
}

// begin fixes the run's times once the load starts at now.
func (p *plan) begin(now time.Time) {
	cfg := &p.cfg
	p.start = now
	p.measureFrom = now.Add(cfg.Warmup)
	if cfg.Duration > 0 {
		p.timed = true
		p.until = p.measureFrom.Add(cfg.Duration)
	}
	if !p.open {
		return
	}
	p.warmTickets = p.ticketAt(cfg.Warmup)
	p.endTicket = math.MaxInt64
	if p.timed {
		p.endTicket = p.ticketAt(cfg.Warmup + cfg.Duration)
	}
	if p.limited {
		p.endTicket = min(p.endTicket, p.warmTickets+cfg.Requests)
	}
	// A request due before the schedule's end may still be sent a little after it, never
	// later: what is left then is Unsent.
	p.stopAt = p.intended(p.endTicket).Add(SendGrace)
}

// measuredTickets counts the measured tickets of event loop i due before end.
func (p *plan) measuredTickets(i int, end time.Time) int64 {
	hi := p.endTicket
	if end.Before(p.intended(hi)) {
		hi = min(hi, p.ticketAt(end.Sub(p.start)+1))
	}
	return countCongruent(p.warmTickets, hi, int64(i), int64(p.cfg.Threads))
}

// countCongruent counts the integers g in [lo, hi) with g%n == r.
func countCongruent(lo, hi, r, n int64) int64 {
	if hi <= lo {
		return 0
	}
	first := lo + ((r-lo)%n+n)%n
	if first >= hi {
		return 0
	}
	return (hi-first-1)/n + 1
}

// loopResult is what one event loop hands back.
type loopResult struct {
	rec       *recorder
	conns     int   // connection slots it used
	scheduled int64 // open loop: measured tickets due
	started   int64 // open loop: measured tickets sent
}

func run(ctx context.Context, cfg Config, dial dialHook) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t, err := parseTarget(cfg.URL, cfg.AllowRemote)
	if err != nil {
		return nil, err
	}
	reqs, err := renderWorkload(t, cfg.Workload)
	if err != nil {
		return nil, err
	}
	p := &plan{cfg: cfg, target: t, reqs: reqs, dial: dial, limited: cfg.Requests > 0, open: cfg.Rate > 0}
	p.budget.Store(cfg.Requests)
	loops, end, cancelled, err := execute(ctx, p)
	if err != nil {
		return nil, err
	}
	res := &Result{Partial: cancelled, Start: p.measureFrom.Round(0), Rate: cfg.Rate}
	if end.After(p.measureFrom) {
		res.Elapsed = end.Sub(p.measureFrom)
	}
	recs := make([]*recorder, len(loops))
	for i, l := range loops {
		recs[i] = l.rec
		res.PeakConnections += l.conns
		res.Scheduled += l.scheduled
		res.Unsent += max(l.scheduled-l.started, 0)
	}
	merge(res, recs, cfg.Interval)
	return res, nil
}
