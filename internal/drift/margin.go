package drift

import (
	"math"
	"sort"
	"sync"

	"github.com/upstream-rcm/upstream/internal/claimstats"
)

// Tests of an interval null, "the change is at most m", and the
// dispersion of a cell's history, implemented from their published
// definitions and checked in margin_test.go against independent references
// (the constrained likelihood maximized numerically, brute force over raw
// values, R's worked examples).

// RateDifferenceScore is Farrington & Manning's (1990) score statistic for
// H0: p1 - p2 = delta, where p1 = x1/n1 and p2 = x2/n2: the observed
// difference minus delta over its standard error at the maximum-likelihood
// estimates restricted to the null (the closed form of Miettinen &
// Nurminen 1985, without their n/(n-1) factor). It is positive when the
// observed difference exceeds delta. delta must lie in (-1, 1).
func RateDifferenceScore(x1, n1, x2, n2 int, delta float64) float64 {
	if n1 == 0 || n2 == 0 {
		return 0
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	r1, r2 := restrictedRates(x1, n1, x2, n2, delta)
	variance := r1*(1-r1)/float64(n1) + r2*(1-r2)/float64(n2)
	diff := p1 - p2 - delta
	switch {
	case variance > 0:
		return diff / math.Sqrt(variance)
	case diff == 0:
		return 0
	}
	return math.Copysign(math.Inf(1), diff)
}

// restrictedRates maximizes the two binomial likelihoods subject to
// r1 - r2 = delta: the root of a cubic, solved in trigonometric form.
func restrictedRates(x1, n1, x2, n2 int, delta float64) (r1, r2 float64) {
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	if delta == 0 {
		pooled := float64(x1+x2) / float64(n1+n2)
		return pooled, pooled
	}
	theta := float64(n2) / float64(n1)
	a := 1 + theta
	b := -(1 + theta + p1 + theta*p2 + delta*(theta+2))
	c := delta*delta + delta*(2*p1+theta+1) + p1 + theta*p2
	d := -p1 * delta * (1 + delta)
	v := b*b*b/(27*a*a*a) - b*c/(6*a*a) + d/(2*a)
	u := math.Sqrt(math.Max(0, b*b/(9*a*a)-c/(3*a)))
	if v < 0 {
		u = -u
	}
	cosArg := 1.0
	if u != 0 {
		cosArg = math.Max(-1, math.Min(1, v/(u*u*u)))
	}
	w := (math.Pi + math.Acos(cosArg)) / 3
	r1 = 2*u*math.Cos(w) - b/(3*a)
	// Rounding can leave the root a hair outside the parameter space.
	r1 = math.Max(math.Max(0, delta), math.Min(math.Min(1, 1+delta), r1))
	return r1, r1 - delta
}

// RankShift is the Mann–Whitney comparison of current against baseline
// shifted by shift days (each current value minus shift), in its normal
// approximation: U counts the pairs where the shifted current value is
// larger, ties one half; Mean and SD are U's under the null that the
// shifted samples share one distribution, with the tie-corrected variance.
type RankShift struct {
	U, Mean, SD float64
}

// MannWhitneyShifted compares current - shift with baseline. Both
// histograms must be sorted by days.
func MannWhitneyShifted(baseline, current claimstats.Histogram, shift float64) RankShift {
	n1, n2 := float64(current.Total()), float64(baseline.Total())
	if n1 == 0 || n2 == 0 {
		return RankShift{}
	}
	// Merge the two sorted samples: baseline values b and shifted current
	// values c - shift. Each distinct value adds its ties' term, and each
	// current value beats the baseline values below it.
	var u, tieTerm, below float64
	i, j := 0, 0
	for i < len(current) || j < len(baseline) {
		var v float64
		switch {
		case i == len(current):
			v = float64(baseline[j].Days)
		case j == len(baseline):
			v = float64(current[i].Days) - shift
		default:
			v = math.Min(float64(current[i].Days)-shift, float64(baseline[j].Days))
		}
		var nc, nb float64
		if i < len(current) && float64(current[i].Days)-shift == v {
			nc = float64(current[i].Claims)
			i++
		}
		if j < len(baseline) && float64(baseline[j].Days) == v {
			nb = float64(baseline[j].Claims)
			j++
		}
		u += nc * (below + nb/2)
		below += nb
		t := nc + nb
		tieTerm += t*t*t - t
	}
	n := n1 + n2
	variance := n1 * n2 / 12 * ((n + 1) - tieTerm/(n*(n-1)))
	return RankShift{U: u, Mean: n1 * n2 / 2, SD: math.Sqrt(math.Max(variance, 0))}
}

// upperZ is the statistic against "the shift is at most shift": large when
// the current values exceed the shifted baseline, with a continuity
// correction of 1/2.
func (r RankShift) upperZ() float64 { return continuityZ(r.U-r.Mean-0.5, r.SD) }

// lowerZ is the statistic against "the shift is at least shift".
func (r RankShift) lowerZ() float64 { return continuityZ(r.U-r.Mean+0.5, r.SD) }

func continuityZ(diff, sd float64) float64 {
	if sd > 0 {
		return diff / sd
	}
	return 0 // every value tied: no evidence either way
}

// Block is one week of a cell's history: its claims, denials and days to
// decision.
type Block = WindowStats

// Dispersion says how much a cell's weekly statistics vary beyond what
// independent claims would: the variance ratio Phi (1 for binomial denials
// or exchangeable days to decision) estimated from DF pairs of weeks.
type Dispersion struct {
	Phi float64
	DF  int
}

// pairedDispersion compares the weeks in pairs, the latest two, the two
// before, and so on, with stat, a statistic of homogeneity on one degree
// of freedom (about chi-squared on 1 when the weeks' claims are
// exchangeable). Comparing adjacent weeks only, a lasting change shows in
// the one pair it falls in, while batch releases, weekly denial batches
// and holidays show in every pair they touch; and the largest pair is
// left out, so that a change that began just before the current window
// does not hide itself by inflating the dispersion. The mean of the other
// pairs, divided by its expectation for chi-squared pairs
// (trimmedChiSquaredMean), estimates the dispersion for any scale. Pairs
// stat cannot compare (an empty week, no variation) do not count.
func pairedDispersion(weeks []Block, stat PairStat) Dispersion {
	return pairsDispersion(len(weeks), func(i int) (float64, bool) { return stat(weeks[i], weeks[i+1]) })
}

// pairsDispersion is pairedDispersion over n weeks whose pair starting at
// week i has statistic stat(i): computations that share weeks (the spans
// of a cell) share pairs.
func pairsDispersion(n int, stat func(i int) (float64, bool)) Dispersion {
	var pairs []float64
	for i := 0; i+1 < n; i += 2 {
		if s, ok := stat(i); ok {
			pairs = append(pairs, s)
		}
	}
	return trimmedDispersion(pairs)
}

// PairStat is a statistic of homogeneity of two weeks on one degree of
// freedom; false when it cannot compare them.
type PairStat func(a, b Block) (float64, bool)

// trimmedDispersion is pairedDispersion's estimate from the statistics of
// the pairs it could compare.
func trimmedDispersion(pairs []float64) Dispersion {
	n := len(pairs)
	if n < 3 {
		var sum float64
		for _, s := range pairs {
			sum += s
		}
		if n == 0 {
			return Dispersion{}
		}
		return Dispersion{Phi: sum / float64(n), DF: n}
	}
	var sum, largest float64
	for _, s := range pairs {
		sum += s
		largest = math.Max(largest, s)
	}
	return Dispersion{Phi: (sum - largest) / float64(n-1) / trimmedChiSquaredMean(n), DF: n - 1}
}

// trimmedChiSquaredMean is the expected mean of the n-1 smallest of n
// independent chi-squared variables on 1 degree of freedom: (n - E[max]) /
// (n - 1), with E[max] = the integral over x > 0 of 1 - F(x)^n, F(x) =
// erf(sqrt(x/2)), by Simpson's rule (checked against simulation in the
// tests). Every run needs it for the same few n, so it is computed once
// per n (n is at most half the weeks of a history, so the cache is small).
func trimmedChiSquaredMean(n int) float64 {
	if v, ok := trimmedMeans.Load(n); ok {
		return v.(float64)
	}
	v := integrateTrimmedMean(n)
	trimmedMeans.Store(n, v)
	return v
}

var trimmedMeans sync.Map // n -> trimmedChiSquaredMean(n)

func integrateTrimmedMean(n int) float64 {
	const upper, steps = 200.0, 20000
	h := upper / steps
	f := func(x float64) float64 { return 1 - math.Pow(math.Erf(math.Sqrt(x/2)), float64(n)) }
	sum := f(0) + f(upper)
	for i := 1; i < steps; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(float64(i)*h)
	}
	return (float64(n) - sum*h/3) / float64(n-1)
}

