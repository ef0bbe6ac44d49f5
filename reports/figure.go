package reports

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The plot formats.
const (
	FormatPNG = "png"
	FormatSVG = "svg"
)

// ErrFormat is returned (wrapped) for a plot format other than FormatPNG and FormatSVG.
var ErrFormat = errors.New("unsupported plot format")

// ErrNoData is returned (wrapped) by a plot function given nothing it can draw.
var ErrNoData = errors.New("nothing to plot")

// pngDPI is the resolution of PNG plots: a figure 8 in wide is 1200 px, sharp on a high-density
// screen and still small (about 100 KB).
const pngDPI = 150

// sans is the typeface of every plot. gonum's default is a serif face, harder to read small.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// Font sizes, in points, on a figure about 8 in wide.
const (
	titleSize  = 13
	labelSize  = 11
	tickSize   = 9.5
	legendSize = 9.5
)

func textStyle(size vg.Length) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    font.From(sans, size),
		Handler: plot.DefaultTextHandler,
	}
}

// strategyColors gives the strategies of the reference set a fixed colour in every plot.
var strategyColors = map[string]color.RGBA{
	"cgi":       {0xd6, 0x27, 0x28, 0xff}, // red: the costly one
	"fastcgi":   {0x1f, 0x77, 0xb4, 0xff}, // blue
	"embedded":  {0x2c, 0xa0, 0x2c, 0xff}, // green
	"inprocess": {0x94, 0x67, 0xbd, 0xff}, // purple: the upper bound
}

// otherColors are for strategies outside the reference set, picked by a hash of the name so a
// strategy keeps its colour from one plot to the next.
var otherColors = []color.RGBA{
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x8c, 0x56, 0x4b, 0xff}, // brown
	{0xe3, 0x77, 0xc2, 0xff}, // pink
	{0x17, 0xbe, 0xcf, 0xff}, // cyan
	{0xbc, 0xbd, 0x22, 0xff}, // olive
	{0x7f, 0x7f, 0x7f, 0xff}, // grey
}

// StrategyColor is the colour a strategy has in every plot.
func StrategyColor(strategy string) color.Color {
	if c, ok := strategyColors[strategy]; ok {
		return c
	}
	h := fnv.New32a()
	h.Write([]byte(strategy))
	return otherColors[h.Sum32()%uint32(len(otherColors))]
}

// Line dashes and point shapes tell apart the series of one strategy (its programs); the
// colour tells apart the strategies.
var (
	dashes = [][]vg.Length{
		nil,
		{vg.Points(7), vg.Points(3)},
		{vg.Points(2), vg.Points(2)},
		{vg.Points(9), vg.Points(3), vg.Points(2), vg.Points(3)},
		{vg.Points(4), vg.Points(4)},
		{vg.Points(12), vg.Points(4)},
	}
	glyphs = []draw.GlyphDrawer{
		draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{},
		draw.RingGlyph{}, draw.PyramidGlyph{}, draw.PlusGlyph{}, draw.BoxGlyph{},
	}
)

// seriesStyle is how one series is drawn: colour from its strategy, dash and glyph from its
// variant (the program, and whatever else sets it apart from the strategy's other series).
func seriesStyle(strategy string, variant int) (draw.LineStyle, draw.GlyphStyle) {
	c := StrategyColor(strategy)
	line := draw.LineStyle{Color: c, Width: vg.Points(1.6), Dashes: dashes[variant%len(dashes)]}
	glyph := draw.GlyphStyle{Color: c, Radius: vg.Points(3), Shape: glyphs[variant%len(glyphs)]}
	return line, glyph
}

// legendEntry is one line of a figure's legend.
type legendEntry struct {
	label  string
	thumbs []plot.Thumbnailer
}

// figure is what a plot function draws: a title, one or more panels, and one legend for all of
// them, drawn to the right of the panels so it never hides data.
type figure struct {
	title  string
	panels []*plot.Plot
	// stacked puts the panels one above the other (they share their x axis); otherwise they sit
	// side by side.
	stacked bool
	legend  []legendEntry
	// width and height of the whole figure; zero means 8 in × 4.5 in.
	width, height vg.Length
}

