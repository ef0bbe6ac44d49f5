package loadgen

import (
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Error classes: the keys of Result.Errors.
const (
	// ClassConnect: the connection could not be opened (refused, unreachable, dial timeout).
	ClassConnect = "connect"
	// ClassTimeout: no complete response within Config.Timeout.
	ClassTimeout = "timeout"
	// ClassProtocol: the response was malformed or cut short, or the connection failed mid-way.
	ClassProtocol = "protocol"
	// ClassStatus4xx: a 4xx status (that Verify did not expect).
	ClassStatus4xx = "status_4xx"
	// ClassStatus5xx: a 5xx status (that Verify did not expect).
	ClassStatus5xx = "status_5xx"
	// ClassMismatch: with Verify, a status or body other than the expected one.
	ClassMismatch = "mismatch"
)

// ErrorClasses lists the error classes in a fixed order, for reports.
var ErrorClasses = []string{ClassConnect, ClassTimeout, ClassProtocol, ClassStatus4xx, ClassStatus5xx, ClassMismatch}

// class is an error class as an index, so that workers count without maps.
type class uint8

const (
	classOK class = iota
	classConnect
	classTimeout
	classProtocol
	classStatus4xx
	classStatus5xx
	classMismatch
	numClasses
)

var classNames = [numClasses]string{"", ClassConnect, ClassTimeout, ClassProtocol, ClassStatus4xx, ClassStatus5xx, ClassMismatch}

// Histogram geometry: nanoseconds from 1µs to 60s at 3 significant digits.
const (
	HistogramMinNS   = int64(time.Microsecond)
	HistogramMaxNS   = int64(60 * time.Second)
	HistogramSigFigs = 3
)

// NewHistogram returns an empty latency histogram with the geometry every Result uses, so that
// histograms merge exactly.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(HistogramMinNS, HistogramMaxNS, HistogramSigFigs)
}

// Result is what a run measured. Only the measured phase counts: warm-up is left out.
//
// In a closed loop (Config.Rate zero) a request's latency runs from just before its first byte
// is written to the last byte of its response. In an open loop (fixed rate) every request has an
// intended start time on the schedule, and Histogram holds the latency from that time: a request
// that could not be sent on time because every connection was busy, or because the server had
// stopped answering, counts the wait (the correction for coordinated omission, as in wrk2).
// Uncorrected holds the latency from the actual send, for comparison.
type Result struct {
	// Start is when the measured phase began (wall clock), the origin of Intervals.
	Start time.Time `json:"start"`
	// Rate is Config.Rate: the target rate of an open loop, 0 for a closed loop.
	Rate float64 `json:"rate,omitempty"`
	// Requests is the number of requests completed, successful or not.
	Requests int64 `json:"requests"`
	// Errors counts failed requests by class (ErrorClasses); classes that did not occur are
	// absent. Requests minus the sum of Errors succeeded.
	Errors map[string]int64 `json:"errors"`
	// ErrorSamples holds, per class in Errors, the description of one such failure.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Connections is the number of connections opened (attempts included).
	Connections int64 `json:"connections"`
	// PeakConnections is the number of connections the run used at most at once: Concurrency
	// in a closed loop; in an open loop, those opened at the start plus those opened to keep
	// to the schedule.
	PeakConnections int `json:"peak_connections"`
	// Elapsed is the duration of the measured phase, up to the end of its last request.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Histogram holds the latency in nanoseconds of every request that got a complete
	// response, whatever its status: all but connect, timeout and protocol errors. In an open
	// loop it runs from the intended start (corrected). Merged from the threads' histograms;
	// geometry as NewHistogram.
	Histogram *hdrhistogram.Histogram `json:"-"`
	// Uncorrected is, in an open loop, the latency of the same requests from their actual
	// send, as a closed-loop tool would report it; nil in a closed loop.
	Uncorrected *hdrhistogram.Histogram `json:"-"`
	// ScheduleLag is, in an open loop, how late after its intended start each request was
	// sent, in nanoseconds: the generator's own precision when it keeps up, the wait for a free
	// connection when it does not; nil in a closed loop.
	ScheduleLag *hdrhistogram.Histogram `json:"-"`
	// OutOfRange counts latencies the histogram could not hold (over 60 s).
	OutOfRange int64 `json:"out_of_range"`
	// Scheduled is, in an open loop, the number of measured requests whose intended start fell
	// within the run: Requests + Unsent, plus those abandoned by a cancellation.
	Scheduled int64 `json:"scheduled,omitempty"`
	// Late counts the requests of an open loop sent more than LateThreshold after their
	// intended start (they are in Requests; their wait is in Histogram, not in Uncorrected).
	Late int64 `json:"late"`
	// Unsent counts the requests of an open loop that were due but never sent: every one of
	// MaxConnections connections was busy from their intended start until the schedule's end
	// (plus SendGrace) — or the generator itself fell that far behind, held up by a busy
	// machine (PeakConnections < MaxConnections then tells). They are not in Requests:
	// Unsent > 0 means that the target rate was not offered. In a cancelled run, the schedule
	// ends when the cancellation was noticed.
	Unsent int64 `json:"unsent"`
	// IntervalLength is Config.Interval: the length of every interval but the last.
	IntervalLength time.Duration `json:"interval_ns"`
	// Intervals splits the measured phase into consecutive intervals of IntervalLength, by
	// the time each request ended, from Start to the end of the last request.
	Intervals []Interval `json:"intervals,omitempty"`
	// Partial is set when the context was cancelled before the run's end: the figures cover
	// what was done until then.
	Partial bool `json:"partial"`

	span time.Duration // from the end of the first response to the end of the last one
}