// DenialDispersion is the quasi-binomial dispersion (McCullagh & Nelder
// 1989, section 4.5) of the cell's weeks, paired: the mean of Pearson's
// chi-squared of each pair of adjacent weeks' denials.
func DenialDispersion(weeks []Block) Dispersion { return pairedDispersion(weeks, denialPair) }

func denialPair(a, b Block) (float64, bool) {
	x2, df := PearsonHomogeneity([]Block{a, b})
	return x2, df == 1
}

// PearsonHomogeneity is Pearson's chi-squared statistic of homogeneity of
// the weeks' denial rates (the weeks x (denied, paid) table) and its
// degrees of freedom; 0 degrees of freedom when fewer than two weeks have
// claims or every claim has one outcome.
func PearsonHomogeneity(weeks []Block) (x2 float64, df int) {
	var n, d float64
	k := 0
	for _, w := range weeks {
		if w.Volume > 0 {
			n += float64(w.Volume)
			d += float64(w.Denied)
			k++
		}
	}
	p := d / n
	if k < 2 || p == 0 || p == 1 {
		return 0, 0
	}
	for _, w := range weeks {
		if w.Volume > 0 {
			e := float64(w.Volume) * p
			x2 += (float64(w.Denied) - e) * (float64(w.Denied) - e) / (e * (1 - p))
		}
	}
	return x2, k - 1
}