// newPanel returns a plot with the package's fonts, a light grid, and axis labels.
func newPanel(xLabel, yLabel string) *plot.Plot {
	p := styledPanel(xLabel, yLabel)
	p.Add(lightGrid(true))
	return p
}

// lightGrid is a grid of thin light lines, horizontal ones only unless vertical is true.
func lightGrid(vertical bool) *plotter.Grid {
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xdd}
	grid.Horizontal.Color = color.Gray{Y: 0xdd}
	grid.Vertical.Width = vg.Points(0.5)
	grid.Horizontal.Width = vg.Points(0.5)
	if !vertical {
		grid.Vertical.Color = nil
	}
	return grid
}

// styledPanel returns a plot with the package's fonts and axis labels.
func styledPanel(xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, labelSize)
		a.Tick.Label.Font = font.From(sans, tickSize)
		a.Padding = vg.Points(2)
	}
	p.X.Label.Padding = vg.Points(3)
	p.Y.Label.Padding = vg.Points(3)
	return p
}

// write draws the figure in format and writes it to w. A panic inside the plotting library
// (it panics on some bad input) becomes an error.
func (f *figure) write(w io.Writer, format string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reports: drawing plot %q: %v", f.title, r)
		}
	}()
	width, height := f.width, f.height
	if width == 0 {
		width = 8 * vg.Inch
	}
	if height == 0 {
		height = 4.5 * vg.Inch
	}
	var canvas vg.CanvasWriterTo
	switch format {
	case FormatPNG:
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(
			vgimg.UseWH(width, height), vgimg.UseDPI(pngDPI), vgimg.UseBackgroundColor(color.White))}
	case FormatSVG:
		canvas = vgsvg.New(width, height)
	default:
		return fmt.Errorf("reports: plot format %q: %w: use %q or %q", format, ErrFormat, FormatPNG, FormatSVG)
	}
	c := draw.New(canvas)
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())

	margin := vg.Points(8)
	area := draw.Crop(c, margin, -margin, margin, -margin)
	if f.title != "" {
		sty := textStyle(titleSize)
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		area.FillText(sty, vg.Point{X: area.Center().X, Y: area.Max.Y}, f.title)
		area.Max.Y -= sty.Height(f.title) + vg.Points(6)
	}
	if len(f.legend) > 0 {
		legends := f.layoutLegend(area.Max.Y - area.Min.Y)
		var total vg.Length
		widths := make([]vg.Length, len(legends))
		for i := range legends {
			widths[i] = legends[i].Rectangle(area).Max.X - legends[i].Rectangle(area).Min.X
			total += widths[i] + vg.Points(10)
		}
		x := area.Max.X - total + vg.Points(10)
		for i := range legends {
			strip := area
			strip.Min.X = x
			strip.Max.X = x + widths[i]
			strip.Max.Y -= vg.Points(4)
			legends[i].Draw(strip)
			x += widths[i] + vg.Points(10)
		}
		area.Max.X -= total + vg.Points(4)
	}
	gap := vg.Points(12)
	n := vg.Length(len(f.panels))
	tiles := make([]draw.Canvas, len(f.panels))
	for i := range f.panels {
		tile := area
		if f.stacked {
			h := (area.Max.Y - area.Min.Y - gap*(n-1)) / n
			tile.Max.Y = area.Max.Y - vg.Length(i)*(h+gap)
			tile.Min.Y = tile.Max.Y - h
		} else {
			wd := (area.Max.X - area.Min.X - gap*(n-1)) / n
			tile.Min.X = area.Min.X + vg.Length(i)*(wd+gap)
			tile.Max.X = tile.Min.X + wd
		}
		tiles[i] = tile
	}
	alignPanels(tiles, f.panels, f.stacked)
	for i, p := range f.panels {
		drawPanel(tiles[i], p)
	}

	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return fmt.Errorf("reports: encoding plot %q: %w", f.title, err)
	}
	out := buf.Bytes()
	if format == FormatSVG {
		out = svgFontFallback(out)
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("reports: writing plot %q: %w", f.title, err)
	}
	return nil
}

