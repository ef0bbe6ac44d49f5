package reports

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/cgibench/cgibench/bench"
)

// Plot is one plot the data supports, as Plots chooses them.
type Plot struct {
	// Name is a file-name stem, unique within one Plots result: "latency-get-c8".
	Name string
	// Title is the plot's title, also drawn on it.
	Title string
	// Render draws the plot in format (FormatPNG or FormatSVG) to w. It may be called several
	// times, and from several goroutines.
	Render func(w io.Writer, format string) error
}

// maxSeries is the most lines Plots puts in one plot; with more, it draws one plot per program.
const maxSeries = 8

// Plots returns the plots r's data supports, in a stable order:
//
//   - a latency percentile spectrum per workload (and target rate) at its lowest and highest
//     concurrency, from the cells' histograms;
//   - throughput and p99 vs concurrency per workload measured at two concurrencies or more;
//   - peak memory vs concurrency, the same, when cells have Resources;
//   - p50 latency vs work=N per workload and concurrency with two work sizes or more.
//
// Cells that failed, or whose histogram is empty or does not decode, are left out. A plot that
// would hold more than 8 lines becomes one plot per program. WriteAll and WriteHTML draw
// exactly these.
func Plots(r *bench.Results) []Plot {
	if r == nil {
		return nil
	}
	var ok []*bench.Cell
	for _, c := range sortedCells(r) {
		if c.Error == "" && c.Requests > 0 {
			ok = append(ok, c)
		}
	}
	var out []Plot
	add := func(name string, cells []*bench.Cell, build func([]*bench.Cell) (*figure, error)) {
		for _, part := range splitByProgram(cells) {
			n := name
			if len(part) < len(cells) {
				n += "-" + part[0].Program
			}
			f, err := build(part)
			if err != nil {
				continue // the selection below should prevent this; a plot that cannot draw is left out
			}
			out = append(out, Plot{
				Name:  bench.FileStem(n),
				Title: f.title,
				Render: func(w io.Writer, format string) error {
					f, err := build(part)
					if err != nil {
						return err
					}
					return f.write(w, format)
				},
			})
		}
	}

	if b := StartupBreakdowns(r); len(b) > 0 {
		out = append(out, Plot{
			Name:   "startup",
			Title:  "Where a CGI request's time goes",
			Render: func(w io.Writer, format string) error { return PlotStartup(w, format, b) },
		})
	}

	// Spectra: closed- or open-loop cells without work, with a histogram.
	type spectrumKey struct {
		workload string
		rate     float64
	}
	spectrumOrder, spectra := groupCells(ok, func(c *bench.Cell) (spectrumKey, bool) {
		return spectrumKey{c.Workload, rateGroup(c)}, c.Work == 0 && histogramUsable(c)
	})
	for _, k := range spectrumOrder {
		cells := spectra[k]
		concs := distinct(cells, func(c *bench.Cell) int { return c.Concurrency })
		for _, conc := range slices.Compact([]int{concs[0], concs[len(concs)-1]}) {
			at := filter(cells, func(c *bench.Cell) bool { return c.Concurrency == conc })
			add(fmt.Sprintf("latency-%s-c%d", k.workload, conc)+rateSuffix(k.rate), at, spectrumFigure)
		}
	}

	// Time series: cells with enough intervals, grouped as the spectra are.
	type seriesKey struct {
		workload string
		conc     int
		rate     float64
		work     int
	}
	timedOrder, timed := groupCells(ok, func(c *bench.Cell) (seriesKey, bool) {
		return seriesKey{c.Workload, c.Concurrency, rateGroup(c), c.Work}, len(c.Intervals) >= MinTimeSeriesIntervals
	})
	for _, k := range timedOrder {
		add(fmt.Sprintf("timeseries-%s-c%d", k.workload, k.conc)+rateSuffix(k.rate)+workSuffix(k.work), timed[k], timeSeriesFigure)
	}

	// Capacity searches, per workload, concurrency and work.
	type capKey struct {
		workload   string
		conc, work int
	}
	capOrder, searched := groupCells(ok, func(c *bench.Cell) (capKey, bool) {
		return capKey{c.Workload, c.Concurrency, c.Work}, c.Capacity != nil && len(c.Capacity.Steps) > 0
	})
	for _, k := range capOrder {
		add(fmt.Sprintf("capacity-%s-c%d", k.workload, k.conc)+workSuffix(k.work), searched[k], capacityFigure)
	}

	// Closed-loop cells without work, per workload.
	workloads, closed := groupCells(ok, func(c *bench.Cell) (string, bool) {
		return c.Workload, c.RateRPS == 0 && c.Work == 0
	})
	for _, wl := range workloads {
		cells := closed[wl]
		if len(distinct(cells, func(c *bench.Cell) int { return c.Concurrency })) >= 2 {
			add("scaling-"+wl, cells, scalingFigure)
		}
	}
	for _, wl := range workloads {
		cells := filter(closed[wl], func(c *bench.Cell) bool { return c.Resources != nil && c.Resources.PeakRSSBytes > 0 })
		if len(distinct(cells, func(c *bench.Cell) int { return c.Concurrency })) >= 2 {
			add("memory-"+wl, cells, memoryFigure)
		}
	}

	// Crossover: closed-loop cells with work, per workload and concurrency.
	type workKey struct {
		workload string
		conc     int
	}
	workOrder, worked := groupCells(ok, func(c *bench.Cell) (workKey, bool) {
		return workKey{c.Workload, c.Concurrency}, c.RateRPS == 0 && c.Work > 0 && c.LatencyNS.P50 > 0
	})
	for _, k := range workOrder {
		cells := worked[k]
		if len(distinct(cells, func(c *bench.Cell) int { return c.Work })) >= 2 &&
			len(distinct(cells, func(c *bench.Cell) string { return c.Strategy })) >= 2 {
			add(fmt.Sprintf("crossover-%s-c%d", k.workload, k.conc), cells, crossoverFigure)
		}
	}
	return out
}

