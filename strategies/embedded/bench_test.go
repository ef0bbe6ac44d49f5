package embedded

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cgibench/cgibench/scripts"
	"github.com/cgibench/cgibench/scripts/go/refapp"
	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/cgi"
	"github.com/cgibench/cgibench/strategies/inprocess"
)

// repoApp is the reference app in this repository (the catalog extracts the same file).
const repoApp = "../../scripts/lua/app.lua"

// discardWriter is a ResponseWriter that keeps nothing, so a benchmark measures the handler.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkHandler sends one request at a time through the handler, with no network.
// "budget-off" runs without the per-request context, to price gopher-lua's check of it before
// every instruction; "inprocess" is the Go oracle for scale.
func BenchmarkHandler(b *testing.B) {
	form := "name=J%C3%BCrgen+M&x=1&x=2&empty=&flag"
	cases := []struct {
		name, target, ctype, body string
	}{
		{"get", "http://127.0.0.1/app?a=1&b=x+y&c=%E2%82%AC", "", ""},
		{"get-work1000", "http://127.0.0.1/app?a=1&work=1000", "", ""},
		{"urlencoded", "http://127.0.0.1/app?q=1", "application/x-www-form-urlencoded", form},
	}
	run := func(b *testing.B, h http.Handler, target, ctype, body string) {
		b.ReportAllocs()
		w := &discardWriter{h: http.Header{}}
		for b.Loop() {
			// http.NewRequest, not httptest's: that one parses a request text through a new
			// 4 KiB bufio.Reader, which would dominate the allocations measured.
			r, _ := http.NewRequest(http.MethodGet, target, nil)
			if body != "" {
				r, _ = http.NewRequest(http.MethodPost, target, strings.NewReader(body))
				r.Header.Set("Content-Type", ctype)
			}
			r.Header.Set("Cookie", "visits=3; theme=dark")
			clear(w.h)
			h.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Fatalf("got %d; want 200", w.code)
			}
		}
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h, _ := newHandler(b, repoApp, strategies.Config{Workers: 1})
			run(b, h, c.target, c.ctype, c.body)
		})
		b.Run(c.name+"/budget-off", func(b *testing.B) {
			h, _ := newHandler(b, repoApp, strategies.Config{Workers: 1})
			h.noBudget = true
			run(b, h, c.target, c.ctype, c.body)
		})
		b.Run(c.name+"/inprocess", func(b *testing.B) {
			run(b, refapp.Handler(), c.target, c.ctype, c.body)
		})
	}
}

// TestThroughput logs requests per second with 8 concurrent net/http clients for about 3 s,
// against the embedded strategy and, for scale, the in-process Go handler and the same app.lua
// run as CGI under the system Lua.
func TestThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the 9 s throughput run in -short mode")
	}
	if raceEnabled {
		t.Log("the race detector is on: figures are for the record only")
	}
	const clients, duration = 8, 3 * time.Second
	starts := []struct {
		name  string
		start func() (strategies.Backend, error)
	}{
		{"embedded", func() (strategies.Backend, error) {
			return Strategy{}.Start(context.Background(), strategies.Config{
				Program: strategies.Program{Script: repoApp}, Timeout: 10 * time.Second})
		}},
		{"inprocess", func() (strategies.Backend, error) {
			return inprocess.Strategy{}.Start(context.Background(), strategies.Config{})
		}},
		// The same app.lua as a CGI program under the system Lua: what embedding saves.
		{"cgi-lua", func() (strategies.Backend, error) {
			prog, err := (&scripts.Catalog{CacheDir: t.TempDir()}).Resolve(context.Background(), "lua", scripts.CGI)
			if err != nil {
				return nil, err
			}
			return cgi.Strategy{}.Start(context.Background(), strategies.Config{Program: prog})
		}},
	}
	for _, s := range starts {
		b, err := s.start()
		var un *scripts.UnavailableError
		if errors.As(err, &un) {
			t.Logf("%-9s skipped: %v", s.name, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{MaxIdleConnsPerHost: clients}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		url := b.URL() + "?a=1&b=x+y&c=%E2%82%AC"
		var ok, failed atomic.Int64
		deadline := time.Now().Add(duration)
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					resp, err := client.Get(url)
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					} else {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		tr.CloseIdleConnections()
		if err := b.Close(); err != nil {
			t.Errorf("%s: Close: %v", s.name, err)
		}
		t.Logf("%-9s %d clients, %v: %8.0f req/s (%d ok, %d failed)", s.name, clients, duration,
			float64(ok.Load())/duration.Seconds(), ok.Load(), failed.Load())
		if failed.Load() > 0 {
			t.Errorf("%s: %d requests failed", s.name, failed.Load())
		}
	}
}