// alignPanels shrinks the tiles so the panels' data areas line up: their left and right edges
// when stacked (tick labels of different widths would shift them), their top and bottom edges
// side by side.
func alignPanels(tiles []draw.Canvas, panels []*plot.Plot, stacked bool) {
	if len(panels) < 2 {
		return
	}
	data := make([]vg.Rectangle, len(panels))
	for i, p := range panels {
		data[i] = dataArea(tiles[i], p).Rectangle
	}
	// Insets of each data area inside its tile, and the largest of each.
	var lo, hi vg.Length
	inset := func(i int) (vg.Length, vg.Length) {
		if stacked {
			return data[i].Min.X - tiles[i].Min.X, tiles[i].Max.X - data[i].Max.X
		}
		return data[i].Min.Y - tiles[i].Min.Y, tiles[i].Max.Y - data[i].Max.Y
	}
	for i := range panels {
		l, h := inset(i)
		lo, hi = max(lo, l), max(hi, h)
	}
	for i := range panels {
		l, h := inset(i)
		if stacked {
			tiles[i] = draw.Crop(tiles[i], lo-l, -(hi - h), 0, 0)
		} else {
			tiles[i] = draw.Crop(tiles[i], 0, 0, lo-l, -(hi - h))
		}
	}
}

// dataArea is where drawPanel would draw p's data in c.
func dataArea(c draw.Canvas, p *plot.Plot) draw.Canvas {
	label := p.Y.Label.Text
	if label == "" {
		return p.DataCanvas(c)
	}
	p.Y.Label.Text = ""
	defer func() { p.Y.Label.Text = label }()
	return p.DataCanvas(draw.Crop(c, yLabelWidth(p, label), 0, 0, 0))
}

func yLabelWidth(p *plot.Plot, label string) vg.Length {
	return p.Y.Label.TextStyle.Height(label) + p.Y.Label.Padding
}

// drawPanel draws p into c with its y-axis label centred on the data area. gonum centres the
// label's glyph box on the linear midpoint of the axis range even on a log scale, which pads
// the panel's top by up to half the label's length and misaligns panels side by side; drawing
// the label here avoids it.
func drawPanel(c draw.Canvas, p *plot.Plot) {
	label := p.Y.Label.Text
	if label == "" {
		p.Draw(c)
		return
	}
	p.Y.Label.Text = ""
	defer func() { p.Y.Label.Text = label }()
	sty := p.Y.Label.TextStyle
	sty.Rotation += math.Pi / 2
	h := sty.Height(label)
	descent := sty.FontExtents().Descent
	inner := draw.Crop(c, yLabelWidth(p, label), 0, 0, 0)
	data := p.DataCanvas(inner)
	c.FillText(sty, vg.Point{X: c.Min.X + h - descent, Y: data.Center().Y}, label)
	p.Draw(inner)
}

// layoutLegend splits the legend into as few columns as fit in height.
func (f *figure) layoutLegend(height vg.Length) []plot.Legend {
	build := func(entries []legendEntry) plot.Legend {
		l := plot.NewLegend()
		l.TextStyle = textStyle(legendSize)
		l.Top, l.Left = true, true
		l.Padding = vg.Points(3)
		l.ThumbnailWidth = vg.Points(24)
		for _, e := range entries {
			l.Add(e.label, e.thumbs...)
		}
		return l
	}
	probe := build(f.legend[:1])
	one := probe.Rectangle(draw.Canvas{}).Max.Y - probe.Rectangle(draw.Canvas{}).Min.Y
	perColumn := max(1, int((height+probe.Padding)/(one+probe.Padding)))
	var legends []plot.Legend
	for start := 0; start < len(f.legend); start += perColumn {
		legends = append(legends, build(f.legend[start:min(start+perColumn, len(f.legend))]))
	}
	return legends
}

