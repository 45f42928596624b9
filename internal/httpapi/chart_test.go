package httpapi

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/trends"
)

// svgShape is what the geometry test reads back from a drawn chart.
type svgShape struct {
	class          string
	x1, y1, x2, y2 float64
	y              float64 // text
	points         [][2]float64
}

// readSVG parses the drawn chart's lines, texts, polyline and circles.
func readSVG(t *testing.T, doc []byte) []svgShape {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var out []svgShape
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed SVG: %v\n%s", err, doc)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attr := map[string]string{}
		for _, a := range el.Attr {
			attr[a.Name.Local] = a.Value
		}
		num := func(k string) float64 {
			v, err := strconv.ParseFloat(attr[k], 64)
			if err != nil {
				t.Fatalf("<%s %s=%q>: %v", el.Name.Local, k, attr[k], err)
			}
			return v
		}
		s := svgShape{class: el.Name.Local + "." + attr["class"]}
		switch el.Name.Local {
		case "line":
			s.x1, s.y1, s.x2, s.y2 = num("x1"), num("y1"), num("x2"), num("y2")
		case "text":
			s.y = num("y")
		case "circle":
			s.points = [][2]float64{{num("cx"), num("cy")}}
		case "polyline":
			for _, p := range strings.Fields(attr["points"]) {
				xy := strings.Split(p, ",")
				x, _ := strconv.ParseFloat(xy[0], 64)
				y, _ := strconv.ParseFloat(xy[1], 64)
				s.points = append(s.points, [2]float64{x, y})
			}
		default:
			continue
		}
		out = append(out, s)
	}
}

// The trend chart's data, axes and labels share one coordinate system:
// the axes bound every point, the top label sits level with the largest
// value and the bottom one with 0, each week's point is where its value
// says, and the alert dots sit on the line. (Data was drawn from y=20
// while the axis and its top label sat at y=40.)
func TestTrendChartGeometry(t *testing.T) {
	median := func(v float64) *float64 { return &v }
	s := &trends.Series{Payer: "Aetna", CPTGroup: "E&M"}
	rates := []float64{0.10, 0.25, 0.40, 0.30, 0.05}
	for i, r := range rates {
		w := trends.Week{Start: "2026-10-0" + strconv.Itoa(i+1), Volume: 100, DenialRate: r, RateLow: r * 0.8, RateHigh: r * 1.2,
			MedianDays: median(10 + 5*float64(i))}
		if i == 2 {
			w.Alerts = []drift.Type{drift.TypeDenialRate, drift.TypeDecisionTime}
		}
		s.Weeks = append(s.Weeks, w)
	}
	for ci, c := range trendCharts(s) {
		var buf bytes.Buffer
		if err := pageTemplates.ExecuteTemplate(&buf, "trendchart", c); err != nil {
			t.Fatal(err)
		}
		shapes := readSVG(t, buf.Bytes())
		find := func(class string) svgShape {
			for _, sh := range shapes {
				if sh.class == class {
					return sh
				}
			}
			t.Fatalf("chart %d: no %s in\n%s", ci, class, buf.String())
			return svgShape{}
		}
		yAxis, xAxis, top, bottom, line := find("line.y-axis"), find("line.x-axis"), find("text.top"), find("text.bottom"), find("polyline.series")
		if yAxis.x1 != yAxis.x2 || xAxis.y1 != xAxis.y2 || yAxis.y2 != xAxis.y1 || yAxis.x1 != xAxis.x1 || yAxis.y1 >= yAxis.y2 {
			t.Fatalf("chart %d: axes do not meet at the origin: y %+v, x %+v", ci, yAxis, xAxis)
		}
		if top.y != yAxis.y1 || bottom.y != yAxis.y2 {
			t.Fatalf("chart %d: labels at y=%v and %v, want the axis ends %v and %v", ci, top.y, bottom.y, yAxis.y1, yAxis.y2)
		}
		// The values each week, and the largest the chart must hold (the
		// interval's top for denial rates).
		values, largest := make([]float64, len(s.Weeks)), 0.0
		for i, w := range s.Weeks {
			values[i], largest = w.DenialRate, math.Max(largest, w.RateHigh)
			if ci == 1 {
				values[i] = *w.MedianDays
				largest = math.Max(largest, values[i])
			}
		}
		if len(line.points) != len(values) {
			t.Fatalf("chart %d: %d points for %d weeks", ci, len(line.points), len(values))
		}
		for i, p := range line.points {
			wantX := xAxis.x1 + (xAxis.x2-xAxis.x1)*float64(i)/float64(len(values)-1)
			wantY := yAxis.y2 - (yAxis.y2-yAxis.y1)*values[i]/largest
			if math.Abs(p[0]-wantX) > 0.051 || math.Abs(p[1]-wantY) > 0.051 {
				t.Fatalf("chart %d week %d: point %v, want (%.2f, %.2f) on the axes' scale", ci, i, p, wantX, wantY)
			}
		}
		var dots int
		for _, sh := range shapes {
			if sh.class == "circle.alert-week" {
				dots++
				if sh.points[0] != line.points[2] {
					t.Fatalf("chart %d: alert dot at %v, want on week 2's point %v", ci, sh.points[0], line.points[2])
				}
			}
		}
		if dots != 1 {
			t.Fatalf("chart %d: %d alert dots, want 1", ci, dots)
		}
	}
}
