package loadgen

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	w, err := NewWorkload("get", 0)
	if err != nil {
		t.Fatal(err)
	}
	ok := Config{URL: "http://127.0.0.1:8080/app", Workload: w, Requests: 10}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error, one per problem; none for a valid config
	}{
		{"valid", func(*Config) {}, nil},
		{"duration only", func(c *Config) { c.Requests, c.Duration = 0, time.Second }, nil},
		{"every problem at once", func(c *Config) {
			*c = Config{URL: "", Concurrency: -1, Duration: -time.Second, Requests: -5, Warmup: -1, Timeout: -1}
		}, []string{"--url", "--workload", "--concurrency", "--duration", "--requests", "--warmup", "--timeout"}},
		{"too many connections", func(c *Config) { c.Concurrency = MaxConcurrency + 1 }, []string{"--concurrency must be 1..1024"}},
		{"open loop", func(c *Config) {
			c.Rate, c.Concurrency, c.MaxConnections, c.Interval = 1000, 4, 64, 100*time.Millisecond
		}, nil},
		{"every open-loop problem at once", func(c *Config) { c.Rate, c.MaxConnections, c.Threads, c.Interval = -1, -1, -1, -1 },
			[]string{"--rate", "--max-connections", "--threads", "--interval"}},
		{"rate not a number", func(c *Config) { c.Rate = math.NaN() }, []string{"--rate"}},
		{"rate too high", func(c *Config) { c.Rate = MaxRate + 1 }, []string{"--rate"}},
		{"more initial connections than allowed", func(c *Config) { c.Rate, c.Concurrency, c.MaxConnections = 10, 8, 4 },
			[]string{"--concurrency (8) must not exceed --max-connections (4)"}},
		{"too many threads", func(c *Config) { c.Threads = MaxThreads + 1 }, []string{"--threads must be 1..256"}},
		{"interval too short", func(c *Config) { c.Interval = time.Millisecond }, []string{"--interval must be at least 10ms"}},
		{"no end", func(c *Config) { c.Requests = 0 }, []string{"--duration or --requests"}},
		{"empty workload", func(c *Config) { c.Workload = &Workload{Name: "none"} }, []string{`--workload "none" has no requests`}},
		{"https", func(c *Config) { c.URL = "https://127.0.0.1/" }, []string{"--url", "scheme must be http"}},
		{"query in url", func(c *Config) { c.URL = "http://127.0.0.1/app?x=1" }, []string{"--url", "query"}},
		{"no host", func(c *Config) { c.URL = "http:///app" }, []string{"--url", "no host"}},
		{"bad port", func(c *Config) { c.URL = "http://127.0.0.1:99999/" }, []string{"--url", "bad port"}},
		{"remote host", func(c *Config) { c.URL = "http://10.0.0.1/" }, []string{"--url", "--allow-remote"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
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
}

func TestLoopbackGuard(t *testing.T) {
	w, err := NewWorkload("get", 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url      string
		loopback bool
		addr     string // dialled address when accepted
	}{
		{"http://127.0.0.1:8080/app", true, "127.0.0.1:8080"},
		{"http://127.1.2.3/", true, "127.1.2.3:80"},
		{"http://localhost:9000", true, "localhost:9000"},
		{"http://LOCALHOST:9000/", true, "LOCALHOST:9000"},
		{"http://[::1]:8080/cgi-bin/app", true, "[::1]:8080"},
		{"http://[::ffff:127.0.0.1]:8080/", true, "[::ffff:127.0.0.1]:8080"},
		{"http://10.0.0.1/", false, ""},
		{"http://192.168.1.1:8080/", false, ""},
		{"http://0.0.0.0:8080/", false, ""},
		{"http://[::]:8080/", false, ""},
		{"http://example.com/", false, ""},
		{"http://localhost.example.com/", false, ""},
		{"http://127.0.0.1.nip.io/", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			cfg := Config{URL: tt.url, Workload: w, Requests: 1, Timeout: time.Second}
			err := cfg.Validate()
			if tt.loopback {
				if err != nil {
					t.Fatalf("got %v; want the loopback URL accepted", err)
				}
				tg, _ := parseTarget(tt.url, false)
				if tg.addr != tt.addr {
					t.Errorf("got address %q; want %q", tg.addr, tt.addr)
				}
				return
			}
			if !errors.Is(err, ErrNotLoopback) {
				t.Fatalf("got %v; want ErrNotLoopback", err)
			}
			// Run must refuse before any traffic: the dialer must never be called.
			dial := func(string) error {
				t.Errorf("dialled %s; want no traffic to a remote host", tt.url)
				return errors.New("test: no dialling")
			}
			res, err := run(context.Background(), cfg, dial)
			if !errors.Is(err, ErrNotLoopback) || res != nil {
				t.Errorf("Run: got %v, %v; want nil, ErrNotLoopback", res, err)
			}
			// AllowRemote lifts the guard (the spy dialler keeps the traffic here).
			cfg.AllowRemote = true
			if err := cfg.Validate(); err != nil {
				t.Errorf("with AllowRemote: got %v; want no error", err)
			}
		})
	}
}
