package names

import (
	"errors"
	"strings"
	"testing"
)

func TestMatchIsCaseInsensitiveAndSuggests(t *testing.T) {
	t.Parallel()
	names := []string{"Aetna", "Cigna", "UnitedHealthcare", "Humana", "BCBS", "bcbs"}
	for _, tc := range []struct {
		in, want, errHas string
	}{
		{"aetna", "Aetna", ""},
		{"  AETNA ", "Aetna", ""},
		{"Aetna", "Aetna", ""},
		{"bcbs", "bcbs", ""}, // exact wins over a case variant
		{"Bcbs", "", `"BCBS" or "bcbs", which differ only by case`},
		{"Aetan", "", `no claims for payer "Aetan"; did you mean "Aetna"?`},
		{"united", "", `did you mean "UnitedHealthcare"?`},
		{"Kaiser", "", `no claims for payer "Kaiser"`},
	} {
		got, err := Match("payer", "claims", names, tc.in)
		if tc.errHas == "" {
			if err != nil || got != tc.want {
				t.Errorf("Match(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("Match(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.errHas)
		}
	}
	if _, err := Match("payer", "claims", names, "Kaiser"); strings.Contains(err.Error(), "did you mean") {
		t.Errorf("%v suggests a name far from Kaiser", err)
	}
}

func TestEditDistanceAgainstKnownValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"kitten", "sitting", 3}, {"", "abc", 3}, {"flaw", "lawn", 2}, {"same", "same", 0}, {"Éclair", "eclair", 1}} {
		if d := EditDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}
