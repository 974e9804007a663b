package main

import (
	"fmt"
	"io"
	"math"
)

// Canvas and plot-area geometry, in pixels: room above for the title,
// subtitle and legend, left for the y ticks and label, below for the x ticks,
// label and a note.
const (
	chartWidth  = 820
	chartHeight = 560
	plotLeft    = 92
	plotRight   = chartWidth - 36
	plotTop     = 104
	plotBottom  = chartHeight - 100
)

// xy is a point in pixels.
type xy struct{ x, y float64 }

// chart is a line chart with labelled points: all that the docs' charts need.
type chart struct {
	title, subtitle string
	x, y            axis
	series          []series
	notes           []string // lines under the x axis label: method, units, data
}

// axis maps data values to the plot area, linearly or on a log10 scale.
type axis struct {
	label    string
	min, max float64
	log      bool
	ticks    []tick
}

// tick is a labelled grid line.
type tick struct {
	v     float64
	label string
}

// series is one line of points, drawn in one colour and dash pattern.
type series struct {
	name   string
	color  string
	dash   string // SVG stroke-dasharray, "" for solid
	labels labelSide
	points []point
}

// point is a data point with an optional label drawn beside it.
type point struct {
	x, y  float64
	label string
}

// labelSide is where a series writes its point labels, chosen per chart so
// that labels of neighbouring series do not collide.
type labelSide int

const (
	labelRight labelSide = iota
	labelLeft
	labelAbove
	labelBelow
)

// otherColors colour series that have no style of their own, in order.
var otherColors = []string{"#CC79A7", "#56B4E9", "#F0E442", "#000000"}

// seriesFor finds the series for key in *ss, adding it if new (styled from
// styles, or named key in a spare colour), so series keep the data's order.
func seriesFor(ss *[]series, key string, styles map[string]series) int {
	style, ok := styles[key]
	if !ok {
		style = series{name: key, color: otherColors[len(*ss)%len(otherColors)]}
	}
	for i, s := range *ss {
		if s.name == style.name {
			return i
		}
	}
	*ss = append(*ss, style)
	return len(*ss) - 1
}

// frac places v on the axis: 0 at min, 1 at max.
func (a axis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.min)) / (math.Log10(a.max) - math.Log10(a.min))
	}
	return (v - a.min) / (a.max - a.min)
}

// px is a data point's position on the canvas.
func (c chart) px(x, y float64) xy {
	return xy{
		x: plotLeft + c.x.frac(x)*(plotRight-plotLeft),
		y: plotBottom - c.y.frac(y)*(plotBottom-plotTop),
	}
}

// validate refuses what would draw nonsense: an empty or inverted axis, a
// log axis reaching zero, a point outside the axes.
func (c chart) validate() error {
	for _, a := range []axis{c.x, c.y} {
		if !(a.max > a.min) || a.log && a.min <= 0 {
			return fmt.Errorf("axis %q: bad range [%g, %g]", a.label, a.min, a.max)
		}
	}
	for _, s := range c.series {
		for _, p := range s.points {
			if p.x < c.x.min || p.x > c.x.max || p.y < c.y.min || p.y > c.y.max {
				return fmt.Errorf("series %q: point (%g, %g) is outside the axes", s.name, p.x, p.y)
			}
		}
	}
	return nil
}

// render writes the chart as a standalone SVG document.
func (c chart) render(w io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	s := newSVG(chartWidth, chartHeight, c.title)
	c.drawHeader(s)
	c.drawXAxis(s)
	c.drawYAxis(s)
	for _, se := range c.series {
		c.drawSeries(s, se)
	}
	c.drawLegend(s)
	_, err := io.WriteString(w, s.String())
	return err
}

// drawHeader writes the title and subtitle.
func (c chart) drawHeader(s *svgDoc) {
	s.text(plotLeft, 30, "start", "title", "", c.title)
	s.text(plotLeft, 52, "start", "subtitle", "", c.subtitle)
}

// drawXAxis draws vertical grid lines, tick labels, the axis line, its label
// and the notes.
func (c chart) drawXAxis(s *svgDoc) {
	for _, t := range c.x.ticks {
		p := c.px(t.v, c.y.min)
		s.line(p.x, plotTop, p.x, plotBottom, "grid")
		s.line(p.x, plotBottom, p.x, plotBottom+5, "axis")
		s.text(p.x, plotBottom+20, "middle", "tick", "", t.label)
	}
	s.line(plotLeft, plotBottom, plotRight, plotBottom, "axis")
	s.text((plotLeft+plotRight)/2, plotBottom+44, "middle", "axis-label", "", c.x.label)
	for i, n := range c.notes {
		s.text(plotLeft, plotBottom+68+15*float64(i), "start", "note", "", n)
	}
}

// drawYAxis draws horizontal grid lines, tick labels, the axis line and its
// label.
func (c chart) drawYAxis(s *svgDoc) {
	for _, t := range c.y.ticks {
		p := c.px(c.x.min, t.v)
		s.line(plotLeft, p.y, plotRight, p.y, "grid")
		s.line(plotLeft-5, p.y, plotLeft, p.y, "axis")
		s.text(plotLeft-9, p.y+4, "end", "tick", "", t.label)
	}
	s.line(plotLeft, plotTop, plotLeft, plotBottom, "axis")
	s.verticalText(24, (plotTop+plotBottom)/2, "axis-label", c.y.label)
}

// drawSeries draws a series' line, then its markers and labels on top.
func (c chart) drawSeries(s *svgDoc, se series) {
	pts := make([]xy, len(se.points))
	for i, p := range se.points {
		pts[i] = c.px(p.x, p.y)
	}
	if len(pts) > 1 {
		s.polyline(pts, se.color, se.dash)
	}
	for i, p := range pts {
		s.marker(p.x, p.y, se.color)
		if lbl := se.points[i].label; lbl != "" {
			x, y, anchor := labelPos(p, se.labels)
			s.text(x, y, anchor, "point-label", se.color, lbl)
		}
	}
}

// labelPos is where a point's label goes for a side.
func labelPos(p xy, side labelSide) (x, y float64, anchor string) {
	switch side {
	case labelLeft:
		return p.x - 9, p.y + 4, "end"
	case labelAbove:
		return p.x, p.y - 10, "middle"
	case labelBelow:
		return p.x, p.y + 19, "middle"
	}
	return p.x + 9, p.y + 4, "start"
}

// drawLegend writes one swatch and name per series in a row above the plot.
func (c chart) drawLegend(s *svgDoc) {
	x := float64(plotLeft)
	const y = 80
	for _, se := range c.series {
		s.polyline([]xy{{x, y - 4}, {x + 28, y - 4}}, se.color, se.dash)
		s.marker(x+14, y-4, se.color)
		s.text(x+36, y, "start", "legend", "", se.name)
		x += 36 + legendTextWidth(se.name) + 24
	}
}

// legendTextWidth estimates the width of legend text at 13 px, enough to
// space the entries (SVG has no text measurement without a renderer).
func legendTextWidth(s string) float64 {
	return 6.6 * float64(len([]rune(s)))
}
