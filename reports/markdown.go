package reports

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cgibench/cgibench/bench"
)

// PlotLink is a plot file a Markdown report shows.
type PlotLink struct {
	// Title is the plot's title, the image's alternative text.
	Title string
	// Path is where the image is, relative to the Markdown file: "plots/latency-get-c8.png".
	Path string
}

// WriteMarkdown writes the results as Markdown: the run's host and time, the conclusions, one
// table per workload (the text table's columns, numbers right-aligned), footnotes, skipped
// cells, and the plots in plotLinks as images.
func WriteMarkdown(w io.Writer, r *bench.Results, plotLinks []PlotLink) error {
	if r == nil {
		return errNilResults
	}
	var b bytes.Buffer
	t := newTable(r)
	b.WriteString("# cgibench results\n\n")
	for _, line := range runFacts(r) {
		fmt.Fprintf(&b, "- %s\n", mdEscape(line))
	}
	if t.partial != "" {
		fmt.Fprintf(&b, "\n**Partial run: %s.** Some planned cells are missing or incomplete.\n", mdEscape(t.partial))
	}
	if cs := Conclusions(r); len(cs) > 0 {
		b.WriteString("\n## Conclusions\n\n")
		for _, c := range cs {
			fmt.Fprintf(&b, "- %s\n", mdEscape(c))
		}
	}
	cols, values := t.without("workload")
	for _, wl := range workloadsOf(t) {
		fmt.Fprintf(&b, "\n## Workload %s\n\n", mdEscape(wl))
		heads := make([]string, len(cols))
		aligns := make([]string, len(cols))
		for i, c := range cols {
			heads[i] = mdEscape(c.head)
			aligns[i] = "---"
			if c.num {
				aligns[i] = "---:"
			}
		}
		fmt.Fprintf(&b, "| %s |\n| %s |\n", strings.Join(heads, " | "), strings.Join(aligns, " | "))
		for _, row := range t.rows {
			if row.cell.Workload != wl {
				continue
			}
			vs := values(row)
			esc := make([]string, len(vs))
			for i, v := range vs {
				esc[i] = mdEscape(v)
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(esc, " | "))
		}
	}
	if len(t.rows) == 0 {
		b.WriteString("\nNo cells measured.\n")
	}
	if len(t.notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range t.notes {
			fmt.Fprintf(&b, "- %s\n", mdEscape(n))
		}
	}
	if len(t.capacity) > 0 {
		b.WriteString("\n## Capacity\n\n" + capacityIntro + "\n\n")
		for _, c := range t.capacity {
			fmt.Fprintf(&b, "- %s\n", mdEscape(c))
		}
	}
	if len(t.skipped) > 0 {
		b.WriteString("\n## Skipped\n\n")
		for _, s := range t.skipped {
			fmt.Fprintf(&b, "- %s\n", mdEscape(s))
		}
	}
	if len(plotLinks) > 0 {
		b.WriteString("\n## Plots\n")
		for _, p := range plotLinks {
			fmt.Fprintf(&b, "\n![%s](%s)\n", mdEscape(p.Title), mdLinkPath(p.Path))
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("reports: writing markdown: %w", err)
	}
	return nil
}

// workloadsOf lists the table's workloads in row order.
func workloadsOf(t *table) []string {
	var wls []string
	for _, row := range t.rows {
		if len(wls) == 0 || wls[len(wls)-1] != row.cell.Workload {
			wls = append(wls, row.cell.Workload)
		}
	}
	return wls
}

// runFacts describes the run in a few short lines: tool, host, when and how long.
func runFacts(r *bench.Results) []string {
	var facts []string
	if r.Tool != "" {
		facts = append(facts, "tool: "+r.Tool)
	}
	h := r.Host
	host := h.OS + "/" + h.Arch
	if h.CPUs > 0 {
		host += fmt.Sprintf(", %d CPUs", h.CPUs)
	}
	if h.CPUModel != "" {
		host += " (" + h.CPUModel + ")"
	}
	if h.Kernel != "" {
		host += ", kernel " + h.Kernel
	}
	if h.GoVersion != "" {
		host += ", " + h.GoVersion
	}
	if host != "/" {
		facts = append(facts, "host: "+host)
	}
	if !r.StartedAt.IsZero() {
		run := "run: " + r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")
		if r.FinishedAt.After(r.StartedAt) {
			run += ", took " + r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
		}
		facts = append(facts, run)
	}
	return facts
}

// mdEscape keeps text from being read as Markdown or HTML structure: table pipes, emphasis,
// code spans, tags.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '|', '*', '`', '<', '[', ']':
			b.WriteByte('\\')
		case '\n':
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdLinkPath writes a path as a link destination: in angle brackets when it has spaces or
// parentheses.
func mdLinkPath(p string) string {
	if strings.ContainsAny(p, " ()<>") {
		return "<" + strings.NewReplacer("<", "%3C", ">", "%3E").Replace(p) + ">"
	}
	return p
}
