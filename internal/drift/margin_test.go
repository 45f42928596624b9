package drift

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/upstream-rcm/upstream/internal/claimstats"
)

// restrictedRatesNumerically maximizes the binomial log-likelihood on the
// line r1 - r2 = delta by golden-section search (it is concave there): the
// definition the closed form must agree with.
func restrictedRatesNumerically(x1, n1, x2, n2 int, delta float64) (float64, float64) {
	ll := func(r2 float64) float64 {
		r1 := r2 + delta
		term := func(x, n int, r float64) float64 {
			var s float64
			if x > 0 {
				s += float64(x) * math.Log(r)
			}
			if n-x > 0 {
				s += float64(n-x) * math.Log(1-r)
			}
			return s
		}
		return term(x1, n1, r1) + term(x2, n2, r2)
	}
	lo, hi := math.Max(0, -delta), math.Min(1, 1-delta)
	g := (math.Sqrt(5) - 1) / 2
	for range 200 {
		a, b := hi-g*(hi-lo), lo+g*(hi-lo)
		if ll(a) < ll(b) {
			lo = a
		} else {
			hi = b
		}
	}
	r2 := (lo + hi) / 2
	return r2 + delta, r2
}

func TestRateDifferenceScoreSolvesTheRestrictedLikelihood(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 1))
	for trial := range 2000 {
		n1, n2 := 1+rng.IntN(300), 1+rng.IntN(2000)
		x1, x2 := rng.IntN(n1+1), rng.IntN(n2+1)
		if trial%7 == 0 {
			x1 = 0
		}
		if trial%11 == 0 {
			x2 = n2
		}
		delta := (rng.Float64()*2 - 1) * 0.3
		r1, r2 := restrictedRates(x1, n1, x2, n2, delta)
		w1, w2 := restrictedRatesNumerically(x1, n1, x2, n2, delta)
		if !near(r1, w1, 1e-6) || !near(r2, w2, 1e-6) || !near(r1-r2, delta, 1e-12) {
			t.Fatalf("%d/%d vs %d/%d, delta %v: restricted rates (%v, %v), numerically (%v, %v)", x1, n1, x2, n2, delta, r1, r2, w1, w2)
		}
	}
}

// At delta = 0 the score statistic is the pooled two-proportion z, whose
// square is Pearson's chi-squared of the 2x2 table without continuity
// correction.
func TestRateDifferenceScoreAtZeroIsPearsonChiSquared(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 2))
	for range 500 {
		n1, n2 := 1+rng.IntN(200), 1+rng.IntN(900)
		x1, x2 := rng.IntN(n1+1), rng.IntN(n2+1)
		if x1+x2 == 0 || x1+x2 == n1+n2 {
			continue
		}
		table := [2][2]float64{{float64(x1), float64(n1 - x1)}, {float64(x2), float64(n2 - x2)}}
		n := float64(n1 + n2)
		var chi2 float64
		for i := range 2 {
			for j := range 2 {
				e := (table[i][0] + table[i][1]) * (table[0][j] + table[1][j]) / n
				chi2 += (table[i][j] - e) * (table[i][j] - e) / e
			}
		}
		z := RateDifferenceScore(x1, n1, x2, n2, 0)
		if !near(z*z, chi2, 1e-9*math.Max(1, chi2)) {
			t.Fatalf("%d/%d vs %d/%d: z^2 = %v, chi-squared %v", x1, n1, x2, n2, z*z, chi2)
		}
	}
}

// The shifted rank statistics against counting every pair of raw values,
// with the tie-corrected variance of the shifted merged sample.
func TestMannWhitneyShiftedMatchesBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 3))
	for trial := range 300 {
		draw := func(n, spread, offset int) []int32 {
			out := make([]int32, n)
			for i := range out {
				out[i] = int32(rng.IntN(spread) + offset)
			}
			return out
		}
		base := draw(1+rng.IntN(50), 1+rng.IntN(25), 0)
		cur := draw(1+rng.IntN(50), 1+rng.IntN(25), rng.IntN(8))
		shift := []float64{0, 1, 2, 1.5, 0.25 * float64(rng.IntN(20)), -1.5}[trial%6]
		got := MannWhitneyShifted(histogramOf(base), histogramOf(cur), shift)
		var u float64
		values := map[float64]float64{}
		for _, b := range base {
			values[float64(b)]++
		}
		for _, c := range cur {
			values[float64(c)-shift]++
			for _, b := range base {
				switch v := float64(c) - shift; {
				case v > float64(b):
					u++
				case v == float64(b):
					u += 0.5
				}
			}
		}
		var tie float64
		for _, k := range values {
			tie += k*k*k - k
		}
		n1, n2 := float64(len(cur)), float64(len(base))
		n := n1 + n2
		sd := math.Sqrt(n1 * n2 / 12 * (n + 1 - tie/(n*(n-1))))
		if got.U != u || !near(got.Mean, n1*n2/2, 1e-12) || !near(got.SD, sd, 1e-9) {
			t.Fatalf("trial %d, shift %v: got %+v, brute force U %v mean %v sd %v", trial, shift, got, u, n1*n2/2, sd)
		}
	}
}

