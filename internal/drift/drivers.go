package drift

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/db"
)

// MaxDrivers bounds the codes of each kind an alert names.
const MaxDrivers = 5

// Driver is one code's part in a denial rate's change, by decision date
// like the alert's evidence. A code's share is its denials over all the
// group's claims decided in the window, so the shares of one kind add up to
// the denial rate and their changes add up to the alert's change: the
// codes listed first moved the rate most.
type Driver struct {
	Code string `json:"code"` // "" for denials without a reason code
	// Text is what the customer's claims most often say for a reason code
	// (their denial_reason_text); "" when none.
	Text           string  `json:"text,omitempty"`
	BaselineDenied int64   `json:"baseline_denied"`
	CurrentDenied  int64   `json:"current_denied"`
	BaselineShare  float64 `json:"baseline_share"`
	CurrentShare   float64 `json:"current_share"`
	Change         float64 `json:"change"`
	// For CPT codes, the code's own claims (its volume may have moved
	// instead of its denials).
	BaselineClaims int64 `json:"baseline_claims,omitempty"`
	CurrentClaims  int64 `json:"current_claims,omitempty"`
}

// Drivers says what moved a DENIAL_RATE alert: the denial reason codes and
// the CPT codes within the group whose share changed most in the alert's
// direction.
type Drivers struct {
	DenialReasons []Driver `json:"denial_reasons"`
	CPTCodes      []Driver `json:"cpt_codes"`
	// Late explains a DECISION_TIME alert (its denial lists are empty).
	Late *LateDrivers `json:"late,omitempty"`
}

// Explain breaks a group's denial rate change down by code, from its codes'
// counts in the decision-date windows. Each kind's codes come sorted by
// their change in the direction of the rate's change, largest first; codes
// that moved the other way or not at all are left out unless all is set.
func Explain(counts []claimstats.CodeCounts, all bool) Drivers {
	out := Drivers{DenialReasons: []Driver{}, CPTCodes: []Driver{}}
	for _, kind := range []string{claimstats.DriverReason, claimstats.DriverCPT} {
		var baseline, current int64 // the group's claims in each window
		for _, c := range counts {
			if c.Kind == kind {
				baseline += c.BaselineClaims
				current += c.CurrentClaims
			}
		}
		var ds []Driver
		var change float64
		for _, c := range counts {
			if c.Kind != kind {
				continue
			}
			d := Driver{Code: c.Code, BaselineDenied: c.BaselineDenied, CurrentDenied: c.CurrentDenied,
				BaselineShare: share(c.BaselineDenied, baseline), CurrentShare: share(c.CurrentDenied, current)}
			d.Change = d.CurrentShare - d.BaselineShare
			if kind == claimstats.DriverCPT {
				d.BaselineClaims, d.CurrentClaims = c.BaselineClaims, c.CurrentClaims
			}
			change += d.Change
			ds = append(ds, d)
		}
		sign := 1.0
		if change < 0 {
			sign = -1
		}
		slices.SortFunc(ds, func(a, b Driver) int {
			return cmp.Or(cmp.Compare(sign*b.Change, sign*a.Change), strings.Compare(a.Code, b.Code))
		})
		if !all {
			ds = slices.DeleteFunc(ds, func(d Driver) bool { return sign*d.Change <= 0 })
			ds = ds[:min(len(ds), MaxDrivers)]
		}
		if kind == claimstats.DriverReason {
			out.DenialReasons = append(out.DenialReasons, ds...)
		} else {
			out.CPTCodes = append(out.CPTCodes, ds...)
		}
	}
	return out
}

