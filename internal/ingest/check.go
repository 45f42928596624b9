package ingest

import (
	"cmp"
	"encoding/json"
	"fmt"
)

// NoticeCode names something to fix about a stored upload as a whole.
// Front-ends render each code with their own way to fix it (a CLI flag, an
// API parameter); the domain's message names neither.
type NoticeCode string

// Notice codes.
const (
	// NoticeNoMappings: the customer has no payer or CPT group mappings,
	// so every code went to OTHER; loading them with reclassification
	// fixes the stored claims too.
	NoticeNoMappings NoticeCode = "no_mappings"
	// NoticeMostlyOther: most of the file's claims fell in CPT group
	// OTHER; completing the CPT group mappings with reclassification
	// fixes them.
	NoticeMostlyOther NoticeCode = "mostly_other"
	// NoticeFutureDates: some claims are decided after today.
	NoticeFutureDates NoticeCode = "future_dates"
	// NoticeSubmittedFallback: remittance claims without a received date
	// (DTM*050) were dated by their statement or service date.
	NoticeSubmittedFallback NoticeCode = "submitted_fallback"
	// NoticeNotAdjudicated: remittance claims that are not adjudications
	// (predeterminations, forwarded claims, reversals) were skipped.
	NoticeNotAdjudicated NoticeCode = "not_adjudicated"
	// NoticeNote is a notice stored before notices had codes.
	NoticeNote NoticeCode = "note"
)

// Notice is one thing to fix about an upload as a whole.
type Notice struct {
	Code    NoticeCode `json:"code"`
	Message string     `json:"message"`
	// Fix says how to fix it in the front-end's terms; front-ends fill it.
	Fix string `json:"fix,omitempty"`
}

// UnmarshalJSON also reads the plain strings uploads stored before
// notices had codes.
func (n *Notice) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*n = Notice{Code: NoticeNote, Message: s}
		return nil
	}
	type plain Notice
	return json.Unmarshal(b, (*plain)(n))
}

// parsed is what a record stream produced, for the check.
type parsed struct {
	stats       Stats
	mappings    *Mappings
	otherGroups int // accepted records in CPT group OTHER
	fileProblem error
}

// checkParsed judges a parsed file before anything of it is kept: it
// refuses a file with nothing to store, a file mostly rejected (unless
// allowed) or a date order it cannot trust, and says what to fix about
// the rest.
func checkParsed(p parsed, opts *UploadOptions) ([]Notice, error) {
	if p.fileProblem != nil {
		return nil, p.fileProblem
	}
	stats := p.stats
	if stats.Accepted == 0 {
		return nil, &NoValidRowsError{Stats: stats}
	}
	maxShare := cmp.Or(opts.MaxRejectShare, DefaultMaxRejectShare)
	if !opts.AllowRejects && float64(stats.Rejected) > maxShare*float64(stats.Rows) {
		return nil, &TooManyRejectsError{Stats: stats, MaxShare: maxShare}
	}
	notices := []Notice{}
	if len(p.mappings.Payers) == 0 && len(p.mappings.CPTGroups) == 0 {
		notices = append(notices, Notice{Code: NoticeNoMappings, Message: "this customer has no payer or CPT group mappings: " +
			"every CPT code went to group OTHER and payers keep their spellings; load the mappings and reclassify to fix this upload too"})
	} else if p.otherGroups*2 > stats.Accepted {
		notices = append(notices, Notice{Code: NoticeMostlyOther, Message: fmt.Sprintf("%d of %d claims landed in CPT group OTHER: "+
			"the CPT group mappings miss most of this file's codes; complete them and reclassify", p.otherGroups, stats.Accepted)})
	}
	if stats.SubmittedFallbacks > 0 {
		notices = append(notices, Notice{Code: NoticeSubmittedFallback, Message: fmt.Sprintf("%d of %d claims have no received date (DTM*050): "+
			"their submitted date is the statement or service date, so their days to decision include the billing lag", stats.SubmittedFallbacks, stats.Accepted)})
	}
	if n := stats.NotAdjudicated; n.Predeterminations+n.Forwarded+n.Reversals > 0 {
		notices = append(notices, Notice{Code: NoticeNotAdjudicated, Message: fmt.Sprintf("skipped %d predeterminations and %d claims forwarded "+
			"to another payer (not adjudications); %d reversals withdrew their claims' final outcomes (stored as OTHER versions)",
			n.Predeterminations, n.Forwarded, n.Reversals)})
	}
	for _, w := range stats.WarningDetails {
		if w.Field == ColDecidedDate { // the future-date warning
			notices = append(notices, Notice{Code: NoticeFutureDates, Message: "some claims are decided in the future: check the file's dates"})
			break
		}
	}
	return notices, nil
}
