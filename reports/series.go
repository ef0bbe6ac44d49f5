package reports

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/cgibench/cgibench/bench"
)

// series is one line of a plot: the cells of one strategy and program (and whatever else sets
// them apart), ordered by the plot's x dimension.
type series struct {
	label    string
	strategy string
	// variant picks the line's dash and point shape; series of one strategy differ in it.
	variant int
	cells   []*bench.Cell
}

// dimension is a property of a cell that either a whole plot shares (it goes in the title) or
// that sets series apart (it goes in their legend labels).
type dimension struct {
	name string
	// show writes the value as a title or a label shows it, "" when there is nothing to show.
	show func(c *bench.Cell) string
}

// The dimensions besides strategy and program, in the order titles and labels list them.
const (
	dimWorkload = "workload"
	dimConc     = "concurrency"
	dimRate     = "rate"
	dimWork     = "work"
	dimWorkers  = "workers"
)

var dimensions = []dimension{
	{dimWorkload, func(c *bench.Cell) string { return c.Workload }},
	{dimConc, func(c *bench.Cell) string { return "c=" + strconv.Itoa(c.Concurrency) }},
	{dimRate, func(c *bench.Cell) string {
		if c.RateRPS <= 0 {
			return ""
		}
		return formatRPS(c.RateRPS) + " req/s"
	}},
	{dimWork, func(c *bench.Cell) string {
		if c.Work <= 0 {
			return ""
		}
		return "work=" + strconv.Itoa(c.Work)
	}},
	{dimWorkers, func(c *bench.Cell) string {
		if c.Workers <= 0 {
			return ""
		}
		return strconv.Itoa(c.Workers) + " workers"
	}},
}

// groupSeries splits cells into series along x, the dimension the plot draws across (empty
// when each series is one cell). A dimension every cell shares goes into the returned title
// suffix ("get, c=8"); one that differs goes into the labels ("cgi/python c=8"), except the
// pool size, labelled only when it differs within one strategy and program. Within a series, cells repeating an x value after the first are dropped.
// Series come in strategy order, then by program and label.
func groupSeries(cells []*bench.Cell, x string) (title string, out []series) {
	var shared, varying []dimension
	for _, d := range dimensions {
		if d.name == x {
			continue
		}
		values := make(map[string]bool)
		within := make(map[string]map[string]bool) // strategy/program → values
		for _, c := range cells {
			v := d.show(c)
			values[v] = true
			sp := c.Strategy + "/" + c.Program
			if within[sp] == nil {
				within[sp] = make(map[string]bool)
			}
			within[sp][v] = true
		}
		if len(values) == 1 {
			shared = append(shared, d)
			continue
		}
		if d.name != dimWorkers {
			varying = append(varying, d)
			continue
		}
		// Pool sizes differ between strategies by nature; label them only when one strategy
		// and program was measured with several.
		for _, vs := range within {
			if len(vs) > 1 {
				varying = append(varying, d)
				break
			}
		}
	}
	if len(cells) > 0 {
		var parts []string
		for _, d := range shared {
			if d.name == dimWorkers {
				continue // a pool size is a detail of one strategy, not of the plot
			}
			if v := d.show(cells[0]); v != "" {
				parts = append(parts, v)
			}
		}
		title = strings.Join(parts, ", ")
	}

	index := make(map[string]int)
	for _, c := range cells {
		label := c.Strategy + "/" + c.Program
		for _, d := range varying {
			if v := d.show(c); v != "" {
				label += " " + v
			}
		}
		i, ok := index[label]
		if !ok {
			i = len(out)
			index[label] = i
			out = append(out, series{label: label, strategy: c.Strategy})
		}
		out[i].cells = append(out[i].cells, c)
	}
	for i := range out {
		out[i].cells = uniqueAlong(out[i].cells, x)
	}
	slices.SortStableFunc(out, func(a, b series) int {
		return cmp.Or(compareStrategies(a.strategy, b.strategy), strings.Compare(a.label, b.label))
	})
	// The variant is the label without its strategy: the same program has the same dash and
	// shape under every strategy.
	var variants []string
	for _, s := range out {
		variants = append(variants, strings.TrimPrefix(s.label, s.strategy+"/"))
	}
	sorted := slices.Clone(variants)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for i := range out {
		out[i].variant, _ = slices.BinarySearch(sorted, variants[i])
	}
	return title, out
}

// xValue is a cell's value along a plot's x dimension.
func xValue(c *bench.Cell, x string) float64 {
	switch x {
	case dimConc:
		return float64(c.Concurrency)
	case dimWork:
		return float64(c.Work)
	case dimRate:
		return c.RateRPS
	case dimWorkers:
		return float64(c.Workers)
	}
	return 0
}

// uniqueAlong sorts cells by their x value and keeps the first cell at each value. With no x
// dimension it keeps the first cell.
func uniqueAlong(cells []*bench.Cell, x string) []*bench.Cell {
	if x == "" || x == dimWorkload {
		return cells[:1]
	}
	sorted := slices.Clone(cells)
	slices.SortStableFunc(sorted, func(a, b *bench.Cell) int { return cmp.Compare(xValue(a, x), xValue(b, x)) })
	return slices.CompactFunc(sorted, func(a, b *bench.Cell) bool { return xValue(a, x) == xValue(b, x) })
}

func cellPointers(cells []bench.Cell) []*bench.Cell {
	ps := make([]*bench.Cell, len(cells))
	for i := range cells {
		ps[i] = &cells[i]
	}
	slices.SortStableFunc(ps, compareCells)
	return ps
}
