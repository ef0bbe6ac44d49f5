package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSearchKnee: the capacity search finds the knee of a server of known capacity, within 15%.
//
// The server lets K = 20 requests in at a time, each for T = 50 ms: it serves at most
// K/T = 400 requests per second. Below that, requests evenly spaced (the open loop's) never
// queue: latency is T. Above it, the queue grows by (rate − 400) per second: at 450/s for a
// 0.5 s step, 25 requests wait at the end, 62 ms more, well past an SLO of 1.5·T, and responses
// come at 400/s, under 95% of 450. So the last sustainable step of 100, 150, ... is 400.
// (Sleeps overrun by up to a millisecond or so, which takes the capacity down to about 392/s:
// the queue at 400/s then costs 10 ms by the end of the step, within the SLO. It would take
// sleeps 10% long to make it 350, still within 15%.)
func TestSearchKnee(t *testing.T) {
	const (
		slots   = 20
		service = 50 * time.Millisecond
		knee    = slots * float64(time.Second/service) // 400 requests per second
	)
	w, resp := cannedResponse(t)
	sem := make(chan struct{}, slots)
	srv := startRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for readRequestHead(br) {
			sem <- struct{}{}
			time.Sleep(service)
			<-sem
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
	cfg := Config{URL: srv.url(), Workload: w, Concurrency: slots, Warmup: 100 * time.Millisecond}
	// Three attempts per rate: on a shared machine, a pause of the process fails a step now
	// and then; and two searches, in case one was spoilt all the same.
	s := SearchConfig{From: 100, To: 800, Step: 50, StepDuration: 500 * time.Millisecond, SLOP99: service * 3 / 2,
		MaxErrorRate: 0.001, Attempts: 3}
	retry(t, 2, func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := Search(ctx, cfg, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range res.Steps {
			t.Logf("%4.0f/s: ok %-5v achieved %4.0f/s p99 %-8s errors %.2g%% %d connections  %s", st.RateRPS, st.OK, st.AchievedRPS,
				time.Duration(st.P99NS).Round(time.Microsecond), 100*st.ErrorRate, st.Result.PeakConnections, st.Reason)
		}
		if res.Partial || res.Bound == BoundNone {
			t.Fatalf("got partial %v, bound %q; want a search ended by a bound", res.Partial, res.Bound)
		}
		for _, last := range res.Steps[len(res.Steps)-3:] {
			if last.OK || last.RateRPS != res.MaxSustainableRPS+s.Step {
				t.Errorf("got a last step at %v/s, ok %v; want three at the rate after %v/s, failed", last.RateRPS, last.OK, res.MaxSustainableRPS)
			}
		}
		if got := res.MaxSustainableRPS; math.Abs(got-knee) > 0.15*knee {
			return []string{fmt.Sprintf("got a maximum sustainable rate of %v/s; want %v/s ± 15%%", got, knee)}
		}
		return nil
	})
}

// TestSearchBounds: each bound stops the search, and the first step's failure leaves no
// sustainable rate.
func TestSearchBounds(t *testing.T) {
	w, resp := cannedResponse(t)
	fast, _ := cannedServer(t, resp, false)
	failing, _ := cannedServer(t, []byte("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"), false)
	silent := startRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for readRequestHead(br) {
		}
	})
	tests := []struct {
		name      string
		url       string
		cfg       Config
		s         SearchConfig
		wantMax   float64
		wantBound string
		wantSteps int
	}{
		{"all sustainable", fast.url(), Config{}, SearchConfig{From: 100, To: 300, Step: 100, Attempts: 4}, 300, BoundNone, 3},
		{"one rate", fast.url(), Config{}, SearchConfig{From: 200, To: 200, Attempts: 4}, 200, BoundNone, 1},
		{"errors, two attempts", failing.url(), Config{}, SearchConfig{From: 100, To: 300, Step: 100, MaxErrorRate: 0.5}, 0, BoundErrors, 2},
		{"unsent", silent.url(), Config{MaxConnections: 2, Timeout: 500 * time.Millisecond},
			SearchConfig{From: 100, To: 300, Step: 100, Attempts: 1}, 0, BoundUnsent, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URL, cfg.Workload = tt.url, w
			s := tt.s
			s.StepDuration = 200 * time.Millisecond
			res, err := Search(context.Background(), cfg, s)
			if err != nil {
				t.Fatal(err)
			}
			// More steps when a sustainable rate failed an attempt on a busy machine.
			if res.MaxSustainableRPS != tt.wantMax || res.Bound != tt.wantBound || len(res.Steps) < tt.wantSteps {
				t.Errorf("got max %v, bound %q after %d steps (%+v); want %v, %q after %d",
					res.MaxSustainableRPS, res.Bound, len(res.Steps), res.Steps, tt.wantMax, tt.wantBound, tt.wantSteps)
			}
			if tt.wantBound != BoundNone && res.Steps[len(res.Steps)-1].Reason == "" {
				t.Errorf("got no reason for the failed step; want one")
			}
		})
	}
	// A cancelled search ends with what it did.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	res, err := Search(ctx, Config{URL: fast.url(), Workload: w}, SearchConfig{From: 100, To: 1000, Step: 100, StepDuration: time.Second})
	if err != nil || !res.Partial || res.Bound != BoundCancelled || len(res.Steps) != 1 {
		t.Errorf("got %+v, %v; want a partial search of one step", res, err)
	}
}

func TestSearchConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		s    SearchConfig
		want []string // substrings of the error, one per problem; none for a valid config
	}{
		{"valid", SearchConfig{From: 100, To: 3000, Step: 100, StepDuration: 10 * time.Second, SLOP99: 50 * time.Millisecond, MaxErrorRate: 0.001}, nil},
		{"one rate", SearchConfig{From: 100, To: 100}, nil},
		{"every problem at once", SearchConfig{From: 100, To: 50, Step: 1, StepDuration: -1, SLOP99: -1, MaxErrorRate: 2, Attempts: -1},
			[]string{"--rate", "--step", "--slo-p99", "--max-error-rate", "--attempts"}},
		{"too many attempts", SearchConfig{From: 1, To: 1, Attempts: MaxAttempts + 1}, []string{"--attempts must be 1..10"}},
		{"no rate", SearchConfig{}, []string{"--rate: rates must be in (0"}},
		{"no step", SearchConfig{From: 100, To: 200}, []string{"the step must be positive"}},
		{"too many steps", SearchConfig{From: 1, To: 100000, Step: 1}, []string{"more than 1000 steps"}},
		{"nan", SearchConfig{From: math.NaN(), To: 1, Step: 1}, []string{"must be numbers"}},
		{"nan error rate", SearchConfig{From: 1, To: 1, MaxErrorRate: math.NaN()}, []string{"--max-error-rate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v; want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error; want one mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q; want it to mention %q", err, w)
				}
			}
		})
	}
	// Search refuses before sending anything, a bad Config too.
	if _, err := Search(context.Background(), Config{}, SearchConfig{From: 1, To: 1}); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Errorf("Search with no URL: got %v; want a --url error", err)
	}
}

func TestParseRateRange(t *testing.T) {
	tests := []struct {
		in                     string
		from, to, step, factor float64
		wantErr                string // substring; "" for none
		offset                 int
	}{
		{"100:3000:100", 100, 3000, 100, 0, "", 0},
		{"500", 500, 500, 0, 0, "", 0},
		{"0.5:2.5:0.5", 0.5, 2.5, 0.5, 0, "", 0},
		{" 100 : 200 : 50 ", 100, 200, 50, 0, "", 0},
		{"1e3:2e3:1e2", 1000, 2000, 100, 0, "", 0},
		{"10:5000:x1.5", 10, 5000, 0, 1.5, "", 0},
		{"10:5000: x2 ", 10, 5000, 0, 2, "", 0},
		{"10:5000:x1", 0, 0, 0, 0, "the factor", 8},
		{"10:5000:x", 0, 0, 0, 0, "not a number", 8},
		{"", 0, 0, 0, 0, "not a number", 0},
		{"100:200", 0, 0, 0, 0, "want RATE, FROM:TO:STEP or FROM:TO:xFACTOR", 0},
		{"100:200:10:5", 0, 0, 0, 0, "want RATE, FROM:TO:STEP", 0},
		{"100:x:5", 0, 0, 0, 0, `"x" is not a number`, 4},
		{"100:200:0", 0, 0, 0, 0, "not a positive rate", 8},
		{"-5", 0, 0, 0, 0, "not a positive rate", 0},
		{"NaN", 0, 0, 0, 0, "not a number", 0},
		{"Inf:1:1", 0, 0, 0, 0, "not a number", 0},
		{"300:200:10", 0, 0, 0, 0, "below the first", 4},
		{"1e9", 0, 0, 0, 0, "over 10000000", 0},
	}
	for _, tt := range tests {
		r, err := ParseRateRange(tt.in)
		if tt.wantErr == "" {
			if err != nil || r.From != tt.from || r.To != tt.to || r.Step != tt.step || r.Factor != tt.factor {
				t.Errorf("ParseRateRange(%q): got %+v, %v; want %v:%v step %v factor %v", tt.in, r, err, tt.from, tt.to, tt.step, tt.factor)
			}
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.wantErr) || se.Offset != tt.offset {
			t.Errorf("ParseRateRange(%q): got %v; want a SyntaxError at byte %d mentioning %q", tt.in, err, tt.offset, tt.wantErr)
		}
	}
}

