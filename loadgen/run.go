package loadgen

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Run sends the load cfg describes and measures it: a closed loop of cfg.Concurrency
// connections, each sending its next request as soon as the previous response is read.
//
// It returns an error only for an unusable configuration, and then sends nothing. Failed
// requests are counted in the Result. Cancelling ctx stops the run promptly: requests in flight
// are abandoned (not counted) and the Result, marked Partial, covers what completed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	var d net.Dialer
	return run(ctx, cfg, d.DialContext)
}

// plan is what the workers of one run share. Only budget changes.
type plan struct {
	reqs        []wireRequest
	verify      bool
	measureFrom time.Time // end of the warm-up
	until       time.Time // end of the measured phase, when bounded in time
	timed       bool
	limited     bool         // bounded in requests
	budget      atomic.Int64 // measured requests left to start, when limited
}

// worker is one connection of a closed loop, with its own recorder.
type worker struct {
	client *client
	rec    *recorder
	next   int      // index of the next request in plan.reqs
	x      exchange // reused for every request
}

func run(ctx context.Context, cfg Config, dial dialFunc) (*Result, error) {
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

	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		workers[i] = &worker{
			client: newClient(dial, t.addr, cfg.Timeout),
			rec:    newRecorder(),
			next:   i * len(reqs) / cfg.Concurrency, // spread the workers over the variants
		}
	}
	// Cancellation must also unblock a worker stuck in a read or write: interrupt sets a
	// deadline in the past on its connection.
	stop := context.AfterFunc(ctx, func() {
		for _, w := range workers {
			w.client.interrupt()
		}
	})
	defer stop()

	p := &plan{reqs: reqs, verify: cfg.Verify, limited: cfg.Requests > 0}
	p.budget.Store(cfg.Requests)
	start := time.Now()
	p.measureFrom = start.Add(cfg.Warmup)
	if cfg.Duration > 0 {
		p.timed = true
		p.until = p.measureFrom.Add(cfg.Duration)
	}

	var cancelled atomic.Bool
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			if w.closedLoop(ctx, p) {
				cancelled.Store(true)
			}
		})
	}
	wg.Wait()
	end := time.Now()
	for _, w := range workers {
		w.client.close()
	}

	res := &Result{Partial: cancelled.Load()}
	if end.After(p.measureFrom) {
		res.Elapsed = end.Sub(p.measureFrom)
	}
	recs := make([]*recorder, len(workers))
	for i, w := range workers {
		recs[i] = w.rec
	}
	merge(res, recs)
	return res, nil
}

// closedLoop sends requests back to back until the plan's end. It reports whether the
// cancellation of ctx ended it.
func (w *worker) closedLoop(ctx context.Context, p *plan) (cancelled bool) {
	for {
		if ctx.Err() != nil {
			return true
		}
		now := time.Now()
		measured := !now.Before(p.measureFrom)
		if measured {
			if p.timed && !now.Before(p.until) {
				return false
			}
			// Taking a ticket before sending makes the request count exact: every ticket
			// becomes one recorded request unless the run is cancelled.
			if p.limited && p.budget.Add(-1) < 0 {
				return false
			}
		}
		req := &p.reqs[w.next]
		if w.next++; w.next == len(p.reqs) {
			w.next = 0
		}
		w.client.roundTrip(ctx, req, p.verify, &w.x)
		if w.x.aborted {
			return true
		}
		if measured {
			w.rec.add(&w.x)
		}
	}
}
