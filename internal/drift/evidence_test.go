package drift

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/upstream-rcm/upstream/internal/claimstats"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// fisherExactRational is the reference: every table with the observed
// margins, its hypergeometric probability as an exact rational.
func fisherExactRational(a, b, c, d int) float64 {
	row1, col1, n := a+b, a+c, a+b+c+d
	prob := func(x int) *big.Rat {
		num := new(big.Int).Mul(new(big.Int).Binomial(int64(row1), int64(x)), new(big.Int).Binomial(int64(n-row1), int64(col1-x)))
		return new(big.Rat).SetFrac(num, new(big.Int).Binomial(int64(n), int64(col1)))
	}
	observed := prob(a)
	sum := new(big.Rat)
	for x := max(0, col1-(n-row1)); x <= min(row1, col1); x++ {
		if p := prob(x); p.Cmp(observed) <= 0 {
			sum.Add(sum, p)
		}
	}
	f, _ := sum.Float64()
	return f
}

func TestFisherExactMatchesWorkedExamplesAndExactRationals(t *testing.T) {
	t.Parallel()
	// Fisher's tea-tasting table: p = 34/70. The second is Wikipedia's
	// worked example (dieting by sex): p = 0.002759.
	if p := FisherExact(3, 1, 1, 3); !near(p, 34.0/70, 1e-12) {
		t.Errorf("tea tasting: p = %v, want 34/70", p)
	}
	if p := FisherExact(1, 9, 11, 3); !near(p, 0.002759, 5e-7) {
		t.Errorf("dieting example: p = %v, want 0.002759", p)
	}
	// Large counts, where the walk from the mode stops early.
	for _, tc := range [][4]int{{300, 1700, 380, 1620}, {1, 5000, 10, 4991}, {2000, 0, 1990, 10}, {250, 750, 250, 750}} {
		got, want := FisherExact(tc[0], tc[1], tc[2], tc[3]), fisherExactRational(tc[0], tc[1], tc[2], tc[3])
		if !near(got, want, 1e-9*math.Max(want, 1e-300)+1e-300) {
			t.Errorf("FisherExact%v = %v, exact %v", tc, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 400 {
		// Small counts, zero denials and symmetric margins included.
		a, b, c, d := rng.IntN(12), rng.IntN(40), rng.IntN(12), rng.IntN(40)
		if rng.IntN(5) == 0 {
			a, c = 0, 0
		}
		if rng.IntN(5) == 0 {
			c, d = a, b
		}
		got, want := FisherExact(a, b, c, d), fisherExactRational(a, b, c, d)
		if !near(got, want, 1e-9*math.Max(1, want)) {
			t.Fatalf("FisherExact(%d, %d, %d, %d) = %v, exact %v", a, b, c, d, got, want)
		}
	}
}

// Newcombe (1998), Table II, method 10, examples (a), (b) and (d).
func TestNewcombeIntervalMatchesPublishedExamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		x1, n1, x2, n2 int
		low, high      float64
	}{
		{56, 70, 48, 80, 0.0524, 0.3339},
		{9, 10, 3, 10, 0.1705, 0.8090},
		{5, 56, 0, 29, -0.0381, 0.1926},
	} {
		low, high := NewcombeDifference(tc.x1, tc.n1, tc.x2, tc.n2)
		if !near(low, tc.low, 5e-5) || !near(high, tc.high, 5e-5) {
			t.Errorf("%d/%d - %d/%d: interval [%.4f, %.4f], want [%.4f, %.4f]", tc.x1, tc.n1, tc.x2, tc.n2, low, high, tc.low, tc.high)
		}
	}
}

// The Wilson bounds solve the score equation |p - π| = z sqrt(π(1-π)/n),
// found here by bisection.
func TestWilsonBoundsSolveTheScoreEquation(t *testing.T) {
	t.Parallel()
	for _, tc := range [][2]int{{0, 5}, {1, 3}, {7, 20}, {20, 20}, {150, 1000}} {
		x, n := tc[0], tc[1]
		p := float64(x) / float64(n)
		score := func(pi float64) float64 { return math.Abs(p-pi) - zFor95*math.Sqrt(pi*(1-pi)/float64(n)) }
		bisect := func(lo, hi float64) float64 { // score(lo) and score(hi) differ in sign
			for range 200 {
				mid := (lo + hi) / 2
				if (score(mid) > 0) == (score(lo) > 0) {
					lo = mid
				} else {
					hi = mid
				}
			}
			return (lo + hi) / 2
		}
		wantLow, wantHigh := 0.0, 1.0
		if x > 0 {
			wantLow = bisect(0, p)
		}
		if x < n {
			wantHigh = bisect(p, 1)
		}
		low, high := Wilson(x, n, zFor95)
		if !near(low, wantLow, 1e-9) || !near(high, wantHigh, 1e-9) {
			t.Errorf("Wilson(%d, %d) = [%v, %v], want [%v, %v]", x, n, low, high, wantLow, wantHigh)
		}
	}
}

// mannWhitneyBruteForce works from the raw values: midranks of the pooled
// sample, the tie counts, and every pairwise difference.
func mannWhitneyBruteForce(baseline, current []int32) (u, z float64, diffs []float64) {
	type obs struct {
		v       int32
		current bool
	}
	var pooled []obs
	for _, v := range baseline {
		pooled = append(pooled, obs{v, false})
	}
	for _, v := range current {
		pooled = append(pooled, obs{v, true})
	}
	sort.Slice(pooled, func(i, j int) bool { return pooled[i].v < pooled[j].v })
	var rankSum, tie float64
	for i := 0; i < len(pooled); {
		j := i
		for j < len(pooled) && pooled[j].v == pooled[i].v {
			j++
		}
		mid := float64(i+1+j) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if pooled[k].current {
				rankSum += mid
			}
		}
		t := float64(j - i)
		tie += t*t*t - t
		i = j
	}
	n1, n2 := float64(len(current)), float64(len(baseline))
	u = rankSum - n1*(n1+1)/2
	n := n1 + n2
	sd := math.Sqrt(n1 * n2 / 12 * ((n + 1) - tie/(n*(n-1))))
	d := u - n1*n2/2
	z = math.Copysign(math.Max(math.Abs(d)-0.5, 0), d) / sd
	for _, c := range current {
		for _, b := range baseline {
			diffs = append(diffs, float64(c-b))
		}
	}
	slices.Sort(diffs)
	return u, z, diffs
}