func TestParseFraction(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.1%", 0.001, true},
		{"0.001", 0.001, true},
		{" 5 % ", 0.05, true},
		{"0", 0, true},
		{"100%", 1, true},
		{"1", 1, true},
		{"101%", 0, false},
		{"-1%", 0, false},
		{"2", 0, false},
		{"%", 0, false},
		{"NaN", 0, false},
		{"abc", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseFraction("--max-error-rate", tt.in)
		if (err == nil) != tt.ok || tt.ok && math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("ParseFraction(%q): got %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--max-error-rate") {
			t.Errorf("ParseFraction(%q): got %q; want it to name the flag", tt.in, err)
		}
	}
}

func FuzzParseRateRange(f *testing.F) {
	for _, s := range []string{"100:3000:100", "500", "0.5:1:0.1", "1e3:2e3:1", "100:x:5", "::", "-1", "10:5000:x1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRateRange(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("got %v; want a SyntaxError with an offset within the input", err)
			}
			return
		}
		// What parses is a valid search (but perhaps for its number of steps).
		if err := r.Validate(); err != nil && !strings.Contains(err.Error(), "steps") {
			t.Fatalf("ParseRateRange(%q) = %+v, which Validate refuses: %v", s, r, err)
		}
	})
}

func FuzzParseFraction(f *testing.F) {
	for _, s := range []string{"0.1%", "0.001", "100%", "1e-3", "%", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, err := ParseFraction("--f", s)
		if err == nil && !(x >= 0 && x <= 1) {
			t.Fatalf("ParseFraction(%q) = %v; want a fraction in [0, 1]", s, x)
		}
	})
}

func TestSearchRates(t *testing.T) {
	for _, tt := range []struct {
		s    SearchConfig
		want []float64
	}{
		{SearchConfig{From: 100, To: 100}, []float64{100}},
		{SearchConfig{From: 100, To: 300, Step: 100}, []float64{100, 200, 300}},
		{SearchConfig{From: 100, To: 350, Step: 100}, []float64{100, 200, 300}},
		{SearchConfig{From: 10, To: 100, Factor: 2}, []float64{10, 20, 40, 80}},
		{SearchConfig{From: 10, To: 1000, Factor: 10}, []float64{10, 100, 1000}},
	} {
		got := tt.s.Rates()
		if len(got) != len(tt.want) {
			t.Errorf("%+v: got rates %v; want %v", tt.s, got, tt.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9*tt.want[i] {
				t.Errorf("%+v: got rates %v; want %v", tt.s, got, tt.want)
				break
			}
		}
	}
	if err := (SearchConfig{From: 10, To: 100, Step: 5, Factor: 2}).Validate(); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("step and factor: got %v; want an error", err)
	}
	if err := (SearchConfig{From: 1, To: 1e6, Factor: 1.001}).Validate(); err == nil || !strings.Contains(err.Error(), "steps") {
		t.Errorf("factor 1.001 over six decades: got %v; want too many steps", err)
	}
}
