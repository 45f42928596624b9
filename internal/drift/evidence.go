package drift

import (
	"math"
	"sort"
	"time"

	"github.com/upstream-rcm/upstream/internal/claimstats"
)

// The statistics behind an alert, implemented from their published
// definitions and checked in evidence_test.go against independent
// references (exact rational arithmetic, brute force over raw values,
// worked examples from the papers).

// zFor95 is the standard normal quantile for a two-sided 95% interval.
const zFor95 = 1.959963984540054

// normalTwoSided is P(|Z| >= |z|) for a standard normal Z.
func normalTwoSided(z float64) float64 { return math.Erfc(math.Abs(z) / math.Sqrt2) }

// FisherExact is the two-sided p-value of Fisher's exact test on the 2x2
// table [[a, b], [c, d]] (rows: windows; columns: denied, not denied): the
// total probability, under the hypergeometric distribution with the table's
// margins, of every table no more probable than the observed one. As in R's
// fisher.test, probabilities within a relative 1e-7 of the observed one
// count as equal, so rounding cannot drop the observed table's twins.
//
// The probabilities are walked outward from the mode by their ratio
// recurrence, and a walk stops once its terms are negligible, so a test
// costs a few standard deviations of the distribution, not its support.
func FisherExact(a, b, c, d int) float64 {
	row1, col1, n := a+b, a+c, a+b+c+d
	if n == 0 {
		return 1
	}
	lo, hi := max(0, col1-(n-row1)), min(row1, col1)
	logP := func(x int) float64 { // log P(X = x), X hypergeometric
		return logChoose(row1, x) + logChoose(n-row1, col1-x) - logChoose(n, col1)
	}
	mode := min(hi, max(lo, int(float64(row1+1)*float64(col1+1)/float64(n+2))))
	logMode := logP(mode)
	observed := math.Exp(logP(a) - logMode) // relative to the mode's probability
	limit := observed * (1 + 1e-7)
	// ratio(x) = P(x+1) / P(x).
	ratio := func(x int) float64 {
		return float64(row1-x) * float64(col1-x) / (float64(x+1) * float64(n-row1-col1+x+1))
	}
	sum := 0.0
	if 1 <= limit {
		sum = 1
	}
	const negligible = 1e-20
	for x, r := mode, 1.0; x < hi; x++ {
		r *= ratio(x)
		if r <= limit {
			sum += r
		}
		if r < negligible && x+1 > a {
			break
		}
	}
	for x, r := mode, 1.0; x > lo; x-- {
		r /= ratio(x - 1)
		if r <= limit {
			sum += r
		}
		if r < negligible && x-1 < a {
			break
		}
	}
	return math.Min(sum*math.Exp(logMode), 1)
}

func logChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// Wilson is the Wilson score interval for a proportion of x in n at
// normal quantile z (Wilson 1927); [0, 1] when n is 0.
func Wilson(x, n int, z float64) (low, high float64) {
	if n == 0 {
		return 0, 1
	}
	nf, p := float64(n), float64(x)/float64(n)
	denom := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / denom
	half := z / denom * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}

// NewcombeDifference is the 95% interval for p1 - p2, with p1 = x1/n1 and
// p2 = x2/n2, by Newcombe's hybrid score method (method 10 of Newcombe
// 1998), which combines the two Wilson intervals and keeps its coverage at
// small counts and at zero events.
func NewcombeDifference(x1, n1, x2, n2 int) (low, high float64) {
	p1, p2 := ratio(x1, n1), ratio(x2, n2)
	l1, u1 := Wilson(x1, n1, zFor95)
	l2, u2 := Wilson(x2, n2, zFor95)
	d := p1 - p2
	return d - math.Sqrt((p1-l1)*(p1-l1)+(u2-p2)*(u2-p2)), d + math.Sqrt((u1-p1)*(u1-p1)+(p2-l2)*(p2-l2))
}

func ratio(x, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(x) / float64(n)
}

// RankTest is a Mann–Whitney comparison of two samples of days to
// decision.
type RankTest struct {
	// U counts the pairs (current, baseline) where the current value is
	// larger, ties counting one half.
	U float64
	// Z is the normal approximation's statistic, with the tie-corrected
	// variance and a continuity correction of 1/2 towards zero.
	Z float64
	// P is the two-sided p-value.
	P float64
	// ShiftLow and ShiftHigh bound the 95% interval of the location shift
	// (current minus baseline, in days) by Moses' method: order statistics
	// of the pairwise differences at the test's critical value. Bounded is
	// false when the samples are too small for a 95% interval.
	ShiftLow, ShiftHigh float64
	Bounded             bool
}

// MannWhitney compares current against baseline from their histograms
// (Mann & Whitney 1947, with the tie correction of the variance), and
// bounds the shift between them (Moses; Hollander & Wolfe). Both
// histograms must be sorted by days, as claimstats returns them.
func MannWhitney(baseline, current claimstats.Histogram) RankTest {
	r := MannWhitneyShifted(baseline, current, 0)
	res := RankTest{U: r.U, P: 1}
	if r.SD == 0 { // no claims, or every value equal: no evidence of a shift
		return res
	}
	diff := r.U - r.Mean
	res.Z = math.Copysign(math.Max(math.Abs(diff)-0.5, 0), diff) / r.SD
	res.P = normalTwoSided(res.Z)

	n1, n2 := float64(current.Total()), float64(baseline.Total())
	k := math.Floor(r.Mean - zFor95*r.SD) // the k-th smallest difference bounds below
	if k >= 1 {
		res.ShiftLow, res.ShiftHigh, res.Bounded = pairwiseDifferenceAt(baseline, current, int64(k), int64(n1*n2-k+1))
	}
	return res
}

