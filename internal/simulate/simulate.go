// Package simulate generates claims the way real payers produce them and
// real systems export them, for the detection-quality benchmark and the
// statistical property tests: Poisson daily volumes, skewed (log-normal)
// days to decision, and exports that hold only the claims decided by the
// export date. Cells can have the structure real claims have: weekday
// cycles and holidays, decisions released in month-end or biweekly
// batches, weekly denial rates that vary more than binomially, denials
// that take longer, and histories that start late. Changes can be planted
// at known dates.
package simulate

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/drift"
)

// Cell is one (payer, CPT group) and how it behaves.
type Cell struct {
	Payer, CPTGroup string
	DailyVolume     float64 // mean claims submitted per day
	DenialRate      float64
	MedianDays      float64 // median days to decision (log-normal)
	Spread          float64 // log-normal sigma of days to decision
	// Change, when set, applies to claims submitted from Change.Start.
	Change *Change

	// Start, when set, is the cell's first day of claims.
	Start time.Time
	// Weekdays submits claims on business days only, most on Mondays and
	// fewest on Fridays (DailyVolume stays the mean over all days), and
	// decides them on business days (no weekends, no US federal holidays).
	Weekdays bool
	// Release holds BatchShare of the decisions until the payer's next
	// release date.
	Release    Release
	BatchShare float64
	// Overdispersion is the intra-class correlation of denials among the
	// claims submitted in one week: each week's denial rate is drawn from
	// a beta distribution with mean DenialRate (0: binomial).
	Overdispersion float64
	// DeniedDaysFactor multiplies a denied claim's days to decision
	// (medical review takes longer); 0 means 1.
	DeniedDaysFactor float64
}

// Release is when a payer releases its batched decisions.
type Release int

// The release schedules.
const (
	ReleaseDaily    Release = iota // no batching
	ReleaseMonthEnd                // the last business day of the month
	ReleaseBiweekly                // every other Friday
)

// weekdayVolume is the share of a week's claims submitted each weekday
// (Sunday first), times 7: practices bill most on Mondays.
var weekdayVolume = [7]float64{0, 2.0, 1.6, 1.4, 1.2, 0.8, 0}

// Change is a planted drift.
type Change struct {
	Start      time.Time
	Type       drift.Type
	DenialRate float64 // added to the denial rate
	Days       float64 // added to every claim's days to decision
}

// Claim is one simulated claim.
type Claim struct {
	Payer, CPTGroup string
	Submitted       time.Time
	Decided         time.Time
	Denied          bool
}

// Generate returns every claim the cells submit on the days [from, to),
// decided or not yet. Cells without the structures of real claims draw
// exactly as they always did, so seeds keep their claims.
func Generate(rng *rand.Rand, cells []Cell, from, to time.Time) []Claim {
	var out []Claim
	weekRates := map[[2]int]float64{} // (cell, week) -> denial rate, when overdispersed
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		for ci, c := range cells {
			if day.Before(c.Start) {
				continue
			}
			rate, shift := c.DenialRate, 0.0
			if c.Change != nil && !day.Before(c.Change.Start) {
				rate += c.Change.DenialRate
				shift = c.Change.Days
			}
			if c.Overdispersion > 0 {
				k := [2]int{ci, int(day.Sub(from).Hours() / (24 * 7))}
				r, ok := weekRates[k]
				if !ok {
					mean := math.Min(math.Max(rate, 1e-3), 1-1e-3)
					a := mean * (1 - c.Overdispersion) / c.Overdispersion
					b := (1 - mean) * (1 - c.Overdispersion) / c.Overdispersion
					r = distuv.Beta{Alpha: a, Beta: b, Src: rng}.Rand()
					weekRates[k] = r
				}
				rate = r
			}
			volume := c.DailyVolume
			if c.Weekdays {
				if !BusinessDay(day) {
					continue
				}
				volume *= weekdayVolume[day.Weekday()]
			}
			for range Poisson(rng, volume) {
				raw := c.MedianDays*math.Exp(c.Spread*rng.NormFloat64()) + shift
				denied := rng.Float64() < rate
				if denied && c.DeniedDaysFactor > 0 {
					raw *= c.DeniedDaysFactor
				}
				decided := day.AddDate(0, 0, max(0, int(math.Round(raw))))
				if c.Weekdays {
					decided = nextBusinessDay(decided)
				}
				if c.Release != ReleaseDaily && rng.Float64() < c.BatchShare {
					decided = releaseOn(c.Release, decided)
				}
				out = append(out, Claim{Payer: c.Payer, CPTGroup: c.CPTGroup, Submitted: day, Decided: decided, Denied: denied})
			}
		}
	}
	return out
}

