package drift

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/db"
)

// LateQuantile is the baseline quantile of days to decision past which a
// claim counts as late in a DECISION_TIME alert's "why".
const LateQuantile = 0.75

// LateDrivers says what moved a DECISION_TIME alert: how many more claims
// took longer than the baseline's 75th percentile of days to decision, by
// CPT code and by submission week, by decision date like the evidence.
type LateDrivers struct {
	ThresholdDays  float64 `json:"threshold_days"` // the baseline's 75th percentile
	BaselineClaims int64   `json:"baseline_claims"`
	CurrentClaims  int64   `json:"current_claims"`
	BaselineShare  float64 `json:"baseline_share"` // of the window's claims decided later than the threshold
	CurrentShare   float64 `json:"current_share"`
	// CPTCodes: each code's late claims over all the window's claims, so
	// the codes' changes add up to the late share's: the first listed
	// moved it most.
	CPTCodes []LateCode `json:"cpt_codes"`
	// SubmissionWeeks: the current window's claims by the week (Monday)
	// they were submitted, the weeks with the most late claims beyond the
	// baseline's share first.
	SubmissionWeeks []LateWeek `json:"submission_weeks"`
}

// LateCode is one CPT code's part in the late share's change.
type LateCode struct {
	Code           string  `json:"code"`
	BaselineClaims int64   `json:"baseline_claims"`
	CurrentClaims  int64   `json:"current_claims"`
	BaselineLate   int64   `json:"baseline_late"`
	CurrentLate    int64   `json:"current_late"`
	BaselineShare  float64 `json:"baseline_share"` // late claims of the code over the window's claims
	CurrentShare   float64 `json:"current_share"`
	Change         float64 `json:"change"`
}

// LateWeek is the current window's claims submitted in one week.
type LateWeek struct {
	Week   string  `json:"week"` // its Monday
	Claims int64   `json:"claims"`
	Late   int64   `json:"late"`
	Share  float64 `json:"share"`
	// Excess is the late claims beyond the baseline's share of them.
	Excess float64 `json:"excess"`
}

// explainSlowdowns attaches LateDrivers and dollars delayed to the run's
// DECISION_TIME alerts:
// the threshold from the compared baseline, the shares and codes from the
// claims (one query per alert), the weeks from the current window's
// statistics: two sources that count the same claims.
func explainSlowdowns(ctx context.Context, q *db.Queries, customerID int64, w Windows, events []Event) error {
	for i := range events {
		e := &events[i]
		if !e.Alert || e.Type != TypeDecisionTime || e.Evidence == nil {
			continue
		}
		ev := e.Evidence
		d := &LateDrivers{ThresholdDays: float64(ev.baselineDays.Quantile(LateQuantile)), CPTCodes: []LateCode{}, SubmissionWeeks: []LateWeek{}}
		rows, err := q.ClaimLateByCPTOfCell(ctx, db.ClaimLateByCPTOfCellParams{CustomerID: customerID, Payer: e.Payer, CPTGroup: e.CPTGroup,
			Threshold: d.ThresholdDays, Median: ev.baselineDays.Median(), BaselineStart: ev.BaselineStart, BaselineEnd: ev.BaselineEnd, CurrentStart: ev.CurrentStart, CurrentEnd: w.CurrentEnd})
		if err != nil {
			return fmt.Errorf("read the late claims of %s / %s by CPT: %w", e.Payer, e.CPTGroup, err)
		}
		// The shares count every claim of the windows, as the codes do
		// (the evidence of a late-starting cell compares fewer ages).
		var bLate, cLate, amountClaims, delayedCents int64
		for _, r := range rows {
			if r.Current {
				d.CurrentClaims, cLate = d.CurrentClaims+r.Claims, cLate+r.Late
				amountClaims, delayedCents = amountClaims+r.AmountClaims, delayedCents+r.DelayedCents
			} else {
				d.BaselineClaims, bLate = d.BaselineClaims+r.Claims, bLate+r.Late
			}
		}
		d.BaselineShare, d.CurrentShare = share(bLate, d.BaselineClaims), share(cLate, d.CurrentClaims)
		d.CPTCodes = lateCodes(rows)
		if amountClaims > 0 { // the dollars delayed: amounts of the current claims later than the baseline's median
			e.Dollars = &Dollars{AtStake: float64(delayedCents) / 100}
		}

		days, err := q.ClaimStatsListCellDays(ctx, db.ClaimStatsListCellDaysParams{CustomerID: customerID, Start: ev.CurrentStart, EndDate: w.CurrentEnd,
			Payer: e.Payer, CPTGroup: e.CPTGroup})
		if err != nil {
			return fmt.Errorf("read the statistics of %s / %s: %w", e.Payer, e.CPTGroup, err)
		}
		d.SubmissionWeeks = lateWeeks(days, d.ThresholdDays, d.BaselineShare)
		if e.Drivers == nil {
			e.Drivers = &Drivers{DenialReasons: []Driver{}, CPTCodes: []Driver{}}
		}
		e.Drivers.Late = d
	}
	return nil
}