// svgFontFallback names fonts a browser has after the Liberation face the SVG asks for, so text
// without it still renders in a sans-serif of the same width (Arial is metric-compatible).
func svgFontFallback(svg []byte) []byte {
	return bytes.ReplaceAll(svg, []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
}

// logTicks marks a log axis: 1-2-5 steps over up to three decades, powers of ten and the two
// ends beyond, with unlabelled minor ticks between.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	steps := []float64{1, 2, 5}
	if hi/lo > 1000 {
		steps = []float64{1}
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		dec := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := dec * float64(m)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			label := ""
			for _, s := range steps {
				if float64(m) == s {
					label = formatTick(v)
				}
			}
			// niceLog puts the ends of the axis on 1-2-5 values: label an end too when it is
			// far enough from the nearest labelled decade not to crowd it (a top end of 500
			// but not 200 above 100; a bottom end of 0.002 but not 0.005 below 0.01).
			if (math.Abs(v/hi-1) < 1e-9 && m >= 5) || (math.Abs(v/lo-1) < 1e-9 && m <= 2) {
				label = formatTick(v)
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	return ticks
}

// linearTicks is gonum's default ticker with shorter labels for large numbers.
type linearTicks struct{}

func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return nil
	}
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	labelled := 0
	for _, t := range ticks {
		if t.Label != "" {
			labelled++
		}
	}
	// gonum labels as few as two ticks (0 and 2500 over 0..2700): then label the minor ones too.
	for i := range ticks {
		if ticks[i].Label != "" || labelled < 3 {
			ticks[i].Label = formatTick(ticks[i].Value)
		}
	}
	return ticks
}

// formatTick writes a tick value without exponent, with k and M for thousands and millions.
func formatTick(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	s := strconv.FormatFloat(v, 'f', 6, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// niceLog returns the 1-2-5 value at or below lo and the one at or above hi, so both ends of a
// log axis over up to three decades carry a label.
func niceLog(lo, hi float64) (float64, float64) {
	down := func(v float64) float64 {
		d := math.Pow(10, math.Floor(math.Log10(v)))
		for _, m := range []float64{5, 2, 1} {
			if m*d <= v*(1+1e-9) {
				return m * d
			}
		}
		return d
	}
	up := func(v float64) float64 {
		d := math.Pow(10, math.Floor(math.Log10(v)))
		for _, m := range []float64{1, 2, 5, 10} {
			if m*d >= v*(1-1e-9) {
				return m * d
			}
		}
		return 10 * d
	}
	// Over more than three decades logTicks labels only powers of ten, which are inside the
	// range; 1-2-5 ends waste less space than the decades around them.
	return down(lo), up(hi)
}

// setValueAxis scales a value axis over [lo, hi]: logarithmic when the values span more than
// a factor of logSpan (one strategy's figures would flatten the others'), else linear from 0.
// It returns the label suffix that says which.
func setValueAxis(a *plot.Axis, lo, hi float64) string {
	const logSpan = 20
	if lo > 0 && hi/lo > logSpan {
		a.Scale = plot.LogScale{}
		a.Tick.Marker = logTicks{}
		a.Min, a.Max = niceLog(lo, hi)
		return ", log scale"
	}
	a.Scale = plot.LinearScale{}
	a.Tick.Marker = linearTicks{}
	a.Min = 0
	a.Max = hi * 1.08
	if !(a.Max > 0) {
		a.Max = 1
	}
	return ""
}

// setCountAxis scales an axis of counts such as concurrency or work=N: logarithmic when they
// span a factor of 8 or more, with a labelled tick at each value measured when there are few.
func setCountAxis(a *plot.Axis, values []float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo > 0 && hi/lo >= 8 {
		a.Scale = plot.LogScale{}
		a.Min, a.Max = lo/1.25, hi*1.25
		if len(values) <= 12 {
			ticks := make(plot.ConstantTicks, len(values))
			for i, v := range values {
				ticks[i] = plot.Tick{Value: v, Label: formatTick(v)}
			}
			a.Tick.Marker = ticks
		} else {
			a.Tick.Marker = logTicks{}
		}
		return
	}
	pad := (hi - lo) * 0.05
	if pad == 0 {
		pad = math.Max(math.Abs(lo)*0.1, 1)
	}
	a.Scale = plot.LinearScale{}
	a.Min, a.Max = lo-pad, hi+pad
	if lo >= 0 && a.Min < 0 {
		a.Min = 0
	}
	if len(values) <= 12 {
		ticks := make(plot.ConstantTicks, len(values))
		for i, v := range values {
			ticks[i] = plot.Tick{Value: v, Label: formatTick(v)}
		}
		a.Tick.Marker = ticks
	} else {
		a.Tick.Marker = linearTicks{}
	}
}
