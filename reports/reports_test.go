package reports

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cgibench/cgibench/bench"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestWriteTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.txt", b.Bytes())
}

func TestWriteMarkdownGolden(t *testing.T) {
	r := fixture(t)
	var links []PlotLink
	for _, p := range Plots(r) {
		links = append(links, PlotLink{Title: p.Title, Path: "plots/" + p.Name + ".png"})
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, r, links); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.md", b.Bytes())
}

func TestWriteCSVGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "results.csv", b.Bytes())
}

func TestWriteTable(t *testing.T) {
	r := fixture(t)
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"skipped: cgi/sh/post — sh handles GET only",
		"skipped: embedded/python — no embedded interpreter for python",
		"(partial: interrupted, 1 cell failed)",
		"62 errors (timeout 60, status_5xx 2)",
		"CPU/req",
		"peak MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, " \n") {
		t.Errorf("table has trailing blanks:\n%q", out)
	}

	// Without resources, rates or work, the optional columns are gone; a complete run has no
	// partial line; an open-loop cell brings the rate column.
	plain := &bench.Results{Schema: 1, Cells: []bench.Cell{fixtureCell(t, spec{
		strategy: "cgi", program: "c", workload: "get", conc: 4, medianNS: 1e6, sigma: 0.2,
	}, 1e9)}}
	b.Reset()
	if err := WriteTable(&b, plain); err != nil {
		t.Fatal(err)
	}
	header := func() string { return strings.SplitN(b.String(), "\n", 2)[0] }
	if got, want := strings.Fields(header()), strings.Fields("strategy program workload conc req/s p50 p90 p99 max errors"); !reflect.DeepEqual(got, want) {
		t.Errorf("plain table columns: got %q; want %q", got, want)
	}
	for _, absent := range []string{"partial", "skipped"} {
		if strings.Contains(b.String(), absent) {
			t.Errorf("plain table has %q:\n%s", absent, b.String())
		}
	}
	plain.Cells[0].RateRPS = 500
	plain.Cells[0].Work = 1000
	plain.Cells[0].OpenLoop = &bench.OpenLoop{Scheduled: 1000, Late: 12, Unsent: 3, UncorrectedLatencyNS: bench.Latency{P99: 2_500_000}}
	b.Reset()
	if err := WriteTable(&b, plain); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(header()), strings.Fields("strategy program workload conc rate work req/s p50 p90 p99 max uncorr-p99 late unsent errors"); !reflect.DeepEqual(got, want) {
		t.Errorf("open-loop table columns: got %q; want %q", got, want)
	}
	row := strings.Fields(strings.SplitN(b.String(), "\n", 3)[1])
	if got, want := row[len(row)-5:len(row)-1], []string{"2.50ms", "12", "3", "0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("open-loop row: got %q ending %q; want uncorrected p99, late, unsent, errors %q", row, got, want)
	}
	if !strings.Contains(b.String(), "3 of 1000 requests due were never sent") {
		t.Errorf("open-loop table lacks the note on unsent requests:\n%s", b.String())
	}

	plain.Cells[0].Capacity = &bench.Capacity{MaxSustainableRPS: 500, Bound: "slo_p99", FromRPS: 100, ToRPS: 1000, StepRPS: 100,
		SLOP99NS: 50_000_000, MaxErrorRate: 0.001, Steps: []bench.CapacityStep{
			{RateRPS: 500, OK: true}, {RateRPS: 600, Reason: "p99 81ms > SLO 50ms"}, {RateRPS: 600, Reason: "p99 90ms > SLO 50ms"}}}
	b.Reset()
	if err := WriteTable(&b, plain); err != nil {
		t.Fatal(err)
	}
	if want := "capacity (highest sustainable rate):\n  cgi/c/get c=4 work=1000: 500 req/s sustained (p99 ≤ 50.0ms, errors ≤ 0.1%); 600 req/s: p99 90ms > SLO 50ms\n"; !strings.Contains(b.String(), want) {
		t.Errorf("capacity search table: want it to contain\n%s\ngot\n%s", want, b.String())
	}

	b.Reset()
	if err := WriteTable(&b, &bench.Results{Schema: 1}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no cells measured") {
		t.Errorf("empty table: got %q, want a line saying no cells were measured", b.String())
	}
	if err := WriteTable(&b, nil); err == nil {
		t.Error("WriteTable(nil): got no error")
	}
}