// BusinessDay reports whether day is a weekday that is not a US federal
// holiday (on its calendar date; observed days are not moved).
func BusinessDay(day time.Time) bool {
	wd := day.Weekday()
	if wd == time.Saturday || wd == time.Sunday {
		return false
	}
	m, d := day.Month(), day.Day()
	nth := (d-1)/7 + 1 // which occurrence of its weekday in the month
	last := day.AddDate(0, 0, 7).Month() != m
	switch {
	case m == time.January && (d == 1 || wd == time.Monday && nth == 3), // New Year, Martin Luther King Jr.
		m == time.February && wd == time.Monday && nth == 3, // Presidents' Day
		m == time.May && wd == time.Monday && last,          // Memorial Day
		m == time.June && d == 19, m == time.July && d == 4, // Juneteenth, Independence Day
		m == time.September && wd == time.Monday && nth == 1,               // Labor Day
		m == time.October && wd == time.Monday && nth == 2,                 // Columbus Day
		m == time.November && (d == 11 || wd == time.Thursday && nth == 4), // Veterans Day, Thanksgiving
		m == time.December && d == 25:
		return false
	}
	return true
}

func nextBusinessDay(day time.Time) time.Time {
	for !BusinessDay(day) {
		day = day.AddDate(0, 0, 1)
	}
	return day
}

