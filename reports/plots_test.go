package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cgibench/cgibench/bench"
)

var plotDir = flag.String("plotdir", "", "also write every plot rendered by the tests into this folder, to look at")

// rendered is a plot to check: how to draw it and the legend labels it must show.
type rendered struct {
	name   string
	render func(w io.Writer, format string) error
	labels []string
}

// allPlots lists every plot the package can draw from the fixtures: the ones Plots chooses and
// the two fed by their own input types.
func allPlots(t *testing.T) []rendered {
	r := fixture(t)
	getLabels := []string{"cgi/python", "cgi/c", "cgi/lua", "cgi/go", "fastcgi/python", "fastcgi/c", "embedded/lua", "inprocess/go"}
	wantLabels := map[string][]string{
		"startup":          {"c", "sh"},
		"latency-get-c1":   getLabels,
		"latency-get-c32":  getLabels,
		"latency-post-c8":  {"cgi/python", "fastcgi/python"},
		"scaling-get":      getLabels,
		"memory-get":       {"cgi/python", "cgi/c", "fastcgi/python", "fastcgi/c"},
		"crossover-get-c1": {"cgi/python", "fastcgi/python"},
		// Open loop: cgi/c and fastcgi/c at 1000 req/s, a capacity search of fastcgi/python.
		"latency-get-c8-r1000":    {"cgi/c", "fastcgi/c", "1000 req/s"},
		"latency-get-c8-capacity": {"fastcgi/python", "2000 req/s"},
		"timeseries-get-c8-r1000": {"cgi/c", "fastcgi/c", "throughput (req/s)", "p99 latency (ms", "time (s)"},
		"capacity-get-c8":         {"fastcgi/python", "offered rate (req/s)", "p99 SLO 50.0ms", "offered = delivered"},
	}
	var out []rendered
	var names []string
	for _, p := range Plots(r) {
		names = append(names, p.Name)
		out = append(out, rendered{p.Name, p.Render, wantLabels[p.Name]})
	}
	wantNames := []string{"startup", "latency-get-c1", "latency-get-c32", "latency-get-c8-r1000", "latency-get-c8-capacity",
		"latency-post-c8", "timeseries-get-c8-r1000", "capacity-get-c8", "scaling-get", "memory-get", "crossover-get-c1"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("Plots: got %q; want %q", names, wantNames)
	}
	out = append(out,
		rendered{"startup", func(w io.Writer, f string) error { return PlotStartup(w, f, startupFixture()) },
			[]string{"process start", "app work", "transport", "python", "93% start"}},
	)
	return out
}