// pairwiseDifferenceAt returns the lo-th and hi-th smallest of the
// differences current - baseline over every pair of claims (1-based),
// found by binary search over whole days: counting the pairs with a
// difference at most d takes one merge of the two histograms.
func pairwiseDifferenceAt(baseline, current claimstats.Histogram, lo, hi int64) (float64, float64, bool) {
	if len(baseline) == 0 || len(current) == 0 || hi > current.Total()*baseline.Total() {
		return 0, 0, false
	}
	// atMost counts pairs with current - baseline <= d: for each current
	// value v, the baseline values >= v - d, a threshold that only rises.
	atMost := func(d int64) int64 {
		var count, atLeast int64 = 0, baseline.Total()
		j := 0
		for _, c := range current {
			for j < len(baseline) && int64(baseline[j].Days) < int64(c.Days)-d {
				atLeast -= baseline[j].Claims
				j++
			}
			count += c.Claims * atLeast
		}
		return count
	}
	kth := func(k int64) int64 { // the smallest d with atMost(d) >= k
		low := int64(current[0].Days) - int64(baseline[len(baseline)-1].Days)
		high := int64(current[len(current)-1].Days) - int64(baseline[0].Days)
		for low < high {
			mid := low + (high-low)/2
			if atMost(mid) >= k {
				high = mid
			} else {
				low = mid + 1
			}
		}
		return low
	}
	return float64(kth(lo)), float64(kth(hi)), true
}

// BenjaminiHochberg returns the q-values of p-values (Benjamini & Hochberg
// 1995): q_(i) = min over j >= i of m p_(j) / j, capped at 1, in the order
// of the input. Rejecting every test with q <= α controls the false
// discovery rate at α.
func BenjaminiHochberg(p []float64) []float64 {
	m := len(p)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return p[order[a]] < p[order[b]] })
	q := make([]float64, m)
	running := 1.0
	for rank := m; rank >= 1; rank-- {
		i := order[rank-1]
		running = math.Min(running, p[i]*float64(m)/float64(rank))
		q[i] = running
	}
	return q
}

// Methods: how a metric is compared. Both compare the claims decided in
// each window, which export censoring does not bias (see README), against
// an interval null: "the change is at most the margin".
const (
	// MethodDenialRate: Farrington–Manning score tests at plus and minus
	// the margin, with the quasi-binomial dispersion of the cell's weeks,
	// and never below Fisher's exact test of no change.
	MethodDenialRate = "score_test_margin_by_decision_week"
	// MethodDecisionTime: Mann–Whitney tests of the days shifted by plus
	// and minus the margin, with the Kruskal–Wallis dispersion of the
	// cell's weeks.
	MethodDecisionTime = "rank_test_margin_by_decision_week"
	// The tests alerts used before the interval null, kept for the
	// detection benchmark's comparison (RulePointNull).
	MethodDenialRatePointNull   = "fisher_exact_by_decision_date"
	MethodDecisionTimePointNull = "mann_whitney_by_decision_date"
)

// Evidence is the test of one (payer, CPT group) and metric, on the claims
// decided in each window.
type Evidence struct {
	Type   Type
	Method string
	// BaselineValue and CurrentValue are the compared windows' denial
	// rates or median days to decision, of BaselineSize and CurrentSize
	// claims.
	BaselineValue, CurrentValue float64
	BaselineSize, CurrentSize   int
	// BaselineStart and BaselineEnd bound the compared baseline, and
	// CurrentStart the current window (it ends with the run's), by
	// decision date.
	BaselineStart, BaselineEnd, CurrentStart time.Time
	// Windows is how many current windows (SpanWeeks) were tested for
	// this cell and metric; this one is the one with the smallest p-value
	// among those that cross the seed thresholds, else the run's.
	Windows int
	// P is the p-value against "the change is at most Margin" (both
	// directions), times Windows (Bonferroni; at most 1); Q its
	// Benjamini–Hochberg q-value over the run's tests, where a change that
	// does not cross the seed thresholds counts as p = 1 (it cannot be an
	// alert).
	P, Q float64
	// Margin is the change the null allows: half the seed rule's
	// threshold at the baseline value.
	Margin float64
	// Dispersion is the cell's weekly variation beyond independent claims.
	Dispersion Dispersion
	// DeltaLow and DeltaHigh bound the 95% interval of the change (current
	// minus baseline): in proportion for denial rates (Newcombe), in days
	// of shift for decision times (Moses), widened by the square root of
	// the dispersion when it exceeds 1. HasInterval is false when the
	// samples are too small for one.
	DeltaLow, DeltaHigh float64
	HasInterval         bool
	// The compared baseline's days to decision (DECISION_TIME), for the
	// thresholds of its "why" and dollars; the current window's amounts
	// (DENIAL_RATE), for its dollars.
	baselineDays   claimstats.Histogram
	currentAmounts claimstats.Amounts
}

// Crossed reports whether the compared values cross the seed rule's
// thresholds.
func (e *Evidence) Crossed() bool {
	return MetricOf(e.Type).Drifted(e.BaselineValue, e.CurrentValue)
}
