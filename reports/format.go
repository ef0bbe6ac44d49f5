package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cgibench/cgibench/bench"
)

// FormatDuration writes a duration in nanoseconds the way reports print it: three significant
// figures and the largest unit that keeps the number at or above 1 ("850ns", "41.3µs", "18.9ms",
// "2.50s"). Zero is "0"; a negative, NaN or infinite value is "-".
func FormatDuration(ns float64) string {
	switch {
	case ns == 0:
		return "0"
	case ns < 0 || math.IsNaN(ns) || math.IsInf(ns, 0):
		return "-"
	}
	units := []struct {
		name  string
		scale float64
	}{{"ns", 1}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}}
	for i, u := range units {
		v := ns / u.scale
		s := formatSig(v)
		// Rounding may carry into the next unit (999.7µs is "1.00ms", not "1000µs").
		if i < len(units)-1 && mustParse(s) >= 1000 {
			continue
		}
		return s + u.name
	}
	return formatSig(ns/1e9) + "s"
}

// FormatRatio writes a ratio the way conclusions print it: "41×", "2.6×".
func FormatRatio(x float64) string {
	if x >= 9.95 {
		return strconv.FormatFloat(math.Round(x), 'f', 0, 64) + "×"
	}
	return strconv.FormatFloat(x, 'f', 1, 64) + "×"
}

// Ratio returns a/b, and false when the ratio means nothing: b not positive, a negative, or
// either of them NaN or infinite.
func Ratio(a, b float64) (float64, bool) {
	if !(b > 0) || !(a >= 0) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return 0, false
	}
	return a / b, true
}

// formatSig writes v with three significant figures and no exponent: 0.123, 1.23, 12.3, 123,
// 1234 (numbers of four digits or more keep all their integer digits).
func formatSig(v float64) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	var prec int
	switch {
	case a >= 99.95:
		prec = 0
	case a >= 9.995:
		prec = 1
	case a >= 0.9995:
		prec = 2
	default:
		prec = 2 - int(math.Floor(math.Log10(a)))
		// 0.09996 rounds to 0.100 at prec 4: one decimal fewer keeps three figures.
		if r := strconv.FormatFloat(a, 'f', prec, 64); mustParse(r) >= math.Pow10(-prec+3) {
			prec--
		}
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func mustParse(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// formatRPS writes a throughput or a rate in requests per second.
func formatRPS(v float64) string {
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return formatSig(v)
}

// formatMiB writes a byte count in mebibytes with three significant figures.
func formatMiB(b int64) string { return formatSig(float64(b) / (1 << 20)) }

// strategyRank orders the strategies from the most to the least isolated: the reading order of
// every table and legend. Unknown strategies follow, by name.
func strategyRank(s string) int {
	switch s {
	case "cgi":
		return 0
	case "fastcgi":
		return 1
	case "embedded":
		return 2
	case "inprocess":
		return 3
	}
	return 4
}

func compareStrategies(a, b string) int {
	return cmp.Or(cmp.Compare(strategyRank(a), strategyRank(b)), strings.Compare(a, b))
}

// compareCells is the one order cells are shown in: same workload and program together, by
// concurrency, rate and work, then strategy.
func compareCells(a, b *bench.Cell) int {
	return cmp.Or(
		strings.Compare(a.Workload, b.Workload),
		strings.Compare(a.Program, b.Program),
		cmp.Compare(a.Concurrency, b.Concurrency),
		cmp.Compare(a.RateRPS, b.RateRPS),
		cmp.Compare(a.Work, b.Work),
		compareStrategies(a.Strategy, b.Strategy),
		cmp.Compare(a.Workers, b.Workers),
	)
}

// sortedCells returns pointers to r's cells in display order; r is not modified.
func sortedCells(r *bench.Results) []*bench.Cell {
	cells := make([]*bench.Cell, len(r.Cells))
	for i := range r.Cells {
		cells[i] = &r.Cells[i]
	}
	slices.SortStableFunc(cells, compareCells)
	return cells
}

// cellName names a cell in footnotes and conclusions: "cgi/python/get c=8", with the rate and
// work when they are set.
func cellName(c *bench.Cell) string {
	if c.RateRPS > 0 && c.Capacity == nil {
		return fmt.Sprintf("%s rate=%s/s", cellID(c), formatRPS(c.RateRPS))
	}
	return cellID(c)
}

// cellID names a cell without its rate: "cgi/python/get c=8 work=1000".
func cellID(c *bench.Cell) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s/%s c=%d", c.Strategy, c.Program, c.Workload, c.Concurrency)
	if c.Work > 0 {
		fmt.Fprintf(&b, " work=%d", c.Work)
	}
	return b.String()
}

// totalErrors is the sum of a cell's error counts.
func totalErrors(c *bench.Cell) int64 {
	var n int64
	for _, v := range c.Errors {
		n += v
	}
	return n
}

// errorClasses lists a cell's non-zero error classes, largest first: "timeout 2, status_5xx 1".
func errorClasses(c *bench.Cell, sep, kv string) string {
	type class struct {
		name string
		n    int64
	}
	var cs []class
	for k, v := range c.Errors {
		if v != 0 {
			cs = append(cs, class{k, v})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].n != cs[j].n {
			return cs[i].n > cs[j].n
		}
		return cs[i].name < cs[j].name
	})
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.name + kv + strconv.FormatInt(c.n, 10)
	}
	return strings.Join(parts, sep)
}

// skipName names a skipped cell: "cgi/sh/multipart".
func skipName(s bench.Skip) string {
	name := s.Strategy + "/" + s.Program
	if s.Workload != "" {
		name += "/" + s.Workload
	}
	return name
}

// partialNote explains Results.Partial: "interrupted", "2 cells failed", or both.
func partialNote(r *bench.Results) string {
	var failed, cut int
	for i := range r.Cells {
		if r.Cells[i].Error != "" {
			failed++
		}
		if r.Cells[i].Partial {
			cut++
		}
	}
	var why []string
	if cut > 0 || failed == 0 {
		why = append(why, "interrupted")
	}
	switch failed {
	case 0:
	case 1:
		why = append(why, "1 cell failed")
	default:
		why = append(why, fmt.Sprintf("%d cells failed", failed))
	}
	return strings.Join(why, ", ")
}