// Interval is the part of a run whose requests ended within [Start, Start+Duration) after
// Result.Start.
type Interval struct {
	Start    time.Duration `json:"start_ns"`
	Duration time.Duration `json:"duration_ns"` // Config.Interval, but for a shorter last one
	// Requests and Errors count the requests that ended in the interval, as Result's.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// P50NS, P99NS and MaxNS summarize Histogram (0 when it is empty).
	P50NS int64 `json:"p50_ns"`
	P99NS int64 `json:"p99_ns"`
	MaxNS int64 `json:"max_ns"`
	// Histogram holds the latencies of the interval, as Result.Histogram (corrected in an open
	// loop), with the same geometry; its start and end times are set (milliseconds since the
	// epoch) for WriteIntervalLog. Packed: an hour of one-second intervals stays small.
	Histogram *hdrhistogram.PackedHistogram `json:"-"`
}

// RequestsPerSecond is the interval's throughput.
func (iv *Interval) RequestsPerSecond() float64 {
	if iv.Duration <= 0 {
		return 0
	}
	return float64(iv.Requests) / iv.Duration.Seconds()
}

// ErrorCount is the number of failed requests.
func (r *Result) ErrorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// RequestsPerSecond is the completed requests over the elapsed time; 0 when none elapsed.
func (r *Result) RequestsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// deliveryRate is the rate at which responses ended, from the first to the last: unlike
// RequestsPerSecond it leaves out the latency of the first request and the wait for the last,
// so that a short open-loop run at a sustainable rate measures that rate.
func (r *Result) deliveryRate() float64 {
	if r.Requests < 2 || r.span <= 0 {
		return r.RequestsPerSecond()
	}
	return float64(r.Requests-1) / r.span.Seconds()
}

// exchange is the outcome of one request.
type exchange struct {
	req        *wireRequest
	intended   time.Time // open loop: when the schedule wanted it sent
	start, end time.Time // first byte written (zero if never), end of the response or failure
	class      class
	measured   bool  // in the measured phase: recorded
	complete   bool  // a whole response was read: end-start is its latency
	dials      int64 // connections opened (or attempted) for it
	status     int   // of a complete response
	err        error // cause of a connect, timeout or protocol error
}

// describe explains a failed exchange, for Result.ErrorSamples.
func (x *exchange) describe() string {
	switch x.class {
	case classStatus4xx, classStatus5xx:
		return x.req.name + ": status " + strconv.Itoa(x.status)
	case classMismatch:
		if x.status != x.req.status {
			return x.req.name + ": status " + strconv.Itoa(x.status) + ", want " + strconv.Itoa(x.req.status)
		}
		return x.req.name + ": body differs from the expected one"
	}
	if x.err != nil {
		return x.req.name + ": " + x.err.Error()
	}
	return x.req.name
}

// recorder accumulates one event loop's results. It has no lock: one goroutine owns it.
type recorder struct {
	open        bool // open loop: latency from the intended start, and the extra histograms
	hist        *hdrhistogram.Histogram
	uncorrected *hdrhistogram.Histogram
	lag         *hdrhistogram.Histogram
	requests    int64
	outOfRange  int64
	dials       int64
	late        int64
	errors      [numClasses]int64
	samples     [numClasses]string
	first, last time.Time // ends of the first and last recorded requests

	// Intervals: the current one is recorded into a dense histogram (fast), moved into a
	// packed one (small) when a request ends in a later interval. Requests end in order: one
	// goroutine reads the clock for all of them.
	origin   time.Time
	interval time.Duration
	cur      int
	curHist  *hdrhistogram.Histogram
	curReqs  int64
	curErrs  int64
	past     []intervalCounts
}

// intervalCounts is one finished interval of one recorder.
type intervalCounts struct {
	hist             *hdrhistogram.PackedHistogram // nil when no latency was recorded
	requests, errors int64
}

func newRecorder(open bool, origin time.Time, interval time.Duration) *recorder {
	r := &recorder{open: open, hist: NewHistogram(), origin: origin, interval: interval, curHist: NewHistogram()}
	if open {
		r.uncorrected, r.lag = NewHistogram(), NewHistogram()
	}
	return r
}

// newPacked returns an empty packed histogram with NewHistogram's geometry.
func newPacked() *hdrhistogram.PackedHistogram {
	return hdrhistogram.NewPacked(HistogramMinNS, HistogramMaxNS, HistogramSigFigs)
}