func histogramOf(values []int32) claimstats.Histogram {
	counts := map[int32]int64{}
	for _, v := range values {
		counts[v]++
	}
	var h claimstats.Histogram
	for v, n := range counts {
		h = append(h, claimstats.Bin{Days: v, Claims: n})
	}
	sort.Slice(h, func(i, j int) bool { return h[i].Days < h[j].Days })
	return h
}

func TestMannWhitneyFromHistogramsMatchesBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 300 {
		draw := func(n, spread, shift int) []int32 {
			out := make([]int32, n)
			for i := range out {
				out[i] = int32(rng.IntN(spread) + shift) // heavy ties: integer days
			}
			return out
		}
		base := draw(1+rng.IntN(60), 1+rng.IntN(30), 0)
		cur := draw(1+rng.IntN(60), 1+rng.IntN(30), rng.IntN(6))
		got := MannWhitney(histogramOf(base), histogramOf(cur))
		u, z, diffs := mannWhitneyBruteForce(base, cur)
		if !near(got.U, u, 1e-9) {
			t.Fatalf("trial %d: U = %v, brute force %v", trial, got.U, u)
		}
		if !math.IsNaN(z) && !math.IsInf(z, 0) && (!near(got.Z, z, 1e-9) || !near(got.P, math.Erfc(math.Abs(z)/math.Sqrt2), 1e-12)) {
			t.Fatalf("trial %d: z = %v p = %v, brute force z = %v", trial, got.Z, got.P, z)
		}
		n1n2 := float64(len(base) * len(cur))
		k := math.Floor(n1n2/2 - zFor95*math.Sqrt(n1n2/12*(float64(len(base)+len(cur))+1-tieTermOf(base, cur)/float64((len(base)+len(cur))*(len(base)+len(cur)-1)))))
		if k >= 1 {
			if !got.Bounded || got.ShiftLow != diffs[int(k)-1] || got.ShiftHigh != diffs[int(n1n2-k)] {
				t.Fatalf("trial %d: shift interval [%v, %v] bounded %v, brute force [%v, %v]", trial, got.ShiftLow, got.ShiftHigh, got.Bounded, diffs[int(k)-1], diffs[int(n1n2-k)])
			}
		} else if got.Bounded {
			t.Fatalf("trial %d: samples of %d and %d gave a bounded interval", trial, len(base), len(cur))
		}
	}
}

func tieTermOf(a, b []int32) float64 {
	counts := map[int32]float64{}
	for _, v := range append(slices.Clone(a), b...) {
		counts[v]++
	}
	var s float64
	for _, t := range counts {
		s += t*t*t - t
	}
	return s
}

// Hollander & Wolfe's permeability data (R's wilcox.test example): W = 35
// for x against y, and without ties the normal approximation with
// continuity correction gives z = (35 - 25 - 0.5) / sqrt(10*5*16/12).
func TestMannWhitneyWorkedExample(t *testing.T) {
	t.Parallel()
	// Values in hundredths, so days-like integers keep their order.
	x := []int32{80, 83, 189, 104, 145, 138, 191, 164, 73, 146}
	y := []int32{115, 88, 90, 74, 121}
	got := MannWhitney(histogramOf(y), histogramOf(x))
	if got.U != 35 {
		t.Fatalf("U = %v, want 35", got.U)
	}
	wantZ := 9.5 / math.Sqrt(10*5*16/12.0)
	if !near(got.Z, wantZ, 1e-12) || !near(got.P, 0.2446, 5e-5) {
		t.Fatalf("z = %v p = %v, want z = %v p = 0.2446", got.Z, got.P, wantZ)
	}
}

// Benjamini & Hochberg (1995), section 4: of these 15 p-values, the
// procedure at 0.05 rejects the first four.
func TestBenjaminiHochbergMatchesPaperAndDefinition(t *testing.T) {
	t.Parallel()
	p := []float64{0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000}
	rng := rand.New(rand.NewPCG(7, 8))
	rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	q := BenjaminiHochberg(p)
	rejected := 0
	for i := range p {
		if q[i] <= 0.05 {
			rejected++
			if p[i] > 0.0095 {
				t.Errorf("rejected p = %v", p[i])
			}
		}
		// The definition, by brute force: min over p_j >= p_i of m p_j / rank_j.
		want := 1.0
		for j := range p {
			if p[j] >= p[i] {
				rank := 0
				for k := range p {
					if p[k] <= p[j] {
						rank++
					}
				}
				want = math.Min(want, p[j]*float64(len(p))/float64(rank))
			}
		}
		if !near(q[i], want, 1e-15) {
			t.Errorf("q(%v) = %v, want %v", p[i], q[i], want)
		}
	}
	if rejected != 4 {
		t.Errorf("rejected %d at 0.05, want 4", rejected)
	}
	for _, v := range BenjaminiHochberg([]float64{0.01, 0.02, 0.03, 0.04, 0.05}) {
		if !near(v, 0.05, 1e-15) {
			t.Errorf("q = %v, want 0.05 for each of 0.01..0.05", v)
		}
	}
}
