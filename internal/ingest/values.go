package ingest

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// DateFormat says how slash dates are read.
type DateFormat string

// Date formats. Auto reads M/D/YYYY and YYYY/M/D and notices files that
// are D/M/YYYY (DateOrderError).
const (
	DateAuto     DateFormat = ""
	DateMonthDay DateFormat = "MM/DD/YYYY"
	DateDayMonth DateFormat = "DD/MM/YYYY"
	DateISO      DateFormat = "YYYY-MM-DD"
)

// ParseDateFormat reads a --date-format value.
func ParseDateFormat(s string) (DateFormat, error) {
	switch f := DateFormat(strings.ToUpper(strings.TrimSpace(s))); f {
	case DateAuto, DateMonthDay, DateDayMonth, DateISO:
		return f, nil
	}
	return "", fmt.Errorf("date format %q: use MM/DD/YYYY, DD/MM/YYYY or YYYY-MM-DD", s)
}

// Dates outside these years are row errors: typos, not claims.
const (
	MinClaimYear = 1900
	MaxClaimYear = 2200
)

func parseLayouts(s string, layouts ...string) (time.Time, bool) {
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// NormalizeOutcome maps a raw outcome to PAID, DENIED or OTHER; usual is
// false for values that became OTHER (they deserve a warning).
func NormalizeOutcome(raw string) (outcome string, usual bool) {
	switch strings.ToUpper(strings.TrimSpace(raw)) {
	case "PAID", "APPROVED", "ACCEPTED":
		return OutcomePaid, true
	case "DENIED", "REJECTED", "DECLINED":
		return OutcomeDenied, true
	default:
		return OutcomeOther, false
	}
}

// ParseDate parses YYYY-MM-DD, MM/DD/YYYY or YYYY/MM/DD (months and days may
// have one digit in the slash forms) as a UTC calendar date.
func ParseDate(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02", "1/2/2006", "2006/1/2"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// maxCents bounds what numeric(12,2) holds: |amount| < 10^10.
var maxCents = new(big.Int).Exp(big.NewInt(10), big.NewInt(12), nil)

// ParseAmount parses an allowed amount such as "1234.5", "$1,234.50" or
// "-12" to cents; anything else, or a value numeric(12,2) cannot hold, is
// empty (Valid false). Digits past the cents are rounded half up.
func ParseAmount(s string) pgtype.Numeric {
	s = strings.TrimPrefix(strings.TrimSpace(s), "$")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "$")
	s = strings.ReplaceAll(s, ",", "")
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return pgtype.Numeric{}
	}
	cents, ok := new(big.Int).SetString(intPart+(frac + "00")[:2], 10)
	if !ok {
		return pgtype.Numeric{}
	}
	if len(frac) > 2 && frac[2] >= '5' {
		cents.Add(cents, big.NewInt(1))
	}
	if cents.Cmp(maxCents) >= 0 {
		return pgtype.Numeric{}
	}
	if neg {
		cents.Neg(cents)
	}
	return pgtype.Numeric{Int: cents, Exp: -2, Valid: true}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
