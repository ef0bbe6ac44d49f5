package reports

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cgibench/cgibench/bench"
)

// column is one column of the results table, shared by the text, Markdown and HTML tables.
type column struct {
	head string
	// num right-aligns the column where the format can (Markdown, HTML).
	num   bool
	value func(c *bench.Cell) string
}

// table is the results table laid out once for every format: formatted cells, the footnotes
// they refer to, and the lines that follow the table.
type table struct {
	cols []column
	rows []tableRow
	// notes are the footnotes, "[1] cgi/python/get c=8: 3 errors: timeout 2, status_5xx 1".
	notes []string
	// skipped are the planned cells not run, "cgi/sh/multipart — sh handles GET only".
	skipped []string
	// capacity has a line per capacity search, "cgi/python/get c=8: 140 req/s sustained
	// (p99 ≤ 50ms, errors ≤ 0.1%); 160 req/s: p99 81ms > SLO 50ms".
	capacity []string
	// partial explains an incomplete run ("interrupted"); empty for a complete one.
	partial string
}

type tableRow struct {
	cell   *bench.Cell
	values []string
	// groupStart is true on a row that starts a new workload, or a new program when either
	// program has rows under several strategies.
	groupStart bool
}

// newTable lays out r's cells in display order. The rate and work columns appear only when
// some cell is open-loop or asks for work, the CPU and memory columns only when some cell has
// Resources.
func newTable(r *bench.Results) *table {
	cells := sortedCells(r)
	var anyRate, anyWork, anyRes bool
	for _, c := range cells {
		anyRate = anyRate || c.RateRPS > 0
		anyWork = anyWork || c.Work > 0
		anyRes = anyRes || c.Resources != nil
	}

	t := &table{}
	// Every cell with something to explain gets one footnote, referred to from its errors column.
	marks := make(map[*bench.Cell]string)
	for _, c := range cells {
		if note := cellNote(c); note != "" {
			t.notes = append(t.notes, fmt.Sprintf("[%d] %s: %s", len(t.notes)+1, cellName(c), note))
			marks[c] = fmt.Sprintf(" [%d]", len(t.notes))
		}
	}

	measured := func(f func(c *bench.Cell) string) func(c *bench.Cell) string {
		return func(c *bench.Cell) string {
			if c.Error != "" {
				return "-"
			}
			return f(c)
		}
	}
	dur := func(f func(l bench.Latency) int64) func(c *bench.Cell) string {
		return measured(func(c *bench.Cell) string { return FormatDuration(float64(f(c.LatencyNS))) })
	}
	res := func(f func(r *bench.Resources) string) func(c *bench.Cell) string {
		return measured(func(c *bench.Cell) string {
			if c.Resources == nil {
				return "-"
			}
			return f(c.Resources)
		})
	}

	t.cols = []column{
		{head: "strategy", value: func(c *bench.Cell) string { return c.Strategy }},
		{head: "program", value: func(c *bench.Cell) string { return c.Program }},
		{head: "workload", value: func(c *bench.Cell) string { return c.Workload }},
		{head: "conc", num: true, value: func(c *bench.Cell) string { return strconv.Itoa(c.Concurrency) }},
	}
	if anyRate {
		t.cols = append(t.cols, column{head: "rate", num: true, value: func(c *bench.Cell) string {
			if c.RateRPS <= 0 {
				return "-"
			}
			return formatRPS(c.RateRPS)
		}})
	}
	if anyWork {
		t.cols = append(t.cols, column{head: "work", num: true, value: func(c *bench.Cell) string {
			if c.Work <= 0 {
				return "-"
			}
			return strconv.Itoa(c.Work)
		}})
	}
	t.cols = append(t.cols,
		column{head: "req/s", num: true, value: measured(func(c *bench.Cell) string { return formatRPS(c.ThroughputRPS) })},
		column{head: "p50", num: true, value: dur(func(l bench.Latency) int64 { return l.P50 })},
		column{head: "p90", num: true, value: dur(func(l bench.Latency) int64 { return l.P90 })},
		column{head: "p99", num: true, value: dur(func(l bench.Latency) int64 { return l.P99 })},
		column{head: "max", num: true, value: dur(func(l bench.Latency) int64 { return l.Max })},
	)
	if anyRate {
		open := func(f func(o *bench.OpenLoop) string) func(c *bench.Cell) string {
			return measured(func(c *bench.Cell) string {
				if c.OpenLoop == nil {
					return "-"
				}
				return f(c.OpenLoop)
			})
		}
		t.cols = append(t.cols,
			column{head: "uncorr-p99", num: true, value: open(func(o *bench.OpenLoop) string {
				return FormatDuration(float64(o.UncorrectedLatencyNS.P99))
			})},
			column{head: "late", num: true, value: open(func(o *bench.OpenLoop) string { return strconv.FormatInt(o.Late, 10) })},
			column{head: "unsent", num: true, value: open(func(o *bench.OpenLoop) string { return strconv.FormatInt(o.Unsent, 10) })},
		)
	}
	t.cols = append(t.cols,
		column{head: "errors", num: true, value: func(c *bench.Cell) string {
			n := "-"
			if c.Error == "" {
				n = strconv.FormatInt(totalErrors(c), 10)
			}
			return n + marks[c]
		}},
	)
	if anyRes {
		t.cols = append(t.cols,
			column{head: "CPU/req", num: true, value: res(func(r *bench.Resources) string { return FormatDuration(r.CPUPerRequestNS) })},
			column{head: "peak MiB", num: true, value: res(func(r *bench.Resources) string { return formatMiB(r.PeakRSSBytes) })},
		)
	}

	// Rows of one program and workload under several strategies stand apart; a lone row does
	// not get a blank line of its own unless the workload changes.
	groupKey := func(c *bench.Cell) string { return c.Workload + "\x00" + c.Program }
	groupSize := map[string]int{}
	for _, c := range cells {
		groupSize[groupKey(c)]++
	}
	for i, c := range cells {
		row := tableRow{cell: c, values: make([]string, len(t.cols))}
		for j, col := range t.cols {
			row.values[j] = col.value(c)
		}
		if i > 0 {
			prev := cells[i-1]
			row.groupStart = c.Workload != prev.Workload ||
				c.Program != prev.Program && (groupSize[groupKey(c)] > 1 || groupSize[groupKey(prev)] > 1)
		}
		t.rows = append(t.rows, row)
	}
	for _, c := range cells {
		if c.Capacity != nil {
			t.capacity = append(t.capacity, cellID(c)+": "+capacityLine(c.Capacity))
		}
	}
	for _, s := range r.Skipped {
		t.skipped = append(t.skipped, skipName(s)+" — "+s.Reason)
	}
	if r.Partial {
		t.partial = partialNote(r)
	}
	return t
}