// lateCodes turns per-code counts into each code's part in the late
// share's change, the largest in the change's direction first, at most
// MaxDrivers of them that moved that way.
func lateCodes(rows []db.ClaimLateByCPTOfCellRow) []LateCode {
	byCode := map[string]*LateCode{}
	var baseline, current int64
	for _, r := range rows {
		c := byCode[r.CPT]
		if c == nil {
			c = &LateCode{Code: r.CPT}
			byCode[r.CPT] = c
		}
		if r.Current {
			c.CurrentClaims, c.CurrentLate = r.Claims, r.Late
			current += r.Claims
		} else {
			c.BaselineClaims, c.BaselineLate = r.Claims, r.Late
			baseline += r.Claims
		}
	}
	out := []LateCode{}
	var change float64
	for _, c := range byCode {
		c.BaselineShare, c.CurrentShare = share(c.BaselineLate, baseline), share(c.CurrentLate, current)
		c.Change = c.CurrentShare - c.BaselineShare
		change += c.Change
		out = append(out, *c)
	}
	sign := 1.0
	if change < 0 {
		sign = -1
	}
	slices.SortFunc(out, func(a, b LateCode) int {
		return cmp.Or(cmp.Compare(sign*b.Change, sign*a.Change), strings.Compare(a.Code, b.Code))
	})
	out = slices.DeleteFunc(out, func(c LateCode) bool { return sign*c.Change <= 0 })
	return out[:min(len(out), MaxDrivers)]
}

// lateWeeks groups the current window's decided claims by submission week
// (decision day minus days to decision), the weeks with the most late
// claims beyond baselineShare first, at most MaxDrivers with an excess.
func lateWeeks(days []db.ClaimStatsListCellDaysRow, threshold, baselineShare float64) []LateWeek {
	byWeek := map[time.Time]*LateWeek{}
	for _, r := range days {
		for _, b := range claimstats.HistogramOf(r.DecidedDays) {
			submitted := r.Day.AddDate(0, 0, -int(b.Days))
			monday := submitted.AddDate(0, 0, -((int(submitted.Weekday()) + 6) % 7))
			wk := byWeek[monday]
			if wk == nil {
				wk = &LateWeek{Week: monday.Format(time.DateOnly)}
				byWeek[monday] = wk
			}
			wk.Claims += b.Claims
			if float64(b.Days) > threshold {
				wk.Late += b.Claims
			}
		}
	}
	out := []LateWeek{}
	for _, wk := range byWeek {
		wk.Share = share(wk.Late, wk.Claims)
		wk.Excess = float64(wk.Late) - baselineShare*float64(wk.Claims)
		if wk.Excess > 0 {
			out = append(out, *wk)
		}
	}
	slices.SortFunc(out, func(a, b LateWeek) int {
		return cmp.Or(cmp.Compare(b.Excess, a.Excess), strings.Compare(a.Week, b.Week))
	})
	return out[:min(len(out), MaxDrivers)]
}

// FormatLateCode is a code's line in a slowdown's "why".
func FormatLateCode(c LateCode) string {
	return fmt.Sprintf("%s %.1f%% → %.1f%% (%+.1f pts, %d → %d late claims)", DriverLabel(c.Code),
		c.BaselineShare*100, c.CurrentShare*100, roundPts(c.Change), c.BaselineLate, c.CurrentLate)
}

// FormatLateWeek is a submission week's line in a slowdown's "why".
func FormatLateWeek(w LateWeek) string {
	return fmt.Sprintf("submitted the week of %s: %d of %d claims late (%.0f%%)", w.Week, w.Late, w.Claims, 100*w.Share)
}
