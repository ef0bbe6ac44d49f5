package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DefaultStepDuration is the measured length of a capacity search's steps when
// SearchConfig.StepDuration is zero.
const DefaultStepDuration = 10 * time.Second

// MaxSearchSteps bounds the number of steps of a capacity search.
const MaxSearchSteps = 1000

// SustainableThroughput is the fraction of its target rate a step must deliver to be
// sustainable: responses must keep up with requests.
const SustainableThroughput = 0.95

// SearchConfig describes a capacity search: open-loop runs (steps) at rising rates until one is
// not sustainable. The zero value of a field means its default; Validate reports what cannot be
// used.
type SearchConfig struct {
	// From, To and Step give the rates of the steps in requests per second: From,
	// From+Step, ... up to To (ParseRateRange reads "FROM:TO:STEP"). Step may be zero when
	// From equals To. (--rate FROM:TO:STEP)
	From, To, Step float64
	// Factor, instead of Step, makes the rates rise geometrically: From, From·Factor,
	// From·Factor², ... up to To ("FROM:TO:xFACTOR"), for strategies whose capacities differ
	// by orders of magnitude (cgi and fastcgi) in one search. Greater than 1 when set.
	// (--rate FROM:TO:xFACTOR)
	Factor float64
	// StepDuration is the measured length of each step; default DefaultStepDuration. Every
	// step also has Config.Warmup before it. (--step)
	StepDuration time.Duration
	// SLOP99 bounds the 99th percentile of a sustainable step's latency (corrected: from the
	// intended start); zero sets no bound. (--slo-p99)
	SLOP99 time.Duration
	// MaxErrorRate bounds the fraction of a sustainable step's requests that failed
	// (0.001 = 0.1%; ParseFraction reads "0.1%"); zero allows none. (--max-error-rate)
	MaxErrorRate float64
	// Attempts is how many times in a row a rate must fail before the search ends there;
	// default DefaultAttempts, so that one hiccup of a shared machine (a pause of tens of
	// milliseconds is enough to pass a p99 SLO) does not end it early. (--attempts)
	Attempts int
}

// DefaultAttempts is SearchConfig.Attempts when zero.
const DefaultAttempts = 2

// MaxAttempts bounds SearchConfig.Attempts.
const MaxAttempts = 10

// Validate reports every problem of the search at once, each naming the flag to fix.
func (s SearchConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("loadgen: "+format, args...))
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(s.From) || !finite(s.To) || !finite(s.Step) || !finite(s.Factor):
		bad("--rate: rates must be numbers, got %v:%v step %v factor %v", s.From, s.To, s.Step, s.Factor)
	case s.From <= 0 || s.To > MaxRate:
		bad("--rate: rates must be in (0, %d], got %v:%v", MaxRate, s.From, s.To)
	case s.To < s.From:
		bad("--rate: the last rate %v is below the first %v", s.To, s.From)
	case s.Step != 0 && s.Factor != 0:
		bad("--rate: give a step or a factor, not both")
	case s.Factor != 0 && s.Factor <= 1:
		bad("--rate: the factor must be over 1, got x%v", s.Factor)
	case s.Factor > 1 && math.Log(s.To/s.From)/math.Log(s.Factor) >= MaxSearchSteps:
		bad("--rate: %v:%v:x%v makes more than %d steps", s.From, s.To, s.Factor, MaxSearchSteps)
	case s.Factor > 1:
	case s.Step < 0 || s.Step == 0 && s.To != s.From:
		bad("--rate: the step must be positive, got %v", s.Step)
	case s.Step > 0 && (s.To-s.From)/s.Step >= MaxSearchSteps:
		bad("--rate: %v:%v:%v makes more than %d steps", s.From, s.To, s.Step, MaxSearchSteps)
	}
	if s.StepDuration < 0 {
		bad("--step must not be negative, got %s", s.StepDuration)
	}
	if s.SLOP99 < 0 {
		bad("--slo-p99 must not be negative, got %s", s.SLOP99)
	}
	if !(s.MaxErrorRate >= 0 && s.MaxErrorRate <= 1) {
		bad("--max-error-rate must be a fraction in [0, 1] (e.g. 0.1%%), got %v", s.MaxErrorRate)
	}
	if s.Attempts < 0 || s.Attempts > MaxAttempts {
		bad("--attempts must be 1..%d, got %d", MaxAttempts, s.Attempts)
	}
	return errors.Join(errs...)
}