func TestTableGroupsStrategiesTogether(t *testing.T) {
	r := fixture(t)
	tbl := newTable(r)
	// Within a (workload, program) group rows go by concurrency, then strategy order.
	var got []string
	for _, row := range tbl.rows {
		c := row.cell
		if c.Workload == "get" && c.Program == "python" && c.Work == 0 && c.Concurrency == 8 && c.RateRPS == 0 {
			got = append(got, c.Strategy)
		}
	}
	if want := []string{"cgi", "fastcgi"}; !reflect.DeepEqual(got, want) {
		t.Errorf("get/python c=8 rows: got %v, want %v", got, want)
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		ns   float64
		want string
	}{
		{0, "0"},
		{-5, "-"},
		{850, "850ns"},
		{999.4, "999ns"},
		{999.6, "1.00µs"},
		{1234, "1.23µs"},
		{41_260, "41.3µs"},
		{999_700, "1.00ms"},
		{18_912_345, "18.9ms"},
		{123_456_789, "123ms"},
		{2_500_000_000, "2.50s"},
		{123_400_000_000, "123s"},
		{5_000_000_000_000, "5000s"},
		{0.5, "0.500ns"},
	} {
		if got := FormatDuration(tc.ns); got != tc.want {
			t.Errorf("FormatDuration(%v): got %q; want %q", tc.ns, got, tc.want)
		}
	}
}

func TestFormatSig(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.5, "0.500"}, {0.0123, "0.0123"}, {0.09996, "0.100"}, {1, "1.00"},
		{9.996, "10.0"}, {41.27, "41.3"}, {412.3, "412"}, {16923.4, "16923"}, {-3.5, "-3.50"},
	} {
		if got := formatSig(tc.v); got != tc.want {
			t.Errorf("formatSig(%v): got %q; want %q", tc.v, got, tc.want)
		}
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		a, b   float64
		want   float64
		wantOK bool
		text   string
	}{
		{410, 10, 41, true, "41×"},
		{26, 10, 2.6, true, "2.6×"},
		{9.96, 1, 9.96, true, "10×"},
		{1, 0, 0, false, ""},
		{-1, 2, 0, false, ""},
	} {
		got, ok := Ratio(tc.a, tc.b)
		if ok != tc.wantOK || (ok && got != tc.want) {
			t.Errorf("Ratio(%v, %v): got %v, %v; want %v, %v", tc.a, tc.b, got, ok, tc.want, tc.wantOK)
		}
		if ok {
			if s := FormatRatio(got); s != tc.text {
				t.Errorf("FormatRatio(%v): got %q; want %q", got, s, tc.text)
			}
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := fixture(t)
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "{\n  \"schema\": 1,") {
		t.Errorf("WriteJSON is not indented by two spaces: %.40q", b.String())
	}
	got, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("ReadJSON(WriteJSON(r)) differs from r")
	}
}

func TestReadJSONErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in  string
		sentinel  error
		wantParts []string
	}{
		{"newer schema", `{"schema": 2, "cells": "changed meaning"}`, ErrSchemaVersion,
			[]string{"schema version 2", "version 1", "upgrade"}},
		{"no schema", `{"cells": []}`, ErrSchemaVersion, []string{"no \"schema\""}},
		{"zero schema", `{"schema": 0}`, ErrSchemaVersion, []string{"invalid schema version 0"}},
		{"syntax", "{\n  \"schema\": 1,\n  \"cells\": [}\n", nil, []string{"line 3"}},
		{"type", "{\"schema\": 1,\n\"cells\": [{\"concurrency\": \"eight\"}]}", nil, []string{"line 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadJSON(strings.NewReader(tc.in))
			if err == nil {
				t.Fatal("got no error")
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("got %v; want it to wrap %v", err, tc.sentinel)
			}
			for _, p := range tc.wantParts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q lacks %q", err, p)
				}
			}
		})
	}
	// A field this build does not know is fine: adding fields keeps the schema version.
	if _, err := ReadJSON(strings.NewReader(`{"schema": 1, "future_field": true}`)); err != nil {
		t.Errorf("unknown field: got %v, want no error", err)
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if got, want := lines[0], strings.Join(csvColumns, ","); got != want {
		t.Errorf("header: got %q; want %q", got, want)
	}
	if got, want := len(lines)-1, len(fixture(t).Cells); got != want {
		t.Errorf("rows: got %d; want one per cell, %d", got, want)
	}
	if !strings.Contains(b.String(), "status_5xx=2;timeout=60") && !strings.Contains(b.String(), "timeout=60;status_5xx=2") {
		t.Errorf("error classes missing from CSV")
	}
}

