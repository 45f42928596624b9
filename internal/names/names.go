// Package names matches the payer, CPT group and customer names people
// type against the names upstream stores: trimmed, case-insensitively,
// with the close names suggested when nothing matches.
package names

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknown is matched (errors.Is) by every *UnknownError.
var ErrUnknown = errors.New("unknown name")

// UnknownError is a payer or CPT group name that matches nothing the
// customer has (Of: "claims", "alerts"), with the closest names, if any.
type UnknownError struct {
	Kind    string // "payer" or "CPT group"
	Name    string
	Of      string
	Similar []string
	// Ambiguous is true when the name matches several names that differ
	// only by case; Similar lists them.
	Ambiguous bool
}

func (e *UnknownError) Error() string {
	if e.Ambiguous {
		return fmt.Sprintf("%s %q matches %s, which differ only by case: give the exact name", e.Kind, e.Name, quoteList(e.Similar))
	}
	msg := fmt.Sprintf("no %s for %s %q", e.Of, e.Kind, e.Name)
	if len(e.Similar) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", quoteList(e.Similar))
	}
	return msg
}

// Is makes errors.Is(err, ErrUnknown) hold.
func (e *UnknownError) Is(target error) bool { return target == ErrUnknown }

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " or ")
}

// Match finds the name a person typed among names, the way upstream
// matches names everywhere: trimmed and case-insensitively; an exact match
// wins over names that differ only by case. Otherwise it is an
// *UnknownError naming up to 3 similar names.
func Match(kind, of string, names []string, name string) (string, error) {
	name = strings.TrimSpace(name)
	var folded []string
	for _, n := range names {
		if n == name {
			return n, nil
		}
		if strings.EqualFold(n, name) {
			folded = append(folded, n)
		}
	}
	switch len(folded) {
	case 1:
		return folded[0], nil
	case 0:
		return "", &UnknownError{Kind: kind, Name: name, Of: of, Similar: Similar(names, name, 3)}
	default:
		return "", &UnknownError{Kind: kind, Name: name, Of: of, Similar: folded, Ambiguous: true}
	}
}

// Similar returns up to n names within a small edit distance of name
// (case-insensitive), or that contain it, closest first.
func Similar(names []string, name string, n int) []string {
	type scored struct {
		name string
		d    int
	}
	target := strings.ToLower(name)
	var out []scored
	for _, c := range names {
		lc := strings.ToLower(c)
		d := EditDistance(lc, target)
		if d <= max(2, len(target)/3) || len(target) >= 3 && strings.Contains(lc, target) {
			out = append(out, scored{c, d})
		}
	}
	for i := 1; i < len(out); i++ { // few names: insertion sort, stable
		for j := i; j > 0 && out[j].d < out[j-1].d; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	res := []string{}
	for i := 0; i < len(out) && i < n; i++ {
		res = append(res, out[i].name)
	}
	return res
}

// EditDistance is the Levenshtein distance between a and b, by runes.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