// add records one measured exchange.
func (r *recorder) add(x *exchange) {
	r.requests++
	r.dials += x.dials
	if r.first.IsZero() {
		r.first = x.end
	}
	r.last = x.end
	if i := int(x.end.Sub(r.origin) / r.interval); i != r.cur && i > 0 {
		r.rotate(i)
	}
	r.curReqs++
	if x.class != classOK {
		r.curErrs++
		r.errors[x.class]++
		if r.samples[x.class] == "" {
			r.samples[x.class] = x.describe()
		}
	}
	if r.open && !x.start.IsZero() {
		lag := x.start.Sub(x.intended)
		if lag > LateThreshold {
			r.late++
		}
		r.lag.RecordValue(max(int64(lag), 0)) // over 60 s late: the latency is out of range too
	}
	if !x.complete {
		return
	}
	from := x.start
	if r.open {
		from = x.intended
		r.uncorrected.RecordValue(int64(x.end.Sub(x.start)))
	}
	v := int64(x.end.Sub(from))
	if r.hist.RecordValue(v) != nil {
		r.outOfRange++
		return
	}
	r.curHist.RecordValue(v)
}

// rotate closes the current interval and makes interval i the current one.
func (r *recorder) rotate(i int) {
	if i < r.cur {
		return // cannot happen: ends are read in order; keep them in the current interval
	}
	r.flush()
	r.cur = i
}

// flush moves the current interval into past.
func (r *recorder) flush() {
	for len(r.past) <= r.cur {
		r.past = append(r.past, intervalCounts{})
	}
	ic := &r.past[r.cur]
	ic.requests += r.curReqs
	ic.errors += r.curErrs
	if r.curHist.TotalCount() > 0 {
		if ic.hist == nil {
			ic.hist = newPacked()
		}
		ic.hist.MergeFrom(r.curHist)
		ic.hist.Compact() // it is kept to the end: no spare room
		r.curHist.Reset()
	}
	r.curReqs, r.curErrs = 0, 0
}

// merge adds recorders into res: totals, error classes and intervals of the given length, over
// res.Elapsed from res.Start.
func merge(res *Result, recs []*recorder, interval time.Duration) {
	res.Histogram = NewHistogram()
	if len(recs) > 0 && recs[0].open {
		res.Uncorrected, res.ScheduleLag = NewHistogram(), NewHistogram()
	}
	res.Errors = map[string]int64{}
	var first, last time.Time
	n := int((res.Elapsed + interval - 1) / interval)
	for _, r := range recs {
		r.flush()
		n = max(n, len(r.past))
		res.Requests += r.requests
		res.Connections += r.dials
		res.Late += r.late
		res.OutOfRange += r.outOfRange + res.Histogram.Merge(r.hist)
		if r.open {
			res.Uncorrected.Merge(r.uncorrected)
			res.ScheduleLag.Merge(r.lag)
		}
		if !r.first.IsZero() && (first.IsZero() || r.first.Before(first)) {
			first = r.first
		}
		if r.last.After(last) {
			last = r.last
		}
		for c := classOK + 1; c < numClasses; c++ {
			if r.errors[c] == 0 {
				continue
			}
			res.Errors[classNames[c]] += r.errors[c]
			if _, ok := res.ErrorSamples[classNames[c]]; !ok {
				if res.ErrorSamples == nil {
					res.ErrorSamples = map[string]string{}
				}
				res.ErrorSamples[classNames[c]] = r.samples[c]
			}
		}
	}
	res.span = last.Sub(first)
	res.IntervalLength = interval
	res.Intervals = make([]Interval, n)
	startMS := res.Start.UnixMilli()
	for i := range res.Intervals {
		iv := &res.Intervals[i]
		iv.Start = time.Duration(i) * interval
		iv.Duration = min(interval, max(res.Elapsed-iv.Start, 0))
		iv.Histogram = newPacked()
		for _, r := range recs {
			if i < len(r.past) {
				ic := &r.past[i]
				iv.Requests += ic.requests
				iv.Errors += ic.errors
				if ic.hist != nil {
					iv.Histogram.Merge(ic.hist)
				}
			}
		}
		iv.Histogram.SetStartTimeMs(startMS + iv.Start.Milliseconds())
		iv.Histogram.SetEndTimeMs(startMS + (iv.Start + iv.Duration).Milliseconds())
		if iv.Histogram.TotalCount() > 0 {
			iv.P50NS = iv.Histogram.ValueAtPercentile(50)
			iv.P99NS = iv.Histogram.ValueAtPercentile(99)
			iv.MaxNS = iv.Histogram.Max()
		}
	}
}

// judge classifies a complete response.
func judge(resp *response, req *wireRequest, verify bool) class {
	if verify && resp.status == req.status {
		if resp.match {
			return classOK
		}
		return classMismatch
	}
	switch {
	case resp.status >= 500 && resp.status < 600:
		return classStatus5xx
	case resp.status >= 400 && resp.status < 500:
		return classStatus4xx
	case verify:
		return classMismatch
	}
	return classOK
}