// WithDefaults returns s with its zero StepDuration and Attempts set to their defaults.
func (s SearchConfig) WithDefaults() SearchConfig {
	if s.StepDuration == 0 {
		s.StepDuration = DefaultStepDuration
	}
	if s.Attempts == 0 {
		s.Attempts = DefaultAttempts
	}
	return s
}

// Rates lists the steps' rates, those a search tries when every one is sustainable.
func (s SearchConfig) Rates() []float64 {
	if s.Step == 0 && s.Factor <= 1 {
		return []float64{s.From}
	}
	var rs []float64
	for i := 0; ; i++ {
		r := s.From + float64(i)*s.Step // not accumulated: no drift
		if s.Factor > 1 {
			r = s.From * math.Pow(s.Factor, float64(i))
		}
		if r > s.To*(1+1e-9) {
			return rs
		}
		rs = append(rs, min(r, s.To))
	}
}

// Bounds a step may cross: the values of SearchResult.Bound.
const (
	BoundUnsent     = "unsent"     // requests due could not be sent: MaxConnections all busy
	BoundErrors     = "error_rate" // more failed requests than MaxErrorRate
	BoundThroughput = "throughput" // responses came slower than SustainableThroughput × rate
	BoundP99        = "slo_p99"    // the corrected p99 latency exceeded SLOP99
	BoundCancelled  = "cancelled"  // the context ended the search
	BoundNone       = ""           // every rate up to To was sustainable
)

// SearchResult is what a capacity search found.
type SearchResult struct {
	// Steps are the runs made, in order: every one sustainable but the last Attempts ones
	// when the search ended on a bound, and any failed attempt followed by a sustainable one
	// at the same rate.
	Steps []SearchStep `json:"steps"`
	// MaxSustainableRPS is the rate of the last sustainable step; 0 when the first was not.
	MaxSustainableRPS float64 `json:"max_sustainable_rps"`
	// Bound is what the first unsustainable step crossed (one of the Bound constants; the
	// first in that order when several were), BoundNone when none was.
	Bound string `json:"bound"`
	// Partial is set when the context was cancelled during the search.
	Partial bool `json:"partial"`
}

// SearchStep is one rate of a capacity search.
type SearchStep struct {
	RateRPS float64 `json:"rate_rps"`
	// AchievedRPS is the rate responses came at: requests over the time from the end of the
	// first response to the end of the last, which leaves out the latency at the start and the
	// drain at the end.
	AchievedRPS float64 `json:"achieved_rps"`
	P99NS       int64   `json:"p99_ns"` // corrected
	ErrorRate   float64 `json:"error_rate"`
	OK          bool    `json:"ok"`
	// Reason says which bounds the step crossed, e.g. "p99 81ms > SLO 50ms"; empty when OK.
	Reason string  `json:"reason,omitempty"`
	Result *Result `json:"result"`

	bound string
}

// Search runs cfg as an open loop at each rate of s in turn, every run cfg.Warmup then
// s.StepDuration long (cfg.Rate, Duration and Requests are ignored), until a rate is not
// sustainable s.Attempts times in a row: some requests could not be sent, too many failed,
// responses fell behind the rate, or the p99 latency passed the SLO. It returns an error only
// for an unusable configuration, before sending anything.
func Search(ctx context.Context, cfg Config, s SearchConfig) (*SearchResult, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	cfg.Rate, cfg.Duration, cfg.Requests = s.From, s.StepDuration, 0
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out := &SearchResult{}
	for _, rate := range s.Rates() {
		cfg.Rate = rate
		for attempt := 1; ; attempt++ {
			res, err := Run(ctx, cfg)
			if err != nil {
				return nil, err
			}
			step := judgeStep(rate, res, s, cfg.withDefaults().MaxConnections)
			out.Steps = append(out.Steps, step)
			switch {
			case res.Partial:
				out.Partial, out.Bound = true, BoundCancelled
				return out, nil
			case !step.OK && attempt == s.Attempts:
				out.Bound = step.bound
				return out, nil
			case !step.OK:
				continue
			}
			break
		}
		out.MaxSustainableRPS = rate
	}
	return out, nil
}

