package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"regexp"

	"github.com/cgibench/cgibench/bench"
)

// WriteHTML writes the results as one self-contained HTML page: the run's facts, conclusions,
// a table per workload, footnotes, skipped cells, and every plot Plots chooses as inline SVG.
// The page has its CSS inline and refers to nothing outside itself: no script, no image file,
// no font, no network address, so it can be mailed or archived as is. A plot that fails to
// draw is replaced by a line saying so, and the error is returned after the page is written.
func WriteHTML(w io.Writer, r *bench.Results) error {
	if r == nil {
		return errNilResults
	}
	t := newTable(r)
	cols, values := t.without("workload")
	page := htmlPage{
		Facts:         runFacts(r),
		Partial:       t.partial,
		Conclusions:   Conclusions(r),
		Notes:         t.notes,
		Capacity:      t.capacity,
		CapacityIntro: capacityIntro,
		Skipped:       t.skipped,
	}
	for _, c := range cols {
		page.Heads = append(page.Heads, htmlCell{Text: c.head, Num: c.num})
	}
	for _, wl := range workloadsOf(t) {
		tbl := htmlTable{Workload: wl}
		for _, row := range t.rows {
			if row.cell.Workload != wl {
				continue
			}
			hr := htmlRow{Group: row.groupStart && len(tbl.Rows) > 0}
			for i, v := range values(row) {
				hr.Cells = append(hr.Cells, htmlCell{Text: v, Num: cols[i].num})
			}
			tbl.Rows = append(tbl.Rows, hr)
		}
		page.Tables = append(page.Tables, tbl)
	}
	var plotErrs []error
	for _, p := range Plots(r) {
		var svg bytes.Buffer
		hp := htmlPlot{ID: "plot-" + p.Name, Title: p.Title}
		if err := p.Render(&svg, FormatSVG); err != nil {
			hp.Error = err.Error()
			plotErrs = append(plotErrs, err)
		} else {
			// The SVG is our own drawing, made inline-ready by inlineSVG.
			hp.SVG = template.HTML(inlineSVG(svg.Bytes()))
		}
		page.Plots = append(page.Plots, hp)
	}
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, page); err != nil {
		return fmt.Errorf("reports: html: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("reports: writing html: %w", err)
	}
	if len(plotErrs) > 0 {
		return fmt.Errorf("reports: html: %d plot(s) failed to draw: %w", len(plotErrs), plotErrs[0])
	}
	return nil
}

var (
	svgProlog = regexp.MustCompile(`(?s)\A.*?(<svg\b)`)
	svgXMLNS  = regexp.MustCompile(`\s+xmlns(:xlink)?="[^"]*"`)
)

// inlineSVG turns a standalone SVG document into an element for an HTML page: no XML
// declaration or comment before it, and no namespace declarations (HTML's parser puts <svg>
// in the SVG namespace by itself), so the page holds no URL at all.
func inlineSVG(svg []byte) string {
	s := svgProlog.ReplaceAll(svg, []byte("$1"))
	s = svgXMLNS.ReplaceAll(s, nil)
	return string(bytes.TrimSpace(s))
}

type htmlPage struct {
	Facts       []string
	Partial     string
	Conclusions []string
	Heads       []htmlCell
	Tables      []htmlTable
	Notes       []string
	Capacity    []string
	// CapacityIntro is the sentence above Capacity, the Markdown report's too.
	CapacityIntro string
	Skipped       []string
	Plots         []htmlPlot
}

type htmlTable struct {
	Workload string
	Rows     []htmlRow
}

type htmlRow struct {
	// Group marks the first row of another program.
	Group bool
	Cells []htmlCell
}

type htmlCell struct {
	Text string
	Num  bool
}

type htmlPlot struct {
	ID, Title string
	SVG       template.HTML
	Error     string
}

// htmlTemplate is the page. It is XHTML-clean (every element closed, no named entities beyond
// XML's) so it parses as XML too.
var htmlTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>cgibench results</title>
<style>
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; color: #222; margin: 2em auto; max-width: 70em; padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
ul.facts { list-style: none; padding: 0; color: #555; }
p.partial { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em 0.8em; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { padding: 0.25em 0.7em; text-align: left; white-space: nowrap; }
th { border-bottom: 2px solid #999; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.group td { border-top: 1px solid #ccc; }
figure { margin: 1.5em 0; }
figure svg { width: 100%; max-width: 60em; height: auto; }
figure svg text { font-family: "Liberation Sans", Arial, Helvetica, sans-serif !important; }
figcaption { color: #555; font-size: 0.9em; }
.error { color: #a00; }
</style>
</head>
<body>
<h1>cgibench results</h1>
{{- if .Facts}}
<ul class="facts">
{{- range .Facts}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- if .Partial}}
<p class="partial"><strong>Partial run: {{.Partial}}.</strong> Some planned cells are missing or incomplete.</p>
{{- end}}
{{- if .Conclusions}}
<h2>Conclusions</h2>
<ul>
{{- range .Conclusions}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- $heads := .Heads}}
{{- range .Tables}}
<h2>Workload {{.Workload}}</h2>
<table>
<thead><tr>{{range $heads}}<th{{if .Num}} class="num"{{end}}>{{.Text}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr{{if .Group}} class="group"{{end}}>{{range .Cells}}<td{{if .Num}} class="num"{{end}}>{{.Text}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>No cells measured.</p>
{{- end}}
{{- if .Notes}}
<h2>Notes</h2>
<ul>
{{- range .Notes}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- if .Capacity}}
<h2>Capacity</h2>
<p>{{.CapacityIntro}}</p>
<ul>
{{- range .Capacity}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- if .Skipped}}
<h2>Skipped</h2>
<ul>
{{- range .Skipped}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- if .Plots}}
<h2>Plots</h2>
{{- range .Plots}}
<figure id="{{.ID}}">
{{- if .Error}}
<p class="error">This plot could not be drawn: {{.Error}}</p>
{{- else}}
{{.SVG}}
{{- end}}
<figcaption>{{.Title}}</figcaption>
</figure>
{{- end}}
{{- end}}
</body>
</html>
`))
