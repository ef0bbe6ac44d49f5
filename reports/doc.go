// Package reports turns a run's results (a *bench.Results, the content of results.json) into
// things people read: a text table, Markdown, CSV, one self-contained HTML page, plain-language
// conclusions, and plots.
//
// What flows in is always data: a *bench.Results, or for the measurements results.json does not
// hold yet, small input types of this package (IntervalPoint for a per-interval time series,
// StartupBreakdown for the cost of starting a CGI program). What flows out is always bytes on an
// io.Writer. No function here creates a file, except WriteAll, which writes the whole set into
// one folder, and SaveJSON, which writes results.json; both replace a file by a rename, never
// in place.
//
//   - ReadJSON, WriteJSON: results.json in and out; ReadJSON refuses a schema newer than
//     bench.SchemaVersion rather than misreading it.
//   - WriteTable: the aligned text table `cgibench run` prints.
//   - WriteMarkdown, WriteCSV, WriteHTML: the same figures for a README, a spreadsheet, a browser.
//   - Conclusions, StartupConclusions: sentences stating only what the figures support.
//   - Plots: which plots the data supports, each a Render(w, format) func; the Plot* functions
//     draw one plot from cells (or from IntervalPoint / StartupBreakdown) in PNG or SVG.
//
// Cells are shown in one order everywhere: by workload, then program, then concurrency, then
// strategy (cgi, fastcgi, embedded, inprocess, then others by name), so that one program under
// every strategy sits together. A strategy has the same colour in every plot.
package reports