// releaseOn is the first release date on or after day.
func releaseOn(r Release, day time.Time) time.Time {
	switch r {
	case ReleaseMonthEnd:
		for {
			end := time.Date(day.Year(), day.Month()+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
			for !BusinessDay(end) {
				end = end.AddDate(0, 0, -1)
			}
			if !end.Before(day) {
				return end
			}
			day = time.Date(day.Year(), day.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		}
	case ReleaseBiweekly:
		epoch := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC) // a release Friday
		if r := (int(day.Sub(epoch).Hours()/24)%14 + 14) % 14; r != 0 {
			return day.AddDate(0, 0, 14-r)
		}
	}
	return day
}

// DecidedBetween returns the claims decided on the days [from, to): what an
// export of newly decided claims taken on to holds when the previous one
// was taken on from.
func DecidedBetween(claims []Claim, from, to time.Time) []Claim {
	var out []Claim
	for _, c := range claims {
		if !c.Decided.Before(from) && c.Decided.Before(to) {
			out = append(out, c)
		}
	}
	return out
}

// CSV renders claims as an upload file.
func CSV(claims []Claim) []byte {
	b := make([]byte, 0, 64*len(claims)+64)
	b = append(b, "payer,cpt,submitted_date,decided_date,outcome\n"...)
	for _, c := range claims {
		outcome := "PAID"
		if c.Denied {
			outcome = "DENIED"
		}
		b = fmt.Appendf(b, "%s,%s,%s,%s,%s\n", c.Payer, c.CPTGroup, c.Submitted.Format(time.DateOnly), c.Decided.Format(time.DateOnly), outcome)
	}
	return b
}

// Poisson draws from a Poisson distribution: Knuth's product method for
// small means, a rounded normal approximation above 60.
func Poisson(rng *rand.Rand, mean float64) int {
	if mean > 60 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
	}
	l := math.Exp(-mean)
	k, p := 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// Groups aggregates claims known on the export date asOf (decided before
// it) into drift groups for the windows of p, as the statistics would: the
// claims submitted in each window, the claims decided in each window and
// in each week of the history, and each cell's first submission in the
// history read. It is the in-memory twin of drift.Aggregate, for pure
// tests and the detection benchmark.
func Groups(claims []Claim, p drift.Params) []drift.Group {
	w := drift.WindowsFor(p)
	weeks := int(w.CurrentStart.Sub(w.HistoryStart).Hours() / (24 * 7))
	type key struct{ payer, group string }
	type acc struct {
		days  [4]map[int32]int64
		count [4]int
		deny  [4]int
		weeks []map[int32]int64
		wn    []int
		wd    []int
		first time.Time
	}
	cells := map[key]*acc{}
	var order []key
	add := func(days *map[int32]int64, count, deny *int, d int32, denied bool) {
		if *days == nil {
			*days = map[int32]int64{}
		}
		(*days)[d]++
		*count++
		if denied {
			*deny++
		}
	}
	for _, c := range claims {
		submittedIn := !c.Submitted.Before(w.HistoryStart) && c.Submitted.Before(w.CurrentEnd)
		decidedIn := !c.Decided.Before(w.HistoryStart) && c.Decided.Before(w.CurrentEnd)
		if !c.Decided.Before(p.AsOf) || (!submittedIn && !decidedIn) {
			continue // not in the export yet, or not in the history read
		}
		k := key{c.Payer, c.CPTGroup}
		a := cells[k]
		if a == nil {
			a = &acc{weeks: make([]map[int32]int64, weeks), wn: make([]int, weeks), wd: make([]int, weeks)}
			cells[k] = a
			order = append(order, k)
		}
		if a.first.IsZero() || c.Submitted.Before(a.first) {
			a.first = c.Submitted
		}
		days := int32(c.Decided.Sub(c.Submitted).Hours() / 24)
		if i := windowOf(w, c.Submitted); i >= 0 {
			add(&a.days[i], &a.count[i], &a.deny[i], days, c.Denied) // 0 baseline, 1 current
		}
		if i := windowOf(w, c.Decided); i >= 0 {
			add(&a.days[2+i], &a.count[2+i], &a.deny[2+i], days, c.Denied)
		}
		if decidedIn && c.Decided.Before(w.CurrentStart) {
			k := int(w.CurrentStart.Sub(c.Decided).Hours()/24-1) / 7
			add(&a.weeks[k], &a.wn[k], &a.wd[k], days, c.Denied)
		}
	}
	groups := make([]drift.Group, 0, len(order))
	for _, k := range order {
		a := cells[k]
		var ws [4]drift.WindowStats
		for i := range ws {
			ws[i] = windowStats(a.count[i], a.deny[i], a.days[i])
		}
		g := drift.Group{Payer: k.payer, CPTGroup: k.group, Baseline: ws[0], Current: ws[1],
			DecidedBaseline: ws[2], DecidedCurrent: ws[3], Weeks: make([]drift.WindowStats, weeks), FirstSubmitted: a.first}
		for i := range g.Weeks {
			g.Weeks[i] = windowStats(a.wn[i], a.wd[i], a.weeks[i])
		}
		groups = append(groups, g)
	}
	return groups
}

// windowOf is 0 for a day in the baseline window, 1 in the current one,
// -1 in neither.
func windowOf(w drift.Windows, day time.Time) int {
	day = drift.Date(day)
	switch {
	case !day.Before(w.BaselineStart) && day.Before(w.BaselineEnd):
		return 0
	case !day.Before(w.CurrentStart) && day.Before(w.CurrentEnd):
		return 1
	}
	return -1
}

// windowStats builds a window from its volume, denials and days to
// decision (days -> claims).
func windowStats(volume, denied int, days map[int32]int64) drift.WindowStats {
	h := make(claimstats.Histogram, 0, len(days))
	for d, n := range days {
		h = append(h, claimstats.Bin{Days: d, Claims: n})
	}
	slices.SortFunc(h, func(a, b claimstats.Bin) int { return cmp.Compare(a.Days, b.Days) })
	return drift.WindowStats{Volume: volume, Denied: denied, MedianDays: h.Median(), Days: h}
}
