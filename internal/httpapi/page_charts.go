package httpapi

import (
	"fmt"
	"math"
	"slices"
	"strings"

	alertsdomain "github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/trends"
)

// chart is an inline SVG comparing baseline and current for one event.
type chart struct {
	BaselineWidth, CurrentWidth float64
	BaselineLabel, CurrentLabel string
}

const chartBarMax = 160.0

// chartFor draws baseline against current on a scale shared by every row
// of the same metric, so rows can be compared.
func chartFor(t drift.Type, baseline, current, scale float64) chart {
	c := chart{}
	if scale > 0 {
		c.BaselineWidth = math.Max(1, chartBarMax*math.Abs(baseline)/scale)
		c.CurrentWidth = math.Max(1, chartBarMax*math.Abs(current)/scale)
	}
	c.BaselineLabel, c.CurrentLabel = drift.FormatValue(t, baseline), drift.FormatValue(t, current)
	return c
}

// eventRow is an event as the page shows it: alerts with the values their
// evidence compared (claims decided in each window), other events with the
// seed rule's.
type eventRow struct {
	drift.EventView
	Chart                     chart
	Baseline, Current, Change string
	BaselineSize, CurrentSize int
	Worse                     bool // more denials or slower decisions
	// Subject is the alert's lifecycle (alerts only).
	Subject *alertsdomain.SubjectView
}

// shown returns the values a row shows: for alerts, those the evidence
// compared.
func shown(e drift.EventView) (baseline, current float64, baselineSize, currentSize int) {
	if e.Alert {
		return e.Compared()
	}
	return e.BaselineValue, e.CurrentValue, e.BaselineSampleSize, e.CurrentSampleSize
}

// newEventRow draws an event with scales[its drift type] as the full bar.
func newEventRow(e drift.EventView, scales map[drift.Type]float64) eventRow {
	b, c, nb, nc := shown(e)
	return eventRow{EventView: e, Chart: chartFor(e.DriftType, b, c, scales[e.DriftType]),
		Baseline: drift.FormatValue(e.DriftType, b), Current: drift.FormatValue(e.DriftType, c), Change: drift.FormatDelta(e.DriftType, c-b),
		BaselineSize: nb, CurrentSize: nc, Worse: c > b}
}

// trendChart is one inline SVG line chart of a weekly series, with its axes
// labelled and the weeks that raised alerts marked. Every coordinate the
// template draws comes from here: the plot box [Left, Right] x [PlotTop,
// PlotBottom] holds the axes, and a value v is drawn at PlotBottom -
// (PlotBottom - PlotTop) * v / top, so the top label sits level with the
// largest value (TestTrendChartGeometry reads the SVG back).
type trendChart struct {
	Title                string
	Top, Bottom          string // y-axis labels: the largest value and 0
	First, Last          string // x-axis labels
	Line, Band           string // SVG points
	Alerts               []chartPoint
	Width, Height        float64
	Left, Right          float64 // the plot's x range
	PlotTop, PlotBottom  float64 // the plot's y range (SVG y grows down)
	LabelBelow, LastLeft float64 // where the x labels go
}

type chartPoint struct{ X, Y float64 }