// KruskalWallis is the tie-corrected Kruskal–Wallis statistic H of the
// samples (Kruskal & Wallis 1952) and its degrees of freedom: the number
// of non-empty samples minus one. Under exchangeable values H is about
// chi-squared on DF degrees of freedom.
func KruskalWallis(samples []claimstats.Histogram) (h float64, df int) {
	total := map[int32]float64{}
	k := 0
	for _, s := range samples {
		if s.Total() > 0 {
			k++
		}
		for _, b := range s {
			total[b.Days] += float64(b.Claims)
		}
	}
	if k < 2 {
		return 0, 0
	}
	days := make([]int32, 0, len(total))
	for d := range total {
		days = append(days, d)
	}
	sort.Slice(days, func(i, j int) bool { return days[i] < days[j] })
	midrank := make(map[int32]float64, len(days))
	var n, tieTerm float64
	for _, d := range days {
		t := total[d]
		midrank[d] = n + (t+1)/2
		n += t
		tieTerm += t*t*t - t
	}
	var sum float64
	for _, s := range samples {
		var r, m float64
		for _, b := range s {
			r += float64(b.Claims) * midrank[b.Days]
			m += float64(b.Claims)
		}
		if m > 0 {
			sum += r * r / m
		}
	}
	correction := 1 - tieTerm/(n*n*n-n)
	if correction <= 0 {
		return 0, k - 1 // every value tied
	}
	return (12/(n*(n+1))*sum - 3*(n+1)) / correction, k - 1
}

// DecisionTimeDispersion is the rank analogue of DenialDispersion: the
// mean of the Kruskal–Wallis statistic of each pair of adjacent weeks'
// days to decision (for two samples, the square of the Mann–Whitney z
// without continuity correction).
func DecisionTimeDispersion(weeks []Block) Dispersion {
	return pairedDispersion(weeks, decisionTimePair)
}

func decisionTimePair(a, b Block) (float64, bool) {
	if a.Days.Total() == 0 || b.Days.Total() == 0 || a.Days.Total()+b.Days.Total() < 3 {
		return 0, false
	}
	h, df := KruskalWallis([]claimstats.Histogram{a.Days, b.Days})
	return h, df == 1
}

// MinDispersionDF is the fewest pairs of weeks a cell's history must
// give its dispersion for the cell to be tested: with fewer, the weeks say
// nothing about how the cell varies.
const MinDispersionDF = 2

// combine is the dispersion a test uses: the mean of the cell's and its
// payer's (pooled over the payer's cells: batch releases are a payer's
// habit, and its many pairs pin them down, where a cell's ten or so pairs
// alone are off by half), and at least 1. The estimate is used as known;
// the detection benchmark measures what that costs.
func combine(cell, payer Dispersion) Dispersion {
	return Dispersion{Phi: math.Max(1, (cell.Phi+payer.Phi)/2), DF: cell.DF}
}

// upperTail is P(Z >= z) for a statistic z standardized under independent
// claims, read at z / sqrt(Phi): the normal tail of the quasi-likelihood
// statistic (McCullagh & Nelder 1989, section 4.5), never below the
// binomial one.
func (d Dispersion) upperTail(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt(math.Max(d.Phi, 1))/math.Sqrt2)
}

// intervalP is the p-value against "the change lies in [-m, m]" from the
// statistics of its two one-sided nulls: zUpper against "at most m" (large
// when the change exceeds m) and zLower against "at least -m" (negative
// when the change is below -m). Twice the smaller one-sided p-value, so
// that at m = 0 it is the usual two-sided test.
func (d Dispersion) intervalP(zUpper, zLower float64) float64 {
	return math.Min(1, 2*math.Min(d.upperTail(zUpper), d.upperTail(-zLower)))
}

// widen scales an interval's distances from est by the square root of
// the dispersion when it exceeds 1.
func (d Dispersion) widen(est, low, high float64) (float64, float64) {
	s := math.Sqrt(math.Max(d.Phi, 1))
	return est - s*(est-low), est + s*(high-est)
}