// cellNote is what a cell's footnote says, or "" when there is nothing to say.
func cellNote(c *bench.Cell) string {
	var parts []string
	if c.Error != "" {
		parts = append(parts, "not measured: "+c.Error)
	}
	if n := totalErrors(c); n > 0 {
		word := "errors"
		if n == 1 {
			word = "error"
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", n, word, errorClasses(c, ", ", " ")))
	}
	if c.OutOfRange > 0 {
		parts = append(parts, fmt.Sprintf("%d latencies over the histogram's range left out of the percentiles", c.OutOfRange))
	}
	if o := c.OpenLoop; o != nil && o.Unsent > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d requests due were never sent (every connection busy): the target rate was not offered", o.Unsent, o.Scheduled))
	}
	if c.Partial {
		parts = append(parts, "load cut short (partial)")
	}
	return strings.Join(parts, "; ")
}

// capacityIntro heads the capacity lines in the Markdown and HTML reports.
const capacityIntro = "The highest rate each cell sustained in an open-loop search (latency from each request's intended start)."

// capacityBounds says what a sustainable rate had to keep to: "p99 ≤ 50.0ms, errors ≤ 0.1%".
func capacityBounds(cp *bench.Capacity) string {
	bounds := "errors ≤ " + formatPercent(cp.MaxErrorRate)
	if cp.SLOP99NS > 0 {
		bounds = "p99 ≤ " + FormatDuration(float64(cp.SLOP99NS)) + ", " + bounds
	}
	return bounds
}