func share(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// explainAlerts attaches drivers to the run's DENIAL_RATE alerts, read from
// the statistics in the run's transaction, in one query for all of them.
func explainAlerts(ctx context.Context, q *db.Queries, customerID int64, w Windows, events []Event) error {
	var cells []claimstats.CellWindows
	for _, e := range events {
		if e.Alert && MetricOf(e.Type).Drivers {
			cells = append(cells, claimstats.CellWindows{Cell: claimstats.Cell{Payer: e.Payer, CPTGroup: e.CPTGroup},
				BaselineStart: e.Evidence.BaselineStart, BaselineEnd: e.Evidence.BaselineEnd, CurrentStart: e.Evidence.CurrentStart})
		}
	}
	counts, err := claimstats.Drivers(ctx, q, customerID, cells, w.CurrentEnd)
	if err != nil {
		return err
	}
	var codes []string
	for i := range events {
		if e := &events[i]; e.Alert && MetricOf(e.Type).Drivers {
			d := Explain(counts[claimstats.Cell{Payer: e.Payer, CPTGroup: e.CPTGroup}], false)
			e.Drivers = &d
			for _, r := range d.DenialReasons {
				if r.Code != "" {
					codes = append(codes, r.Code)
				}
			}
		}
	}
	if len(codes) == 0 {
		return nil
	}
	rows, err := q.ClaimReasonTexts(ctx, db.ClaimReasonTextsParams{CustomerID: customerID, Codes: codes})
	if err != nil {
		return fmt.Errorf("read the reason codes' texts: %w", err)
	}
	texts := map[string]string{}
	for _, r := range rows {
		texts[r.Code] = r.Text
	}
	for i := range events {
		if d := events[i].Drivers; d != nil {
			for j := range d.DenialReasons {
				d.DenialReasons[j].Text = texts[d.DenialReasons[j].Code]
			}
		}
	}
	return nil
}

func encodeDrivers(d *Drivers) ([]byte, error) {
	if d == nil {
		return nil, nil // NULL: not a DENIAL_RATE alert
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode drivers: %w", err)
	}
	return b, nil
}

func decodeDrivers(raw []byte) *Drivers {
	if raw == nil {
		return nil
	}
	var d Drivers
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil // written by encodeDrivers; unreadable means a newer shape
	}
	return &d
}

// DriverLabel names a code for people: the missing reason code too.
func DriverLabel(code string) string {
	if code == "" {
		return "(no reason code)"
	}
	return code
}

// FormatDriver says in one phrase how a code moved: "CO-50 2.1% → 9.8%
// (+7.7 pts, 12 → 41 denials)".
func FormatDriver(d Driver) string {
	label := DriverLabel(d.Code)
	if d.Text != "" {
		label += " (" + d.Text + ")"
	}
	return fmt.Sprintf("%s %.1f%% → %.1f%% (%+.1f pts, %d → %d denials)", label,
		d.BaselineShare*100, d.CurrentShare*100, roundPts(d.Change), d.BaselineDenied, d.CurrentDenied)
}

func roundPts(v float64) float64 { return math.Round(v*1000) / 10 }

// Summary names the top n codes of each kind in one line, for CSV cells
// and chat messages: "reason CO-50 +6.7 pts, reason CO-16 +0.4 pts; CPT
// 99214 +5.1 pts". Empty when there is nothing to name.
func (d *Drivers) Summary(n int) string {
	if d == nil {
		return ""
	}
	var parts []string
	if l := d.Late; l != nil {
		parts = append(parts, fmt.Sprintf("%.0f%% → %.0f%% of claims over %.0f days", 100*l.BaselineShare, 100*l.CurrentShare, l.ThresholdDays))
		var items []string
		for _, c := range l.CPTCodes[:min(n, len(l.CPTCodes))] {
			items = append(items, fmt.Sprintf("CPT %s %+.1f pts", DriverLabel(c.Code), roundPts(c.Change)))
		}
		for _, w := range l.SubmissionWeeks[:min(n, len(l.SubmissionWeeks))] {
			items = append(items, fmt.Sprintf("week of %s %.0f%% late", w.Week, 100*w.Share))
		}
		if len(items) > 0 {
			parts = append(parts, strings.Join(items, ", "))
		}
	}
	for _, kind := range []struct {
		label string
		ds    []Driver
	}{{"reason", d.DenialReasons}, {"CPT", d.CPTCodes}} {
		var items []string
		for _, x := range kind.ds[:min(n, len(kind.ds))] {
			items = append(items, fmt.Sprintf("%s %s %+.1f pts", kind.label, DriverLabel(x.Code), roundPts(x.Change)))
		}
		if len(items) > 0 {
			parts = append(parts, strings.Join(items, ", "))
		}
	}
	return strings.Join(parts, "; ")
}