func TestConclusions(t *testing.T) {
	r := fixture(t)
	got := Conclusions(r)
	for _, want := range []string{
		// cgi/python at c=32 failed 1.5% of its requests, so python is compared at c=8.
		"fastcgi serves 39× more requests per second than cgi for python at c=8 (get)",
		"fastcgi serves 8.9× more requests per second than cgi for c at c=32 (get)",
		"inprocess serves 38× more requests per second than cgi for go at c=32 (get)",
		// embedded/lua at c=32 was cut short, so lua is compared at c=8.
		"embedded serves 12× more requests per second than cgi for lua at c=8 (get)",
		"cgi needs 2.3× the memory of fastcgi for c at c=32 (get, peak RSS 50.4 MiB vs 22.0 MiB)",
		"for python at c=1 (get), cgi's p50 latency comes within 10% of fastcgi's from work=1000000 (40× at work=10)",
		"1.5% of cgi/python/get c=32 requests failed (timeout 60, status_5xx 2)",
		// Open loop: the capacity search, and what coordinated omission hides at 1000 req/s.
		"python/get c=8 sustains 2000 req/s under fastcgi (p99 ≤ 50.0ms, errors ≤ 0.1%)",
		"cgi/c/get c=8 rate=1000/s: p99 is 144ms from each request's intended start but 2.90ms from its actual send: a closed-loop measurement would understate it 50×",
	} {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("conclusions lack %q; got:\n%s", want, strings.Join(got, "\n"))
		}
	}
	// Only claims the data supports: nothing from nothing, nothing without a cgi baseline.
	if c := Conclusions(&bench.Results{Schema: 1}); len(c) != 0 {
		t.Errorf("empty results: got %q; want none", c)
	}
	if c := Conclusions(nil); len(c) != 0 {
		t.Errorf("nil results: got %q; want none", c)
	}
	var noCGI bench.Results
	for _, c := range r.Cells {
		if c.Strategy != "cgi" {
			noCGI.Cells = append(noCGI.Cells, c)
		}
	}
	// A capacity search stands on its own; every comparison needs cgi.
	if c, want := Conclusions(&noCGI), []string{"python/get c=8 sustains 2000 req/s under fastcgi (p99 ≤ 50.0ms, errors ≤ 0.1%)"}; !reflect.DeepEqual(c, want) {
		t.Errorf("no cgi cells: got %q; want only %q", c, want)
	}
	// Capacity searches of one program, in strategy order, each with its own rate.
	searched := &bench.Results{Schema: 1, Cells: []bench.Cell{
		{Strategy: "fastcgi", Program: "python", Workload: "get", Concurrency: 8, Requests: 100,
			Capacity: &bench.Capacity{MaxSustainableRPS: 2100, Bound: "slo_p99", SLOP99NS: 50e6, MaxErrorRate: 0.001, Steps: []bench.CapacityStep{{RateRPS: 2100}}}},
		{Strategy: "cgi", Program: "python", Workload: "get", Concurrency: 8, Requests: 100,
			Capacity: &bench.Capacity{MaxSustainableRPS: 140, Bound: "throughput", SLOP99NS: 50e6, MaxErrorRate: 0.001, Steps: []bench.CapacityStep{{RateRPS: 140}}}},
	}}
	if c, want := Conclusions(searched), []string{"python/get c=8 sustains 140 req/s under cgi, 2100 req/s under fastcgi (p99 ≤ 50.0ms, errors ≤ 0.1%)"}; !reflect.DeepEqual(c, want) {
		t.Errorf("capacity of cgi and fastcgi: got %q; want %q", c, want)
	}
	// A difference under 20% is not claimed.
	close := &bench.Results{Schema: 1, Cells: []bench.Cell{
		{Strategy: "cgi", Program: "c", Workload: "get", Concurrency: 1, Requests: 1000, ThroughputRPS: 100},
		{Strategy: "fastcgi", Program: "c", Workload: "get", Concurrency: 1, Requests: 1100, ThroughputRPS: 110},
	}}
	if c := Conclusions(close); len(c) != 0 {
		t.Errorf("10%% difference: got %q; want no claim", c)
	}
}