// capacityLine says what a capacity search found: the highest sustainable rate under which
// bounds, and what the next rate crossed.
func capacityLine(cp *bench.Capacity) string {
	var b strings.Builder
	if cp.MaxSustainableRPS > 0 {
		fmt.Fprintf(&b, "%s req/s sustained (%s)", formatRPS(cp.MaxSustainableRPS), capacityBounds(cp))
	} else {
		fmt.Fprintf(&b, "no rate sustained (%s)", capacityBounds(cp))
	}
	switch {
	case cp.Bound == "cancelled":
		b.WriteString("; search interrupted")
	case cp.Bound == "" && len(cp.Steps) > 0:
		b.WriteString("; every rate tried passed: raise the range to find the limit")
	case len(cp.Steps) > 0:
		last := cp.Steps[len(cp.Steps)-1]
		fmt.Fprintf(&b, "; %s req/s: %s", formatRPS(last.RateRPS), last.Reason)
	}
	return b.String()
}

// without returns the table's columns and row values minus the column named head.
func (t *table) without(head string) ([]column, func(row tableRow) []string) {
	skip := -1
	var cols []column
	for i, c := range t.cols {
		if c.head == head {
			skip = i
			continue
		}
		cols = append(cols, c)
	}
	return cols, func(row tableRow) []string {
		if skip < 0 {
			return row.values
		}
		v := make([]string, 0, len(row.values)-1)
		v = append(v, row.values[:skip]...)
		return append(v, row.values[skip+1:]...)
	}
}

// WriteTable writes the results as an aligned text table, the one `cgibench run` prints: one row
// per cell, the same program and workload under every strategy together, then footnotes for
// cells with errors, the skipped cells, and "(partial: …)" when the run is incomplete.
func WriteTable(w io.Writer, r *bench.Results) error {
	if r == nil {
		return errNilResults
	}
	t := newTable(r)
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	heads := make([]string, len(t.cols))
	for i, c := range t.cols {
		heads[i] = c.head
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	// A row of empty cells rather than an empty line separates groups: an empty line would end
	// tabwriter's column block and misalign the groups.
	blank := strings.Repeat("\t", len(t.cols)-1)
	for _, row := range t.rows {
		if row.groupStart {
			fmt.Fprintln(tw, blank)
		}
		fmt.Fprintln(tw, strings.Join(row.values, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("reports: table: %w", err)
	}
	if len(t.rows) == 0 {
		buf.WriteString("no cells measured\n")
	}
	if len(t.notes) > 0 {
		buf.WriteString("\n")
		for _, n := range t.notes {
			buf.WriteString(n + "\n")
		}
	}
	if len(r.Startup) > 0 {
		buf.WriteString("\nstart-up, GET at c=1 (medians):\n")
		stw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
		fmt.Fprintln(stw, "program\tbare start\tcgi p50\tpersistent p50\tstart-up share")
		for _, s := range r.Startup {
			pers := "—"
			if s.Persistent != "" {
				pers = FormatDuration(float64(s.PersistentP50NS)) + " (" + s.Persistent + ")"
			}
			fmt.Fprintf(stw, "%s\t%s\t%s\t%s\t%s\n", s.Program, FormatDuration(float64(s.BareStartNS)),
				FormatDuration(float64(s.CGIP50NS)), pers, formatPercent(s.StartupShare))
		}
		if err := stw.Flush(); err != nil {
			return fmt.Errorf("reports: table: %w", err)
		}
	}
	if len(t.capacity) > 0 {
		buf.WriteString("\ncapacity (highest sustainable rate):\n")
		for _, c := range t.capacity {
			buf.WriteString("  " + c + "\n")
		}
	}
	if len(t.skipped) > 0 {
		buf.WriteString("\n")
		for _, s := range t.skipped {
			buf.WriteString("skipped: " + s + "\n")
		}
	}
	if t.partial != "" {
		fmt.Fprintf(&buf, "\n(partial: %s)\n", t.partial)
	}
	// tabwriter pads every cell that a tab ends, so the separator rows are all blanks.
	lines := strings.SplitAfter(buf.String(), "\n")
	var out strings.Builder
	for _, l := range lines {
		trimmed := strings.TrimRight(l, " \n")
		if strings.HasSuffix(l, "\n") {
			trimmed += "\n"
		}
		out.WriteString(trimmed)
	}
	if _, err := io.WriteString(w, out.String()); err != nil {
		return fmt.Errorf("reports: writing table: %w", err)
	}
	return nil
}