// judgeStep decides whether a step's result is sustainable; maxConns is the run's resolved
// Config.MaxConnections.
func judgeStep(rate float64, res *Result, s SearchConfig, maxConns int) SearchStep {
	st := SearchStep{RateRPS: rate, Result: res, AchievedRPS: res.deliveryRate()}
	if res.Requests > 0 {
		st.ErrorRate = float64(res.ErrorCount()) / float64(res.Requests)
	}
	if res.Histogram.TotalCount() > 0 {
		st.P99NS = res.Histogram.ValueAtQuantile(99)
	}
	var reasons []string
	fail := func(bound, format string, args ...any) {
		if st.bound == "" {
			st.bound = bound
		}
		reasons = append(reasons, fmt.Sprintf(format, args...))
	}
	if res.Unsent > 0 {
		why := fmt.Sprintf("all %d connections busy", res.PeakConnections)
		if res.PeakConnections < maxConns {
			why = "the generator fell behind (a busy machine?)"
		}
		fail(BoundUnsent, "%d of %d requests not sent: %s", res.Unsent, res.Scheduled, why)
	}
	if st.ErrorRate > s.MaxErrorRate {
		fail(BoundErrors, "error rate %.3g%% > %.3g%%", 100*st.ErrorRate, 100*s.MaxErrorRate)
	}
	if st.AchievedRPS < SustainableThroughput*rate {
		fail(BoundThroughput, "responses at %.0f req/s < %.0f%% of %.0f", st.AchievedRPS, 100*SustainableThroughput, rate)
	}
	if s.SLOP99 > 0 && time.Duration(st.P99NS) > s.SLOP99 {
		fail(BoundP99, "p99 %s > SLO %s", roundDuration(time.Duration(st.P99NS)), s.SLOP99)
	}
	st.OK = len(reasons) == 0
	st.Reason = strings.Join(reasons, "; ")
	return st
}

// roundDuration keeps three or four significant digits: 55.18ms, not 55.181311ms.
func roundDuration(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 10000*unit {
			return d.Round(unit)
		}
	}
	return d
}

// SyntaxError is a malformed command-line value; Offset is the byte where the problem is.
type SyntaxError struct {
	Flag   string
	Input  string
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("loadgen: %s %q: at byte %d: %s", e.Flag, e.Input, e.Offset, e.Msg)
}

// ParseRateRange reads a --rate value into the rates of a search: "R" (one rate: From = To =
// R), "FROM:TO:STEP" (Step) or "FROM:TO:xFACTOR" (Factor), in requests per second, e.g.
// "100:3000:100" or "10:5000:x1.5".
func ParseRateRange(s string) (SearchConfig, error) {
	bad := func(off int, format string, args ...any) error {
		return &SyntaxError{Flag: "--rate", Input: s, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	fields := strings.Split(s, ":")
	if len(fields) != 1 && len(fields) != 3 {
		return SearchConfig{}, bad(0, "want RATE, FROM:TO:STEP or FROM:TO:xFACTOR (requests per second), e.g. 100:3000:100")
	}
	var v [3]float64
	factor := false
	off := 0
	for i, f := range fields {
		t := strings.TrimSpace(f)
		if i == 2 {
			if rest, ok := strings.CutPrefix(t, "x"); ok {
				t, factor = rest, true
			}
		}
		x, err := strconv.ParseFloat(t, 64)
		switch {
		case err != nil || math.IsNaN(x) || math.IsInf(x, 0):
			return SearchConfig{}, bad(off, "%q is not a number", f)
		case factor && x <= 1:
			return SearchConfig{}, bad(off, "the factor %q must be over 1", f)
		case x <= 0:
			return SearchConfig{}, bad(off, "%q is not a positive rate", f)
		case !factor && x > MaxRate:
			return SearchConfig{}, bad(off, "%q is over %d requests per second", f, MaxRate)
		}
		v[i] = x
		off += len(f) + 1
	}
	if len(fields) == 1 {
		return SearchConfig{From: v[0], To: v[0]}, nil
	}
	if v[1] < v[0] {
		return SearchConfig{}, bad(len(fields[0])+1, "the last rate %v is below the first %v", v[1], v[0])
	}
	if factor {
		return SearchConfig{From: v[0], To: v[1], Factor: v[2]}, nil
	}
	return SearchConfig{From: v[0], To: v[1], Step: v[2]}, nil
}

// ParseFraction reads a fraction such as --max-error-rate: "0.1%" or "0.001", in [0, 1].
func ParseFraction(flag, s string) (float64, error) {
	t, scale := strings.TrimSpace(s), 1.0
	if rest, ok := strings.CutSuffix(t, "%"); ok {
		t, scale = strings.TrimSpace(rest), 100
	}
	x, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(x) {
		return 0, &SyntaxError{Flag: flag, Input: s, Offset: 0, Msg: "want a fraction such as 0.1% or 0.001"}
	}
	x /= scale
	if x < 0 || x > 1 {
		return 0, &SyntaxError{Flag: flag, Input: s, Offset: 0, Msg: "want a fraction in [0, 1] (0% to 100%)"}
	}
	return x, nil
}
