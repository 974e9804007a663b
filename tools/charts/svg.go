package main

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// svgStyle is shared by every chart, so the markup below carries only
// geometry and colour.
const svgStyle = `
text { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; fill: #222; }
.title { font-size: 18px; font-weight: 600; }
.subtitle { font-size: 13px; fill: #555; }
.tick { font-size: 12px; fill: #444; }
.axis-label { font-size: 13px; }
.legend { font-size: 13px; }
.point-label { font-size: 11px; }
.note { font-size: 11px; fill: #666; }
.grid { stroke: #e6e6e6; stroke-width: 1; }
.axis { stroke: #333; stroke-width: 1; }
`

// svgDoc writes an SVG document as text. The charts need a handful of
// elements only, which the standard library's fmt and xml escaping cover:
// no plotting dependency for two static images.
type svgDoc struct {
	b strings.Builder
}

// newSVG starts a w×h document with an accessible title and a white
// background (so the chart reads on dark-themed pages too).
func newSVG(w, h int, title string) *svgDoc {
	s := &svgDoc{}
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`+"\n", w, h, w, h, escape(title))
	fmt.Fprintf(&s.b, "<title>%s</title>\n<style>%s</style>\n", escape(title), svgStyle)
	fmt.Fprintf(&s.b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", w, h)
	return s
}

// line draws a segment styled by a CSS class.
func (s *svgDoc) line(x1, y1, x2, y2 float64, class string) {
	fmt.Fprintf(&s.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="%s"/>`+"\n", x1, y1, x2, y2, class)
}

// polyline joins points with a stroke of the given colour and dash pattern
// ("" for solid).
func (s *svgDoc) polyline(pts []xy, stroke, dash string) {
	coords := make([]string, len(pts))
	for i, p := range pts {
		coords[i] = fmt.Sprintf("%.1f,%.1f", p.x, p.y)
	}
	fmt.Fprintf(&s.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"`, strings.Join(coords, " "), stroke)
	if dash != "" {
		fmt.Fprintf(&s.b, ` stroke-dasharray="%s"`, dash)
	}
	s.b.WriteString("/>\n")
}

// marker draws a data point: a filled circle with a white rim, so that
// points on top of lines stay visible.
func (s *svgDoc) marker(x, y float64, fill string) {
	fmt.Fprintf(&s.b, `<circle cx="%.1f" cy="%.1f" r="4.5" fill="%s" stroke="#fff" stroke-width="1.5"/>`+"\n", x, y, fill)
}

// text writes escaped text; anchor is "start", "middle" or "end", fill ""
// keeps the class's colour.
func (s *svgDoc) text(x, y float64, anchor, class, fill, txt string) {
	fmt.Fprintf(&s.b, `<text x="%.1f" y="%.1f" text-anchor="%s" class="%s"`, x, y, anchor, class)
	if fill != "" {
		fmt.Fprintf(&s.b, ` fill="%s"`, fill)
	}
	fmt.Fprintf(&s.b, ">%s</text>\n", escape(txt))
}

// verticalText writes text turned a quarter left, for the y axis label.
func (s *svgDoc) verticalText(x, y float64, class, txt string) {
	fmt.Fprintf(&s.b, `<text transform="translate(%.1f,%.1f) rotate(-90)" text-anchor="middle" class="%s">%s</text>`+"\n", x, y, class, escape(txt))
}

// String ends the document and returns it.
func (s *svgDoc) String() string {
	return s.b.String() + "</svg>\n"
}

// escape makes s safe as XML text or attribute value.
func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}