// At m = 0 the interval p-value is the ordinary two-sided Mann–Whitney
// p-value with continuity correction.
func TestIntervalPAtZeroMarginIsTheTwoSidedTest(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 4))
	for range 300 {
		base := make([]int32, 2+rng.IntN(80))
		cur := make([]int32, 2+rng.IntN(80))
		for i := range base {
			base[i] = int32(rng.IntN(30))
		}
		for i := range cur {
			cur[i] = int32(rng.IntN(30) + rng.IntN(4))
		}
		b, c := histogramOf(base), histogramOf(cur)
		rs := MannWhitneyShifted(b, c, 0)
		got := Dispersion{}.intervalP(rs.upperZ(), rs.lowerZ())
		if want := MannWhitney(b, c).P; !near(got, want, 1e-12) {
			t.Fatalf("interval p at m = 0: %v, two-sided Mann–Whitney %v", got, want)
		}
	}
}

// R's kruskal.test example (Hollander & Wolfe 1973, p. 116, mucociliary
// efficiency): H = 0.77143 on 2 degrees of freedom. Values in tenths.
func TestKruskalWallisWorkedExample(t *testing.T) {
	t.Parallel()
	samples := []claimstats.Histogram{
		histogramOf([]int32{29, 30, 25, 26, 32}),
		histogramOf([]int32{38, 27, 40, 24}),
		histogramOf([]int32{28, 34, 37, 22, 20}),
	}
	h, df := KruskalWallis(samples)
	if !near(h, 0.77143, 5e-6) || df != 2 {
		t.Fatalf("H = %v on %d df, want 0.77143 on 2", h, df)
	}
}

// Kruskal–Wallis from histograms against ranking the raw values (midranks
// for ties) and applying the textbook formula.
func TestKruskalWallisMatchesBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 5))
	for trial := range 200 {
		k := 2 + rng.IntN(8)
		raw := make([][]int32, k)
		var all []int32
		for i := range raw {
			for range rng.IntN(40) {
				v := int32(rng.IntN(1+rng.IntN(30)) + i%3)
				raw[i] = append(raw[i], v)
				all = append(all, v)
			}
		}
		slices.Sort(all)
		rank := func(v int32) float64 { // midrank, 1-based
			lo, _ := slices.BinarySearch(all, v)
			hi := lo
			for hi < len(all) && all[hi] == v {
				hi++
			}
			return float64(lo+hi+1) / 2
		}
		n := float64(len(all))
		var sum, tie float64
		nonEmpty := 0
		samples := make([]claimstats.Histogram, k)
		for i, s := range raw {
			samples[i] = histogramOf(s)
			if len(s) == 0 {
				continue
			}
			nonEmpty++
			var r float64
			for _, v := range s {
				r += rank(v)
			}
			sum += r * r / float64(len(s))
		}
		for i := 0; i < len(all); {
			j := i
			for j < len(all) && all[j] == all[i] {
				j++
			}
			t := float64(j - i)
			tie += t*t*t - t
			i = j
		}
		h, df := KruskalWallis(samples)
		if nonEmpty < 2 {
			if df != 0 {
				t.Fatalf("trial %d: %d df from %d non-empty samples", trial, df, nonEmpty)
			}
			continue
		}
		want := 0.0
		if c := 1 - tie/(n*n*n-n); c > 0 {
			want = (12/(n*(n+1))*sum - 3*(n+1)) / c
		}
		if df != nonEmpty-1 || !near(h, want, 1e-9*math.Max(1, want)) {
			t.Fatalf("trial %d: H = %v on %d df, brute force %v on %d", trial, h, df, want, nonEmpty-1)
		}
	}
}

