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
type Result struct {
	// Requests is the number of requests completed, successful or not.
	Requests int64 `json:"requests"`
	// Errors counts failed requests by class (ErrorClasses); classes that did not occur are
	// absent. Requests minus the sum of Errors succeeded.
	Errors map[string]int64 `json:"errors"`
	// ErrorSamples holds, per class in Errors, the description of one such failure.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Connections is the number of connections opened (attempts included).
	Connections int64 `json:"connections"`
	// Elapsed is the duration of the measured phase, up to the end of its last request.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Histogram holds the latency in nanoseconds of every request that got a complete
	// response, whatever its status: all but connect, timeout and protocol errors. Merged from
	// the workers' histograms; geometry as NewHistogram.
	Histogram *hdrhistogram.Histogram `json:"-"`
	// OutOfRange counts latencies the histogram could not hold (over 60 s).
	OutOfRange int64 `json:"out_of_range"`
	// Partial is set when the context was cancelled before the run's end: the figures cover
	// what was done until then.
	Partial bool `json:"partial"`
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

// exchange is the outcome of one request.
type exchange struct {
	req        *wireRequest
	start, end time.Time
	class      class
	complete   bool  // a whole response was read: end-start is its latency
	aborted    bool  // cut short by cancellation: not a result at all
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

// recorder accumulates one worker's results. It has no lock: one goroutine owns it.
type recorder struct {
	hist       *hdrhistogram.Histogram
	requests   int64
	outOfRange int64
	dials      int64
	errors     [numClasses]int64
	samples    [numClasses]string
}

func newRecorder() *recorder { return &recorder{hist: NewHistogram()} }

// add records one measured exchange.
func (r *recorder) add(x *exchange) {
	r.requests++
	r.dials += x.dials
	if x.class != classOK {
		r.errors[x.class]++
		if r.samples[x.class] == "" {
			r.samples[x.class] = x.describe()
		}
	}
	if x.complete {
		if err := r.hist.RecordValue(int64(x.end.Sub(x.start))); err != nil {
			r.outOfRange++
		}
	}
}

// merge adds recorders into res.
func merge(res *Result, recs []*recorder) {
	res.Histogram = NewHistogram()
	res.Errors = map[string]int64{}
	for _, r := range recs {
		res.Requests += r.requests
		res.Connections += r.dials
		res.OutOfRange += r.outOfRange + res.Histogram.Merge(r.hist)
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
}
