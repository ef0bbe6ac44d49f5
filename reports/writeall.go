package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cgibench/cgibench/bench"
)

// The files WriteAll writes, relative to its folder.
const (
	FileJSON     = "results.json"
	FileTable    = "table.txt"
	FileCSV      = "results.csv"
	FileMarkdown = "report.md"
	FileHTML     = "report.html"
	// DirPlots holds one PNG and one SVG per plot, named after Plot.Name.
	DirPlots = "plots"
)

// WriteAll writes the whole set of reports into dir, creating it if needed: results.json,
// table.txt, results.csv, report.md (linking the PNG plots), report.html (self-contained), and
// plots/NAME.png and plots/NAME.svg for every plot Plots chooses. Files of the same names are
// replaced, by a rename (writeFile), and PNG and SVG files in plots/ that this set does not
// have (an earlier run's in the same folder) are removed, so that the folder shows one run;
// nothing else is touched. Each file is rendered in memory first, so a report that fails
// leaves no half-written file (report.html is still written when a plot in it fails, with a
// note in its place); the others are still written and every failure is returned, joined.
func WriteAll(dir string, r *bench.Results) error {
	if r == nil {
		return errNilResults
	}
	plots := Plots(r)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if len(plots) > 0 {
		if err := os.MkdirAll(filepath.Join(dir, DirPlots), 0o755); err != nil {
			return fmt.Errorf("reports: %w", err)
		}
	}
	var errs []error
	write := func(name string, render func(w io.Writer) error) bool {
		var buf bytes.Buffer
		err := render(&buf)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		// The renderers write nothing, or a whole document (report.html with a plot replaced
		// by a note), so a non-empty buffer is worth keeping.
		if buf.Len() == 0 {
			return false
		}
		if err := writeFile(filepath.Join(dir, name), buf.Bytes()); err != nil {
			errs = append(errs, err)
			return false
		}
		return err == nil
	}

	write(FileJSON, func(w io.Writer) error { return WriteJSON(w, r) })
	write(FileTable, func(w io.Writer) error { return WriteTable(w, r) })
	write(FileCSV, func(w io.Writer) error { return WriteCSV(w, r) })
	var links []PlotLink
	for _, p := range plots {
		png := filepath.ToSlash(filepath.Join(DirPlots, p.Name+"."+FormatPNG))
		if write(png, func(w io.Writer) error { return p.Render(w, FormatPNG) }) {
			links = append(links, PlotLink{Title: p.Title, Path: png})
		}
		svg := filepath.ToSlash(filepath.Join(DirPlots, p.Name+"."+FormatSVG))
		write(svg, func(w io.Writer) error { return p.Render(w, FormatSVG) })
	}
	errs = append(errs, removeStalePlots(filepath.Join(dir, DirPlots), plots))
	write(FileMarkdown, func(w io.Writer) error { return WriteMarkdown(w, r, links) })
	write(FileHTML, func(w io.Writer) error { return WriteHTML(w, r) })
	return errors.Join(errs...)
}

// removeStalePlots removes the PNG and SVG files in dir that are not plots of this set.
func removeStalePlots(dir string, plots []Plot) error {
	keep := make(map[string]bool, 2*len(plots))
	for _, p := range plots {
		keep[p.Name+"."+FormatPNG], keep[p.Name+"."+FormatSVG] = true, true
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	var errs []error
	for _, e := range entries {
		ext := strings.TrimPrefix(filepath.Ext(e.Name()), ".")
		if e.Type().IsRegular() && (ext == FormatPNG || ext == FormatSVG) && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("reports: removing an earlier run's plot: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// SaveJSON writes r to path as results.json, atomically (see writeFile): a run saves its
// results with it after every cell.
func SaveJSON(path string, r *bench.Results) error {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}

// writeFile replaces path with data atomically: it writes a temporary file in the same folder
// and renames it over path, so that an interrupted write leaves the old file or the new one,
// never part of either. That matters for results.json, which WriteAll may be rewriting in the
// folder it was read from.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing left to remove
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("reports: writing %s: %w", path, err)
	}
	return nil
}