func TestStartupConclusions(t *testing.T) {
	got := StartupConclusions(append(startupFixture(),
		StartupBreakdown{Program: "broken", ProcessStartNS: -1, AppWorkNS: 1},
		StartupBreakdown{Program: "empty"}))
	if len(got) != len(startupFixture()) {
		t.Errorf("got %d conclusions; want one per valid breakdown, %d:\n%s", len(got), len(startupFixture()), strings.Join(got, "\n"))
	}
	want := "python under cgi spends 93% of each request starting the interpreter (16.7ms of 17.9ms)"
	if !contains(got, want) {
		t.Errorf("got:\n%s\nwant a line %q", strings.Join(got, "\n"), want)
	}
	if want := "c under cgi spends 83% of each request starting the process (620µs of 750µs)"; !contains(got, want) {
		t.Errorf("got:\n%s\nwant a line %q", strings.Join(got, "\n"), want)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func TestWriteAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	// An earlier run's plot goes; a file of the user's stays.
	if err := os.MkdirAll(filepath.Join(dir, DirPlots), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"latency-get-c8-r4000.png", "latency-get-c8-r4000.svg", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, DirPlots, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := fixture(t)
	if err := WriteAll(dir, r); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"latency-get-c8-r4000.png": false, "latency-get-c8-r4000.svg": false, "notes.txt": true} {
		if _, err := os.Stat(filepath.Join(dir, DirPlots, name)); (err == nil) != want {
			t.Errorf("plots/%s: exists %v; want %v", name, err == nil, want)
		}
	}
	want := []string{FileJSON, FileTable, FileCSV, FileMarkdown, FileHTML}
	for _, p := range Plots(r) {
		want = append(want, filepath.Join(DirPlots, p.Name+".png"), filepath.Join(DirPlots, p.Name+".svg"))
	}
	for _, name := range want {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("WriteAll did not write %s: %v", name, err)
			continue
		}
		if st.Size() == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, FileMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Plots(r) {
		if !bytes.Contains(md, []byte("(plots/"+p.Name+".png)")) {
			t.Errorf("report.md does not link plot %s", p.Name)
		}
	}
	back, err := os.Open(filepath.Join(dir, FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	got, err := ReadJSON(back)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Error("results.json does not read back as the results written")
	}
}

// TestWriteAllAtomic: every file is replaced by a rename, so a results.json that WriteAll
// rewrites in its own folder (cgibench report DIR/results.json --out DIR) is never half
// written; no temporary file is left behind, and the files are readable by others (0644).
func TestWriteAllAtomic(t *testing.T) {
	dir := t.TempDir()
	r := fixture(t)
	path := filepath.Join(dir, FileJSON)
	if err := SaveJSON(path, r); err != nil {
		t.Fatal(err)
	}
	// A reader holding the old file keeps its whole content while the folder is rewritten.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	// Other results, so that a file rewritten in place would show through the old descriptor.
	r2 := fixture(t)
	r2.Cells = r2.Cells[:1]
	if err := WriteAll(dir, r2); err != nil {
		t.Fatal(err)
	}
	if err := SaveJSON(path, r2); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadJSON(old); err != nil || !reflect.DeepEqual(got, r) {
		t.Errorf("the results.json open before the rewrite: err %v, same results %v; want the old file, whole (replaced by a rename, not rewritten in place)", err, reflect.DeepEqual(got, r))
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSON(f)
	f.Close()
	if err != nil || len(got.Cells) != 1 {
		t.Errorf("results.json after the rewrite: %v; want the new results", err)
	}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left behind: %s", p)
		}
		info, err := d.Info()
		if err == nil && info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v; want 0644", p, info.Mode().Perm())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveJSON(filepath.Join(dir, "missing", FileJSON), r); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("SaveJSON into a missing folder: %v; want an error naming the path", err)
	}
}