// groupCells groups cells by key, the groups in the order of their first cell; a cell for which
// key reports false is left out.
func groupCells[K comparable](cells []*bench.Cell, key func(*bench.Cell) (K, bool)) ([]K, map[K][]*bench.Cell) {
	groups := make(map[K][]*bench.Cell)
	var order []K
	for _, c := range cells {
		k, ok := key(c)
		if !ok {
			continue
		}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], c)
	}
	return order, groups
}

// workSuffix names a work=N in plot names: "-w1000", or "" without work.
func workSuffix(work int) string {
	if work > 0 {
		return fmt.Sprintf("-w%d", work)
	}
	return ""
}

// capacityGroup is the rateGroup of capacity searches: each cell ended at its own highest
// sustainable rate, and they share one plot.
const capacityGroup = -1

// rateGroup is the rate a cell's plots are grouped by: its target rate (0 in a closed loop), or
// capacityGroup.
func rateGroup(c *bench.Cell) float64 {
	if c.Capacity != nil {
		return capacityGroup
	}
	return c.RateRPS
}

// rateSuffix names a rate group in plot names: "-r1000", "-capacity", or "" for a closed loop.
func rateSuffix(rate float64) string {
	switch {
	case rate == capacityGroup:
		return "-capacity"
	case rate > 0:
		return "-r" + formatRPS(rate)
	}
	return ""
}

// splitByProgram returns cells whole when they make at most maxSeries series, else one group
// per program.
func splitByProgram(cells []*bench.Cell) [][]*bench.Cell {
	keys := distinct(cells, func(c *bench.Cell) string { return c.Strategy + "/" + c.Program })
	if len(keys) <= maxSeries {
		return [][]*bench.Cell{cells}
	}
	var out [][]*bench.Cell
	for _, p := range distinct(cells, func(c *bench.Cell) string { return c.Program }) {
		out = append(out, filter(cells, func(c *bench.Cell) bool { return c.Program == p }))
	}
	return out
}

func distinct[T cmp.Ordered](cells []*bench.Cell, f func(*bench.Cell) T) []T {
	var vs []T
	for _, c := range cells {
		vs = append(vs, f(c))
	}
	slices.Sort(vs)
	return slices.Compact(vs)
}