func trendCharts(s *trends.Series) []trendChart {
	const width, height, left, right, plotTop, plotBottom = 560.0, 140.0, 56.0, 540.0, 12.0, 116.0
	n := len(s.Weeks)
	x := func(i int) float64 { return left + (right-left)*float64(i)/float64(max(n-1, 1)) }
	build := func(title string, value func(trends.Week) (v, lo, hi float64, ok bool), format func(float64) string, band bool, alertType drift.Type) trendChart {
		c := trendChart{Title: title, First: s.Weeks[0].Start, Last: s.Weeks[n-1].Start, Width: width, Height: height,
			Left: left, Right: right, PlotTop: plotTop, PlotBottom: plotBottom, LabelBelow: plotBottom + 16, LastLeft: right - 60}
		top := 0.0
		for _, w := range s.Weeks {
			if v, _, hi, ok := value(w); ok {
				top = math.Max(top, math.Max(v, hi))
			}
		}
		if top == 0 {
			top = 1
		}
		y := func(v float64) float64 { return plotBottom - (plotBottom-plotTop)*v/top }
		c.Top, c.Bottom = format(top), format(0)
		var upper, lower []string
		for i, w := range s.Weeks {
			v, lo, hi, ok := value(w)
			if !ok {
				continue
			}
			pt := chartPoint{math.Round(x(i)*10) / 10, math.Round(y(v)*10) / 10}
			c.Line += fmt.Sprintf("%.1f,%.1f ", pt.X, pt.Y)
			if band {
				upper = append(upper, fmt.Sprintf("%.1f,%.1f", x(i), y(hi)))
				lower = append([]string{fmt.Sprintf("%.1f,%.1f", x(i), y(lo))}, lower...)
			}
			if slices.Contains(w.Alerts, alertType) {
				c.Alerts = append(c.Alerts, pt)
			}
		}
		c.Band = strings.Join(append(upper, lower...), " ")
		return c
	}
	rate := build("Denial rate (claims decided each week), 95% interval shaded", func(w trends.Week) (float64, float64, float64, bool) {
		return w.DenialRate, w.RateLow, w.RateHigh, w.Volume > 0
	}, func(v float64) string { return drift.FormatValue(drift.TypeDenialRate, v) }, true, drift.TypeDenialRate)
	days := build("Median days to decision", func(w trends.Week) (float64, float64, float64, bool) {
		if w.MedianDays == nil {
			return 0, 0, 0, false
		}
		return *w.MedianDays, 0, 0, true
	}, func(v float64) string { return drift.FormatValue(drift.TypeDecisionTime, v) }, false, drift.TypeDecisionTime)
	return []trendChart{rate, days}
}

// Bounds of the page's grid of cells: the busiest cells first.
const (
	gridMaxCells  = 600
	gridMaxPayers = 40
	gridMaxGroups = 16
)

// cellGrid is every (payer x CPT group) with its claims decided in a window
// and their denial rate, each a link to its trend: payers are rows, CPT
// groups columns, the busiest first.
type cellGrid struct {
	Start, End string // the window, end exclusive
	Groups     []string
	Rows       []gridRow
	Hidden     int  // cells beyond the grid's bounds
	More       bool // and more than gridMaxCells cells in all
}

type gridRow struct {
	Payer string
	Cells []*gridCell // per group; nil where the payer has no such cell
}

type gridCell struct {
	Payer, CPTGroup string
	Claims          int64
	Rate            string // "" without claims in the window
}

// newCellGrid lays out cells (the busiest first, as many as
// gridMaxCells + 1 to know there are more) within the grid's bounds.
func newCellGrid(cells []db.ClaimStatsCellTotalsRow, start, end string) cellGrid {
	g := cellGrid{Start: start, End: end, More: len(cells) > gridMaxCells}
	cells = cells[:min(len(cells), gridMaxCells)]
	payerRow, groupCol := map[string]int{}, map[string]int{}
	type placed struct {
		row, col int
		cell     *gridCell
	}
	var kept []placed
	for _, c := range cells {
		row, okRow := payerRow[c.Payer]
		col, okCol := groupCol[c.CPTGroup]
		if (!okRow && len(payerRow) >= gridMaxPayers) || (!okCol && len(groupCol) >= gridMaxGroups) {
			g.Hidden++
			continue
		}
		if !okRow {
			row = len(payerRow)
			payerRow[c.Payer] = row
			g.Rows = append(g.Rows, gridRow{Payer: c.Payer})
		}
		if !okCol {
			col = len(groupCol)
			groupCol[c.CPTGroup] = col
			g.Groups = append(g.Groups, c.CPTGroup)
		}
		cell := &gridCell{Payer: c.Payer, CPTGroup: c.CPTGroup, Claims: c.Claims}
		if c.Claims > 0 {
			cell.Rate = drift.FormatValue(drift.TypeDenialRate, float64(c.Denied)/float64(c.Claims))
		}
		kept = append(kept, placed{row, col, cell})
	}
	for i := range g.Rows {
		g.Rows[i].Cells = make([]*gridCell, len(g.Groups))
	}
	for _, p := range kept {
		g.Rows[p.row].Cells[p.col] = p.cell
	}
	return g
}