// Pearson's homogeneity statistic against the generic chi-squared of the
// weeks x (denied, paid) table; the denial dispersion is its mean over
// pairs of adjacent weeks.
func TestDenialDispersionIsPearsonOverPairsOfWeeks(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 6))
	chi2Of := func(weeks []Block) float64 {
		var n, d float64
		for _, w := range weeks {
			n += float64(w.Volume)
			d += float64(w.Denied)
		}
		var chi2 float64
		for _, w := range weeks {
			for _, cell := range [][2]float64{{float64(w.Denied), d}, {float64(w.Volume - w.Denied), n - d}} {
				e := float64(w.Volume) * cell[1] / n
				chi2 += (cell[0] - e) * (cell[0] - e) / e
			}
		}
		return chi2
	}
	for range 200 {
		weeks := make([]Block, 2+rng.IntN(25))
		for i := range weeks {
			v := 2 + rng.IntN(200)
			weeks[i] = Block{Volume: v, Denied: 1 + rng.IntN(v-1)} // both outcomes in every week
		}
		if x2, df := PearsonHomogeneity(weeks); df != len(weeks)-1 || !near(x2, chi2Of(weeks), 1e-9*math.Max(1, x2)) {
			t.Fatalf("Pearson %v on %d df, want %v on %d", x2, df, chi2Of(weeks), len(weeks)-1)
		}
		var stats []float64
		for i := 0; i+1 < len(weeks); i += 2 {
			stats = append(stats, chi2Of(weeks[i:i+2]))
		}
		// Without the largest pair, scaled by the trimmed mean's expectation.
		want, df := 0.0, len(stats)
		if len(stats) >= 3 {
			slices.Sort(stats)
			stats, df = stats[:len(stats)-1], len(stats)-1
		}
		for _, v := range stats {
			want += v / float64(len(stats))
		}
		if df >= 2 && len(weeks) >= 6 {
			want /= trimmedChiSquaredMean(df + 1)
		}
		if got := DenialDispersion(weeks); got.DF != df || !near(got.Phi, want, 1e-9*math.Max(1, want)) {
			t.Fatalf("dispersion %+v, want %v on %d", got, want, df)
		}
	}
}

// The trimmed mean's expectation against simulation: the n-1 smallest of
// n chi-squared(1) draws, averaged over many trials.
func TestTrimmedChiSquaredMeanMatchesSimulation(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 7))
	for _, n := range []int{3, 5, 11, 13} {
		const trials = 200000
		var total float64
		for range trials {
			var sum, largest float64
			for range n {
				z := rng.NormFloat64()
				sum += z * z
				largest = math.Max(largest, z*z)
			}
			total += (sum - largest) / float64(n-1)
		}
		if got, want := trimmedChiSquaredMean(n), total/trials; !near(got, want, 0.01*want) {
			t.Errorf("n = %d: %v, simulated %v", n, got, want)
		}
	}
}

// A lasting change between two weeks falls in one pair, which the trimmed
// dispersion leaves out; the dispersion of all weeks at once grows with
// every week after it.
func TestPairedDispersionShrugsOffALevelShift(t *testing.T) {
	t.Parallel()
	weeks := make([]Block, 26)
	for i := range weeks {
		weeks[i] = Block{Volume: 400, Denied: 40}
		if i < 9 {
			weeks[i].Denied = 120 // the latest 9 weeks: 10% -> 30%
		}
	}
	x2, df := PearsonHomogeneity(weeks)
	if all, paired := x2/float64(df), DenialDispersion(weeks).Phi; all < 20 || paired != 0 {
		t.Fatalf("dispersion of all weeks %v, paired %v: want the pairs to see the change once", all, paired)
	}
}

// The tail is the normal one at z / sqrt(Phi), and an underdispersed
// estimate never makes it smaller than the binomial tail.
func TestDispersionTailIsTheNormalTailOfTheScaledStatistic(t *testing.T) {
	t.Parallel()
	normal := func(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }
	if p := (Dispersion{Phi: 4}).upperTail(2 * 1.959963984540054); !near(p, 0.025, 1e-12) {
		t.Errorf("Phi 4: P = %v, want 0.025", p)
	}
	if p := (Dispersion{Phi: 0.3}).upperTail(3); p != normal(3) {
		t.Errorf("underdispersed: %v, want the normal tail %v", p, normal(3))
	}
	if d := combine(Dispersion{Phi: 0.5, DF: 5}, Dispersion{Phi: 2.5, DF: 40}); d.Phi != 1.5 || d.DF != 5 {
		t.Errorf("combine = %+v, want the mean 1.5 on the cell's 5 pairs", d)
	}
	if d := combine(Dispersion{Phi: 0.5, DF: 5}, Dispersion{Phi: 0.9, DF: 40}); d.Phi != 1 {
		t.Errorf("combine = %+v, want at least 1", d)
	}
}