func filter(cells []*bench.Cell, keep func(*bench.Cell) bool) []*bench.Cell {
	var out []*bench.Cell
	for _, c := range cells {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

func histogramUsable(c *bench.Cell) bool {
	if len(c.Histogram) == 0 {
		return false
	}
	h, err := bench.DecodeHistogram(c.Histogram)
	return err == nil && h.TotalCount() > 0
}

func titled(what, suffix string) string {
	if suffix == "" {
		return what
	}
	return what + " — " + suffix
}

// lineWithPoints is a series drawn as a line with a mark at each point, and its legend entry.
func lineWithPoints(s series, xys plotter.XYs, marks bool) ([]plot.Plotter, legendEntry, error) {
	ls, gs := seriesStyle(s.strategy, s.variant)
	line, err := plotter.NewLine(xys)
	if err != nil {
		return nil, legendEntry{}, fmt.Errorf("reports: series %s: %w", s.label, err)
	}
	line.LineStyle = ls
	ps := []plot.Plotter{line}
	thumbs := []plot.Thumbnailer{line}
	if marks {
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, legendEntry{}, fmt.Errorf("reports: series %s: %w", s.label, err)
		}
		sc.GlyphStyle = gs
		ps = append(ps, sc)
		thumbs = append(thumbs, sc)
	}
	return ps, legendEntry{label: s.label, thumbs: thumbs}, nil
}

// PlotLatencySpectrum draws the latency percentile spectrum of cells, HdrHistogram style: x is
// the percentile on a log scale of 1/(1-p) (0%, 90%, 99%, 99.9%, …), y the latency in ms; one
// line per cell, from its Histogram. Pass cells of one workload and concurrency for one line
// per strategy and program (anything else that differs shows in the legend). Cells that failed
// or have no histogram are skipped; a histogram that does not decode is an error.
func PlotLatencySpectrum(w io.Writer, format string, cells []bench.Cell) error {
	f, err := spectrumFigure(cellPointers(cells))
	if err != nil {
		return err
	}
	return f.write(w, format)
}

// spectrumMax is the largest 1/(1-p) drawn: the 99.999th percentile.
const spectrumMax = 1e5

func spectrumFigure(cells []*bench.Cell) (*figure, error) {
	hists := make(map[*bench.Cell]*hdrhistogram.Histogram)
	var usable []*bench.Cell
	for _, c := range cells {
		if c.Error != "" || len(c.Histogram) == 0 {
			continue
		}
		h, err := bench.DecodeHistogram(c.Histogram)
		if err != nil {
			return nil, fmt.Errorf("reports: decoding the histogram of %s: %w", cellName(c), err)
		}
		if h.TotalCount() == 0 {
			continue
		}
		hists[c] = h
		usable = append(usable, c)
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("reports: latency spectrum: %w: no cell has a histogram with values", ErrNoData)
	}
	suffix, ss := groupSeries(usable, "")
	f := &figure{title: titled("Latency by percentile", suffix)}
	p := newPanel("percentile", "")

	lo, hi, xTop := math.Inf(1), 0.0, 10.0
	type line struct {
		s            series
		xys, decades plotter.XYs
	}
	var lines []line
	for _, s := range ss {
		h := hists[s.cells[0]]
		// Beyond 1/(1-p) = count the percentiles are all the maximum: stop there.
		end := math.Min(float64(h.TotalCount()), spectrumMax)
		var l line
		l.s = s
		const perDecade = 24
		for k := 0; ; k++ {
			x := math.Pow(10, float64(k)/perDecade)
			if x >= end {
				break
			}
			l.xys = append(l.xys, plotter.XY{X: x, Y: float64(h.ValueAtQuantile(100*(1-1/x))) / 1e6})
		}
		last := float64(h.Max())
		if end >= spectrumMax && float64(h.TotalCount()) > spectrumMax {
			last = float64(h.ValueAtQuantile(100 * (1 - 1/spectrumMax)))
		}
		l.xys = append(l.xys, plotter.XY{X: end, Y: last / 1e6})
		for _, xy := range l.xys {
			if math.Abs(math.Log10(xy.X)-math.Round(math.Log10(xy.X))) < 1e-9 {
				l.decades = append(l.decades, xy)
			}
			if xy.Y > 0 {
				lo = math.Min(lo, xy.Y)
			}
			hi = math.Max(hi, xy.Y)
		}
		xTop = math.Max(xTop, end)
		lines = append(lines, l)
	}

	p.X.Scale = plot.LogScale{}
	p.X.Min = 1
	p.X.Max = math.Pow(10, math.Ceil(math.Log10(xTop)-1e-9))
	var ticks plot.ConstantTicks
	for e := 0; math.Pow(10, float64(e)) <= p.X.Max*(1+1e-9); e++ {
		ticks = append(ticks, plot.Tick{Value: math.Pow(10, float64(e)), Label: percentileLabel(e)})
	}
	p.X.Tick.Marker = ticks
	p.Y.Label.Text = "latency (ms" + setValueAxis(&p.Y, lo, hi) + ")"

	for _, l := range lines {
		ls, gs := seriesStyle(l.s.strategy, l.s.variant)
		ln, err := plotter.NewLine(l.xys)
		if err != nil {
			return nil, fmt.Errorf("reports: series %s: %w", l.s.label, err)
		}
		ln.LineStyle = ls
		// Marks at the labelled percentiles tell apart lines of one colour in print.
		sc, err := plotter.NewScatter(l.decades)
		if err != nil {
			return nil, fmt.Errorf("reports: series %s: %w", l.s.label, err)
		}
		sc.GlyphStyle = gs
		p.Add(ln, sc)
		f.legend = append(f.legend, legendEntry{label: l.s.label, thumbs: []plot.Thumbnailer{ln, sc}})
	}
	f.panels = []*plot.Plot{p}
	return f, nil
}

// percentileLabel labels the tick at 1/(1-p) = 10^e: "0%", "90%", "99%", "99.9%", …
func percentileLabel(e int) string {
	switch e {
	case 0:
		return "0%"
	case 1:
		return "90%"
	}
	return "99" + strings.TrimSuffix("."+strings.Repeat("9", e-2), ".") + "%"
}

// PlotScaling draws throughput (req/s) and p99 latency (ms) against concurrency, side by side,
// one line per strategy and program. Pass closed-loop cells of one workload.
func PlotScaling(w io.Writer, format string, cells []bench.Cell) error {
	f, err := scalingFigure(cellPointers(cells))
	if err != nil {
		return err
	}
	return f.write(w, format)
}

func scalingFigure(cells []*bench.Cell) (*figure, error) {
	cells = filter(cells, func(c *bench.Cell) bool { return c.Error == "" && c.Requests > 0 })
	if len(cells) == 0 {
		return nil, fmt.Errorf("reports: scaling plot: %w: no measured cell", ErrNoData)
	}
	suffix, ss := groupSeries(cells, dimConc)
	f := &figure{title: titled("Throughput and p99 latency vs concurrency", suffix), width: 9 * vg.Inch}
	tp := newPanel("concurrency (clients)", "")
	lat := newPanel("concurrency (clients)", "")
	var concs []float64
	tLo, tHi, lLo, lHi := math.Inf(1), 0.0, math.Inf(1), 0.0
	for _, c := range cells {
		concs = append(concs, float64(c.Concurrency))
		if c.ThroughputRPS > 0 {
			tLo = math.Min(tLo, c.ThroughputRPS)
		}
		tHi = math.Max(tHi, c.ThroughputRPS)
		if v := float64(c.LatencyNS.P99) / 1e6; v > 0 {
			lLo = math.Min(lLo, v)
		}
		lHi = math.Max(lHi, float64(c.LatencyNS.P99)/1e6)
	}
	concs = uniqueFloats(concs)
	setCountAxis(&tp.X, concs)
	setCountAxis(&lat.X, concs)
	tp.Y.Label.Text = "throughput (req/s" + setValueAxis(&tp.Y, tLo, tHi) + ")"
	lat.Y.Label.Text = "p99 latency (ms" + setValueAxis(&lat.Y, lLo, lHi) + ")"
	for _, s := range ss {
		var txy, lxy plotter.XYs
		for _, c := range s.cells {
			if tp.Y.Scale == (plot.LogScale{}) && c.ThroughputRPS <= 0 {
				continue
			}
			txy = append(txy, plotter.XY{X: float64(c.Concurrency), Y: c.ThroughputRPS})
		}
		for _, c := range s.cells {
			if lat.Y.Scale == (plot.LogScale{}) && c.LatencyNS.P99 <= 0 {
				continue
			}
			lxy = append(lxy, plotter.XY{X: float64(c.Concurrency), Y: float64(c.LatencyNS.P99) / 1e6})
		}
		if err := f.addPair(tp, lat, s, txy, lxy); err != nil {
			return nil, err
		}
	}
	f.panels = []*plot.Plot{tp, lat}
	return f, nil
}

// addPair draws one series on the two panels of a throughput-and-latency figure, throughput
// points on tp and latency points on lat, and names it in the legend once.
func (f *figure) addPair(tp, lat *plot.Plot, s series, txy, lxy plotter.XYs) error {
	if len(txy) > 0 {
		ps, entry, err := lineWithPoints(s, txy, true)
		if err != nil {
			return err
		}
		tp.Add(ps...)
		f.legend = append(f.legend, entry)
	}
	if len(lxy) > 0 {
		ps, _, err := lineWithPoints(s, lxy, true)
		if err != nil {
			return err
		}
		lat.Add(ps...)
	}
	return nil
}

// PlotCapacity draws what the steps of capacity searches measured against the rate they offered:
// the rate responses came at (req/s) beside the p99 latency from each request's intended start
// (ms), one line per cell, the p99 SLO as a dashed line when there was one. Where a rate was
// tried more than once, the last attempt counts. Cells without Capacity are left out.
func PlotCapacity(w io.Writer, format string, cells []bench.Cell) error {
	f, err := capacityFigure(cellPointers(cells))
	if err != nil {
		return err
	}
	return f.write(w, format)
}

func capacityFigure(cells []*bench.Cell) (*figure, error) {
	cells = filter(cells, func(c *bench.Cell) bool { return c.Error == "" && c.Capacity != nil && len(c.Capacity.Steps) > 0 })
	if len(cells) == 0 {
		return nil, fmt.Errorf("reports: capacity plot: %w: no capacity search", ErrNoData)
	}
	// The rates the searches ended at differ; the labels need not say so.
	plain := make([]*bench.Cell, len(cells))
	for i, c := range cells {
		cc := *c
		cc.RateRPS = 0
		plain[i] = &cc
	}
	suffix, ss := groupSeries(plain, "")
	f := &figure{title: titled("Capacity: throughput and p99 latency vs offered rate", suffix), width: 9 * vg.Inch}
	tp := newPanel("offered rate (req/s)", "")
	lat := newPanel("offered rate (req/s)", "")
	xLo, xHi, tLo, tHi, lLo, lHi := math.Inf(1), 0.0, math.Inf(1), 0.0, math.Inf(1), 0.0
	var slo float64
	type stepXY struct{ t, l plotter.XYs }
	lines := make([]stepXY, len(ss))
	for i, s := range ss {
		cp := s.cells[0].Capacity
		last := make(map[float64]bench.CapacityStep)
		var rates []float64
		for _, st := range cp.Steps {
			if _, seen := last[st.RateRPS]; !seen {
				rates = append(rates, st.RateRPS)
			}
			last[st.RateRPS] = st
		}
		slices.Sort(rates)
		for _, r := range rates {
			st := last[r]
			xLo, xHi, tHi = math.Min(xLo, r), math.Max(xHi, r), math.Max(tHi, math.Max(r, st.AchievedRPS))
			if st.AchievedRPS > 0 {
				lines[i].t = append(lines[i].t, plotter.XY{X: r, Y: st.AchievedRPS})
				tLo = math.Min(tLo, math.Min(r, st.AchievedRPS))
			}
			if st.P99NS > 0 {
				v := float64(st.P99NS) / 1e6
				lines[i].l = append(lines[i].l, plotter.XY{X: r, Y: v})
				lLo, lHi = math.Min(lLo, v), math.Max(lHi, v)
			}
		}
		if cp.SLOP99NS > 0 {
			slo = math.Max(slo, float64(cp.SLOP99NS)/1e6)
		}
	}
	if slo > 0 {
		lLo, lHi = math.Min(lLo, slo), math.Max(lHi, slo)
	}
	// Geometric steps (FROM:TO:xFACTOR) span decades: then both rate axes are logarithmic, or
	// the low rates of cgi would sit in a heap at 0.
	logRates := xHi/xLo >= 8
	for _, p := range []*plot.Plot{tp, lat} {
		p.X.Min, p.X.Max = 0, xHi*1.02
		p.X.Tick.Marker = linearTicks{}
		if logRates {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = logTicks{}
			p.X.Min, p.X.Max = niceLog(xLo, xHi)
			p.X.Label.Text = "offered rate (req/s, log scale)"
		}
	}
	if !logRates || math.IsInf(tLo, 1) {
		tLo = 0
	}
	tp.Y.Label.Text = "throughput (req/s" + setValueAxis(&tp.Y, tLo, tHi) + ")"
	if math.IsInf(lLo, 1) {
		lat.Y.Min, lat.Y.Max = 0, 1
		lat.Y.Label.Text = "p99 latency (ms)"
	} else {
		lat.Y.Label.Text = "p99 latency (ms" + setValueAxis(&lat.Y, lLo, lHi) + ")"
	}
	// What full delivery looks like: responses at the offered rate.
	from := 0.0
	if logRates {
		from = xLo
	}
	ideal, err := plotter.NewLine(plotter.XYs{{X: from, Y: from}, {X: xHi, Y: xHi}})
	if err != nil {
		return nil, fmt.Errorf("reports: capacity plot: %w", err)
	}
	ideal.LineStyle = draw.LineStyle{Color: color.Gray{0xa0}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	tp.Add(ideal)
	f.legend = append(f.legend, legendEntry{label: "offered = delivered", thumbs: []plot.Thumbnailer{ideal}})
	if slo > 0 {
		sl, err := plotter.NewLine(plotter.XYs{{X: lat.X.Min, Y: slo}, {X: lat.X.Max, Y: slo}})
		if err != nil {
			return nil, fmt.Errorf("reports: capacity plot: %w", err)
		}
		sl.LineStyle = draw.LineStyle{Color: color.RGBA{0xd6, 0x27, 0x28, 0xff}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		lat.Add(sl)
		f.legend = append(f.legend, legendEntry{label: "p99 SLO " + FormatDuration(slo*1e6), thumbs: []plot.Thumbnailer{sl}})
	}
	for i, s := range ss {
		if err := f.addPair(tp, lat, s, lines[i].t, lines[i].l); err != nil {
			return nil, err
		}
	}
	f.panels = []*plot.Plot{tp, lat}
	return f, nil
}

// PlotMemory draws the backend's peak memory (MiB) against concurrency, one line per strategy
// and program: peak PSS when every cell has it (it counts pages shared between forked workers
// once), else peak RSS. Cells without Resources are skipped.
func PlotMemory(w io.Writer, format string, cells []bench.Cell) error {
	f, err := memoryFigure(cellPointers(cells))
	if err != nil {
		return err
	}
	return f.write(w, format)
}

func memoryFigure(cells []*bench.Cell) (*figure, error) {
	cells = filter(cells, func(c *bench.Cell) bool {
		return c.Error == "" && c.Resources != nil && c.Resources.PeakRSSBytes > 0
	})
	if len(cells) == 0 {
		return nil, fmt.Errorf("reports: memory plot: %w: no cell has resource figures", ErrNoData)
	}
	pss := true
	for _, c := range cells {
		pss = pss && c.Resources.PeakPSSBytes > 0
	}
	mem := func(c *bench.Cell) float64 {
		if pss {
			return float64(c.Resources.PeakPSSBytes) / (1 << 20)
		}
		return float64(c.Resources.PeakRSSBytes) / (1 << 20)
	}
	what := "peak RSS"
	if pss {
		what = "peak PSS"
	}
	suffix, ss := groupSeries(cells, dimConc)
	f := &figure{title: titled("Peak memory vs concurrency", suffix)}
	p := newPanel("concurrency (clients)", "")
	var concs []float64
	lo, hi := math.Inf(1), 0.0
	for _, c := range cells {
		concs = append(concs, float64(c.Concurrency))
		lo, hi = math.Min(lo, mem(c)), math.Max(hi, mem(c))
	}
	setCountAxis(&p.X, uniqueFloats(concs))
	p.Y.Label.Text = what + " of the backend (MiB" + setValueAxis(&p.Y, lo, hi) + ")"
	for _, s := range ss {
		var xys plotter.XYs
		for _, c := range s.cells {
			xys = append(xys, plotter.XY{X: float64(c.Concurrency), Y: mem(c)})
		}
		ps, entry, err := lineWithPoints(s, xys, true)
		if err != nil {
			return nil, err
		}
		p.Add(ps...)
		f.legend = append(f.legend, entry)
	}
	f.panels = []*plot.Plot{p}
	return f, nil
}

// PlotCrossover draws median latency (ms) against the work=N the requests asked for, one line
// per strategy and program: where the cost of starting a process per request stops mattering.
// Cells without work are skipped. Pass cells of one workload and concurrency.
func PlotCrossover(w io.Writer, format string, cells []bench.Cell) error {
	f, err := crossoverFigure(cellPointers(cells))
	if err != nil {
		return err
	}
	return f.write(w, format)
}

func crossoverFigure(cells []*bench.Cell) (*figure, error) {
	cells = filter(cells, func(c *bench.Cell) bool { return c.Error == "" && c.Work > 0 && c.LatencyNS.P50 > 0 })
	if len(cells) == 0 {
		return nil, fmt.Errorf("reports: crossover plot: %w: no cell with work=N and a latency", ErrNoData)
	}
	suffix, ss := groupSeries(cells, dimWork)
	f := &figure{title: titled("Median latency vs work per request", suffix)}
	p := newPanel("work=N (units of work per request)", "")
	var works []float64
	lo, hi := math.Inf(1), 0.0
	for _, c := range cells {
		works = append(works, float64(c.Work))
		v := float64(c.LatencyNS.P50) / 1e6
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	setCountAxis(&p.X, uniqueFloats(works))
	p.Y.Label.Text = "p50 latency (ms" + setValueAxis(&p.Y, lo, hi) + ")"
	for _, s := range ss {
		var xys plotter.XYs
		for _, c := range s.cells {
			xys = append(xys, plotter.XY{X: float64(c.Work), Y: float64(c.LatencyNS.P50) / 1e6})
		}
		ps, entry, err := lineWithPoints(s, xys, true)
		if err != nil {
			return nil, err
		}
		p.Add(ps...)
		f.legend = append(f.legend, entry)
	}
	f.panels = []*plot.Plot{p}
	return f, nil
}

// MinTimeSeriesIntervals is how many intervals a cell needs for Plots to draw its time series.
const MinTimeSeriesIntervals = 5

// PlotTimeSeries draws throughput (req/s) and p99 latency (ms) over time, one panel above the
// other, one line per cell, from the cells' Intervals (time from each cell's start). Cells with
// fewer than two intervals are left out. Intervals without requests leave the p99 line out there.
func PlotTimeSeries(w io.Writer, format string, cells []bench.Cell) error {
	f, err := timeSeriesFigure(cellPointers(cells))
	if err != nil {
		return err
	}
	return f.write(w, format)
}

func timeSeriesFigure(cells []*bench.Cell) (*figure, error) {
	var usable []*bench.Cell
	for _, c := range cells {
		if c.Error == "" && len(c.Intervals) >= 2 {
			usable = append(usable, c)
		}
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("reports: time series: %w: need a cell with two intervals or more", ErrNoData)
	}
	suffix, ss := groupSeries(usable, "")
	f := &figure{title: titled("Throughput and p99 latency over time", suffix), stacked: true, height: 5.5 * vg.Inch}
	tp := newPanel("", "")
	lat := newPanel("time (s)", "")
	xHi, tHi, lLo, lHi := 0.0, 0.0, math.Inf(1), 0.0
	for _, s := range ss {
		ivs := s.cells[0].Intervals // in order, as FillCell writes them
		var txy, lxy plotter.XYs
		for i, iv := range ivs {
			if iv.DurationNS <= 0 {
				continue
			}
			from, to := float64(iv.StartNS)/1e9, float64(iv.StartNS+iv.DurationNS)/1e9
			rps := iv.ThroughputRPS
			txy = append(txy, plotter.XY{X: from, Y: rps})
			if i == len(ivs)-1 {
				// The step line holds each interval's rate until the interval ends.
				txy = append(txy, plotter.XY{X: to, Y: rps})
			}
			tHi, xHi = math.Max(tHi, rps), math.Max(xHi, to)
			if iv.Requests > 0 && iv.P99NS > 0 {
				v := float64(iv.P99NS) / 1e6
				lxy = append(lxy, plotter.XY{X: (from + to) / 2, Y: v})
				lLo, lHi = math.Min(lLo, v), math.Max(lHi, v)
			}
		}
		ls, gs := seriesStyle(s.strategy, s.variant)
		entry := legendEntry{label: s.label}
		if len(txy) > 0 {
			line, err := plotter.NewLine(txy)
			if err != nil {
				return nil, fmt.Errorf("reports: time series %s: %w", s.label, err)
			}
			line.StepStyle = plotter.PostStep
			line.LineStyle = ls
			tp.Add(line)
			entry.thumbs = append(entry.thumbs, line)
		}
		if len(lxy) > 0 {
			pl, err := plotter.NewLine(lxy)
			if err != nil {
				return nil, fmt.Errorf("reports: time series %s: %w", s.label, err)
			}
			pl.LineStyle = ls
			sc, err := plotter.NewScatter(lxy)
			if err != nil {
				return nil, fmt.Errorf("reports: time series %s: %w", s.label, err)
			}
			sc.GlyphStyle = gs
			sc.GlyphStyle.Radius = vg.Points(2)
			lat.Add(pl, sc)
		}
		f.legend = append(f.legend, entry)
	}
	for _, p := range []*plot.Plot{tp, lat} {
		p.X.Min, p.X.Max = 0, xHi
		p.X.Tick.Marker = linearTicks{}
	}
	tp.Y.Label.Text = "throughput (req/s" + setValueAxis(&tp.Y, 0, tHi) + ")"
	if math.IsInf(lLo, 1) {
		lat.Y.Min, lat.Y.Max = 0, 1
		lat.Y.Label.Text = "p99 latency (ms)"
	} else {
		lat.Y.Label.Text = "p99 latency (ms" + setValueAxis(&lat.Y, lLo, lHi) + ")"
	}
	f.panels = []*plot.Plot{tp, lat}
	return f, nil
}

// Colours of the start-up segments: not strategy colours, since every bar is cgi.
var (
	startColor     = color.RGBA{0xe6, 0x55, 0x0d, 0xff}
	appWorkColor   = color.RGBA{0x31, 0x82, 0xbd, 0xff}
	transportColor = color.RGBA{0xbd, 0xbd, 0xbd, 0xff}
)

// PlotStartup draws, per program, a stacked bar of where a CGI request's time goes: process
// start, the app's work, transport; the share of process start is written above each bar.
// Breakdowns with a negative, NaN or all-zero time are skipped.
func PlotStartup(w io.Writer, format string, breakdowns []StartupBreakdown) error {
	f, err := startupFigure(breakdowns)
	if err != nil {
		return err
	}
	return f.write(w, format)
}

func startupFigure(breakdowns []StartupBreakdown) (*figure, error) {
	var bs []StartupBreakdown
	for _, b := range breakdowns {
		if b.valid() {
			bs = append(bs, b)
		}
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("reports: start-up plot: %w: no valid breakdown", ErrNoData)
	}
	top := 0.0
	for _, b := range bs {
		top = math.Max(top, b.total())
	}
	unit, scale := "ms", 1e6
	if top < 1e6 {
		unit, scale = "µs", 1e3
	}
	f := &figure{title: "Where a CGI request's time goes"}
	p := styledPanel("", "time per request ("+unit+")")
	// No vertical grid lines: they would run through the bars and their labels.
	p.Add(lightGrid(false))
	names := make([]string, len(bs))
	var start, app, transport plotter.Values
	for i, b := range bs {
		names[i] = b.Program
		start = append(start, b.ProcessStartNS/scale)
		app = append(app, b.AppWorkNS/scale)
		transport = append(transport, b.TransportNS/scale)
	}
	width := vg.Points(math.Min(36, 360/float64(len(bs))))
	var bars []*plotter.BarChart
	for i, seg := range []struct {
		vs    plotter.Values
		c     color.Color
		label string
	}{{start, startColor, "process start"}, {app, appWorkColor, "app work"}, {transport, transportColor, "transport"}} {
		bc, err := plotter.NewBarChart(seg.vs, width)
		if err != nil {
			return nil, fmt.Errorf("reports: start-up plot: %w", err)
		}
		bc.Color = seg.c
		bc.LineStyle.Width = 0
		if i > 0 {
			bc.StackOn(bars[i-1])
		}
		bars = append(bars, bc)
		p.Add(bc)
		f.legend = append(f.legend, legendEntry{label: seg.label, thumbs: []plot.Thumbnailer{bc}})
	}
	var labels plotter.XYLabels
	for i, b := range bs {
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: b.total() / scale})
		labels.Labels = append(labels.Labels, formatPercent(b.ProcessStartNS/b.total())+" start")
	}
	lb, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, fmt.Errorf("reports: start-up plot: %w", err)
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = vg.Points(tickSize)
		lb.TextStyle[i].Font.Typeface, lb.TextStyle[i].Font.Variant = sans.Typeface, sans.Variant
		lb.TextStyle[i].XAlign = draw.XCenter
		lb.TextStyle[i].YAlign = draw.YBottom
	}
	lb.Offset = vg.Point{Y: vg.Points(3)}
	p.Add(lb)
	p.NominalX(names...)
	p.X.Tick.Label.Font.Size = vg.Points(labelSize)
	p.Y.Min = 0
	p.Y.Max = top / scale * 1.15
	p.Y.Tick.Marker = linearTicks{}
	f.panels = []*plot.Plot{p}
	return f, nil
}

func uniqueFloats(vs []float64) []float64 {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return slices.Compact(vs)
}