func TestPlotsRender(t *testing.T) {
	for _, p := range allPlots(t) {
		t.Run(p.name, func(t *testing.T) {
			var pngBuf, svgBuf bytes.Buffer
			if err := p.render(&pngBuf, FormatPNG); err != nil {
				t.Fatalf("png: %v", err)
			}
			img, err := png.Decode(bytes.NewReader(pngBuf.Bytes()))
			if err != nil {
				t.Fatalf("png does not decode: %v", err)
			}
			if b := img.Bounds(); b.Dx() < 800 || b.Dx() > 2000 || b.Dy() < 400 || b.Dy() > 1200 {
				t.Errorf("png is %d×%d px; want about 1200×675", b.Dx(), b.Dy())
			}
			if err := p.render(&svgBuf, FormatSVG); err != nil {
				t.Fatalf("svg: %v", err)
			}
			text := svgText(t, svgBuf.Bytes())
			for _, l := range p.labels {
				if !strings.Contains(text, l) {
					t.Errorf("svg lacks %q; its text is %q", l, text)
				}
			}
			if *plotDir != "" {
				if err := os.MkdirAll(*plotDir, 0o755); err != nil {
					t.Fatal(err)
				}
				for ext, b := range map[string][]byte{"png": pngBuf.Bytes(), "svg": svgBuf.Bytes()} {
					if err := os.WriteFile(filepath.Join(*plotDir, p.name+"."+ext), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// svgText parses an SVG document as XML, failing the test if it is not well-formed, and returns
// its text content, one <text> element per line.
func svgText(t *testing.T, svg []byte) string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var text strings.Builder
	var inText bool
	sawSVG := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			sawSVG = sawSVG || tok.Name.Local == "svg"
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			if inText {
				text.WriteString("\n")
			}
			inText = false
		case xml.CharData:
			if inText {
				text.Write(tok)
			}
		}
	}
	if !sawSVG {
		t.Fatal("no <svg> element")
	}
	return text.String()
}

func TestPlotErrors(t *testing.T) {
	r := fixture(t)
	get := func(keep func(c bench.Cell) bool) []bench.Cell {
		var out []bench.Cell
		for _, c := range r.Cells {
			if keep(c) {
				out = append(out, c)
			}
		}
		return out
	}
	good := get(func(c bench.Cell) bool { return c.Workload == "post" })
	corrupt := append(get(func(c bench.Cell) bool { return c.Workload == "post" }), bench.Cell{
		Strategy: "cgi", Program: "perl", Workload: "post", Concurrency: 8, Requests: 10, Histogram: "bm90IGEgaGlzdG9ncmFt",
	})
	for _, tc := range []struct {
		name     string
		draw     func(w io.Writer) error
		sentinel error
	}{
		{"bad format", func(w io.Writer) error { return PlotLatencySpectrum(w, "gif", good) }, ErrFormat},
		{"spectrum of nothing", func(w io.Writer) error { return PlotLatencySpectrum(w, FormatPNG, nil) }, ErrNoData},
		{"spectrum of a failed cell", func(w io.Writer) error {
			return PlotLatencySpectrum(w, FormatPNG, get(func(c bench.Cell) bool { return c.Error != "" }))
		}, ErrNoData},
		{"corrupt histogram", func(w io.Writer) error { return PlotLatencySpectrum(w, FormatSVG, corrupt) }, nil},
		{"scaling of nothing", func(w io.Writer) error { return PlotScaling(w, FormatPNG, nil) }, ErrNoData},
		{"memory without resources", func(w io.Writer) error { return PlotMemory(w, FormatPNG, good) }, ErrNoData},
		{"crossover without work", func(w io.Writer) error { return PlotCrossover(w, FormatPNG, good) }, ErrNoData},
		{"capacity without a search", func(w io.Writer) error { return PlotCapacity(w, FormatPNG, good) }, ErrNoData},
		{"one interval", func(w io.Writer) error {
			return PlotTimeSeries(w, FormatPNG, []bench.Cell{{Strategy: "cgi", Program: "c", Requests: 5,
				Intervals: []bench.Interval{{StartNS: 0, DurationNS: 1e9, Requests: 5, P99NS: 1}}}})
		}, ErrNoData},
		{"invalid start-up figures", func(w io.Writer) error {
			return PlotStartup(w, FormatPNG, []StartupBreakdown{{Program: "x", ProcessStartNS: -1}})
		}, ErrNoData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := tc.draw(&b)
			if err == nil {
				t.Fatal("got no error")
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("got %v; want it to wrap %v", err, tc.sentinel)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes before failing; want nothing", b.Len())
			}
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWritersReportWriteErrors(t *testing.T) {
	r := fixture(t)
	plots := Plots(r)
	for name, write := range map[string]func(io.Writer) error{
		"table":    func(w io.Writer) error { return WriteTable(w, r) },
		"markdown": func(w io.Writer) error { return WriteMarkdown(w, r, nil) },
		"csv":      func(w io.Writer) error { return WriteCSV(w, r) },
		"json":     func(w io.Writer) error { return WriteJSON(w, r) },
		"plot":     func(w io.Writer) error { return plots[0].Render(w, FormatPNG) },
	} {
		if err := write(failingWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s to a failing writer: got %v; want the write error", name, err)
		}
	}
}

func TestPlotsSplitsCrowdedPlots(t *testing.T) {
	// Five programs under two strategies make ten lines: one plot per program instead.
	var r bench.Results
	for _, prog := range []string{"a", "b", "c", "d", "e"} {
		for _, s := range []string{"cgi", "fastcgi"} {
			r.Cells = append(r.Cells, fixtureCell(t, spec{strategy: s, program: prog, workload: "get", conc: 2, medianNS: 1e6, sigma: 0.2}, 1e9))
		}
	}
	var names []string
	for _, p := range Plots(&r) {
		names = append(names, p.Name)
	}
	want := []string{"latency-get-c2-a", "latency-get-c2-b", "latency-get-c2-c", "latency-get-c2-d", "latency-get-c2-e"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("got %q; want %q", names, want)
	}
}

func TestGroupSeries(t *testing.T) {
	cells := []*bench.Cell{
		{Strategy: "fastcgi", Program: "python", Workload: "get", Concurrency: 8, Workers: 4},
		{Strategy: "cgi", Program: "python", Workload: "get", Concurrency: 8},
		{Strategy: "fastcgi", Program: "python", Workload: "get", Concurrency: 8, Workers: 16},
	}
	title, ss := groupSeries(cells, "")
	if title != "get, c=8" {
		t.Errorf("title: got %q; want %q", title, "get, c=8")
	}
	var labels []string
	for _, s := range ss {
		labels = append(labels, s.label)
	}
	// fastcgi/python was measured with two pool sizes, so they label its series.
	want := []string{"cgi/python", "fastcgi/python 16 workers", "fastcgi/python 4 workers"}
	if !reflect.DeepEqual(labels, want) {
		t.Errorf("labels: got %q; want %q", labels, want)
	}
}

func TestWriteHTML(t *testing.T) {
	r := fixture(t)
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	// Well-formed: the page parses as XML from its first tag to its last.
	dec := xml.NewDecoder(strings.NewReader(page))
	var figures, svgs int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("html is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "figure":
				figures++
			case "svg":
				svgs++
			case "script", "img", "link", "iframe", "object", "embed":
				t.Errorf("html has a <%s> element", se.Name.Local)
			}
		}
	}
	plots := Plots(r)
	if figures != len(plots) || svgs != len(plots) {
		t.Errorf("html has %d figures and %d inline svgs; want %d of each", figures, svgs, len(plots))
	}
	for _, p := range plots {
		if !strings.Contains(page, `<figure id="plot-`+p.Name+`">`) {
			t.Errorf("html lacks plot %s", p.Name)
		}
	}
	for _, bad := range []string{"http://", "https://", "<script", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("html contains %q: it must not refer to anything outside itself", bad)
		}
	}
	for _, want := range []string{"Conclusions", "Workload get", "Workload post", "sh handles GET only", "Partial run", "cgi/python"} {
		if !strings.Contains(page, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	if *plotDir != "" {
		if err := os.WriteFile(filepath.Join(*plotDir, "report.html"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPercentileLabel(t *testing.T) {
	want := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"}
	for e, w := range want {
		if got := percentileLabel(e); got != w {
			t.Errorf("percentileLabel(%d): got %q; want %q", e, got, w)
		}
	}
}

func TestPlotRenderConcurrently(t *testing.T) {
	plots := Plots(fixture(t))
	errs := make(chan error, 2*len(plots))
	for _, p := range plots {
		for _, format := range []string{FormatPNG, FormatSVG} {
			go func() { errs <- p.Render(io.Discard, format) }()
		}
	}
	for range 2 * len(plots) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
