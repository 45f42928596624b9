package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// parseAll reads every record and applies the mappings, as an upload does.
func parseAll(t *testing.T, input string, m *Mappings) ([]Record, Stats) {
	t.Helper()
	p, err := NewCSVReader(strings.NewReader(input), "")
	if err != nil {
		t.Fatalf("NewCSVReader: %v", err)
	}
	if m == nil {
		m = &Mappings{}
	}
	var claims []Record
	for p.Next() {
		m.apply(p.Record())
		claims = append(claims, *p.Record())
	}
	if p.Err() != nil {
		t.Fatalf("parse: %v", p.Err())
	}
	return claims, p.Stats()
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParserMatchesColumnsByNameInAnyOrderWithBOMAndUnknownColumns(t *testing.T) {
	input := "\ufeffOutcome, Decided_Date ,notes,CPT,submitted_date,PAYER,allowed_amount\n" +
		"paid,2026-03-05,ignored,99213,2026-03-01,Aetna,\"$1,234.50\"\n"
	claims, stats := parseAll(t, input, nil)
	if stats.Accepted != 1 || stats.Rejected != 0 || len(claims) != 1 {
		t.Fatalf("stats = %+v, want one accepted row", stats)
	}
	c := claims[0]
	if c.Payer != "Aetna" || c.CPT != "99213" || c.CPTGroup != UnmappedCPTGroup || c.Outcome != OutcomePaid ||
		!c.SubmittedDate.Equal(date("2026-03-01")) || !c.DecidedDate.Equal(date("2026-03-05")) || c.SourceRow != 2 {
		t.Fatalf("claim = %+v", c)
	}
	if !c.AllowedAmount.Valid || c.AllowedAmount.Int.Int64() != 123450 || c.AllowedAmount.Exp != -2 {
		t.Fatalf("allowed amount = %+v, want 1234.50", c.AllowedAmount)
	}
}

func TestParserRejectsMissingRequiredColumns(t *testing.T) {
	_, err := NewCSVReader(strings.NewReader("payer,cpt,submitted_date,allowed_amount\nAetna,1,2026-01-01,3\n"), "")
	var he *HeaderError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want *HeaderError", err)
	}
	if !strings.Contains(err.Error(), `the header has "payer", "cpt", "submitted_date", "allowed_amount"`) {
		t.Errorf("error %q does not list the columns found", err)
	}
	for _, col := range []string{"decided_date", "outcome"} {
		if !strings.Contains(err.Error(), col) {
			t.Errorf("error %q does not name missing column %s", err, col)
		}
	}
	if strings.Contains(err.Error(), "missing required column(s) payer") {
		t.Errorf("error %q names a present column as missing", err)
	}
}

func TestParserRejectsEmptyFileAndDuplicateColumns(t *testing.T) {
	if _, err := NewCSVReader(strings.NewReader(""), ""); !errors.Is(err, ErrNoHeader) {
		t.Fatalf("empty file: err = %v, want ErrNoHeader", err)
	}
	_, err := NewCSVReader(strings.NewReader("payer,cpt,submitted_date,decided_date,outcome,Payer\n"), "")
	var he *HeaderError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), `"payer" appears more than once`) {
		t.Fatalf("duplicate column: err = %v", err)
	}
}

const header = "payer,cpt,submitted_date,decided_date,outcome,allowed_amount,denial_reason_code,denial_reason_text\n"

func TestParserRowValidation(t *testing.T) {
	input := header +
		",99213,2026-01-01,2026-01-02,PAID,,,\n" + // row 2: empty payer
		"Aetna,,2026-01-01,2026-01-02,PAID,,,\n" + // 3: empty cpt
		"Aetna,99213,,2026-01-02,PAID,,,\n" + // 4: empty submitted
		"Aetna,99213,2026-01-01,,PAID,,,\n" + // 5: empty decided
		"Aetna,99213,2026-01-01,2026-01-02,   ,,,\n" + // 6: blank outcome
		"Aetna,99213,2026-13-01,2026-01-02,PAID,,,\n" + // 7: bad submitted
		"Aetna,99213,2026-01-01,01-02-2026,PAID,,,\n" + // 8: bad decided format
		"Aetna,99213,2026-01-05,2026-01-04,PAID,,,\n" + // 9: decided before submitted
		"Aetna,99213\n" + // 10: short row
		"\n" + // 11: blank line, skipped
		"Aetna,99213,01/05/2026,2026/1/6,approved,12x,CO-45,text\n" + // 12: ok, amount unparseable
		"Aetna,99213,1/5/2026,01/05/2026,Declined,,,\n" + // 13: ok, same day
		"Aetna,99213,2026-01-05,2026-01-09,pending review,,,\n" // 14: ok with warning -> OTHER
	claims, stats := parseAll(t, input, nil)
	wantErrors := []RowError{
		{2, "payer", "required value is empty"},
		{3, "cpt", "required value is empty"},
		{4, "submitted_date", "required value is empty"},
		{5, "decided_date", "required value is empty"},
		{6, "outcome", "required value is empty"},
		{7, "submitted_date", `unparseable date "2026-13-01" (use YYYY-MM-DD, MM/DD/YYYY or YYYY/MM/DD)`},
		{8, "decided_date", `unparseable date "01-02-2026" (use YYYY-MM-DD, MM/DD/YYYY or YYYY/MM/DD)`},
		{9, "decided_date", "decided 2026-01-04 before submitted 2026-01-05"},
		{10, "submitted_date", "required value is empty"},
	}
	if fmt.Sprint(stats.Errors) != fmt.Sprint(wantErrors) {
		t.Fatalf("errors =\n%v\nwant\n%v", stats.Errors, wantErrors)
	}
	if stats.Rows != 12 || stats.Accepted != 3 || stats.Rejected != 9 || stats.Warnings != 2 ||
		stats.WarningDetails[0] != (RowError{12, "allowed_amount", `"12x" is not an amount (stored empty)`}) {
		t.Fatalf("stats = %+v, want rows 12, accepted 3, rejected 9, warnings 2 (the amount first)", stats)
	}
	if claims[0].SourceRow != 12 || claims[0].Outcome != OutcomePaid || claims[0].AllowedAmount.Valid ||
		*claims[0].DenialReasonCode != "CO-45" || !claims[0].SubmittedDate.Equal(date("2026-01-05")) || !claims[0].DecidedDate.Equal(date("2026-01-06")) {
		t.Errorf("row 12 = %+v", claims[0])
	}
	if claims[1].Outcome != OutcomeDenied || claims[1].DenialReasonCode != nil {
		t.Errorf("row 13 = %+v", claims[1])
	}
	if claims[2].Outcome != OutcomeOther {
		t.Errorf("row 14 outcome = %s, want OTHER", claims[2].Outcome)
	}
	if !stats.MinSubmitted.Equal(date("2026-01-05")) || !stats.MaxSubmitted.Equal(date("2026-01-05")) {
		t.Errorf("date range = %v..%v", stats.MinSubmitted, stats.MaxSubmitted)
	}
}

func TestParserKeepsFirst100ErrorsAndCountsAll(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	for range 250 {
		b.WriteString("Aetna,99213,bad,2026-01-02,PAID,,,\n")
	}
	b.WriteString("Aetna,99213,2026-01-01,2026-01-02,PAID,,,\n")
	_, stats := parseAll(t, b.String(), nil)
	if stats.Rejected != 250 || len(stats.Errors) != MaxStoredRowErrors || stats.Accepted != 1 {
		t.Fatalf("rejected %d, kept %d errors, accepted %d; want 250, %d, 1", stats.Rejected, len(stats.Errors), stats.Accepted, MaxStoredRowErrors)
	}
	if stats.Errors[99].Row != 101 {
		t.Fatalf("100th kept error is row %d, want 101", stats.Errors[99].Row)
	}
}

func TestParserRejectsMalformedRowAndContinues(t *testing.T) {
	input := header +
		"Aetna,99213,2026-01-01,2026-01-02,PAID,,,\n" +
		"Ae\"tna,99213,2026-01-01,2026-01-02,PAID,,,\n" +
		"Cigna,99213,2026-01-01,2026-01-02,PAID,,,\n"
	claims, stats := parseAll(t, input, nil)
	if stats.Accepted != 2 || stats.Rejected != 1 || stats.Errors[0].Row != 3 || !strings.Contains(stats.Errors[0].Message, "malformed CSV") {
		t.Fatalf("stats = %+v", stats)
	}
	if claims[1].Payer != "Cigna" {
		t.Fatalf("row after the malformed one = %+v", claims[1])
	}
}

func TestParserAppliesMappingsCaseInsensitivelyAfterTrimming(t *testing.T) {
	m := &Mappings{
		Payers:    map[string]string{PayerKey("  AETNA Inc. "): "Aetna"},
		CPTGroups: map[string]string{CPTKey("0001u"): "LAB", CPTKey("99213"): "E&M"},
	}
	input := header +
		"  aetna inc.  ,99213,2026-01-01,2026-01-02,PAID,,,\n" +
		"Aetna Inc.,0001U ,2026-01-01,2026-01-02,PAID,,,\n" +
		" Unmapped Payer ,12345,2026-01-01,2026-01-02,PAID,,,\n"
	claims, _ := parseAll(t, input, m)
	got := []string{}
	for _, c := range claims {
		got = append(got, c.Payer+"/"+c.CPT+"/"+c.CPTGroup)
	}
	want := []string{"Aetna/99213/E&M", "Aetna/0001U/LAB", "Unmapped Payer/12345/OTHER"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("mapped = %v, want %v", got, want)
	}
}

func TestNormalizeOutcome(t *testing.T) {
	for raw, want := range map[string]string{
		"PAID": OutcomePaid, " approved ": OutcomePaid, "Accepted": OutcomePaid,
		"denied": OutcomeDenied, "REJECTED": OutcomeDenied, "declined ": OutcomeDenied,
		"pending": OutcomeOther, "partial": OutcomeOther,
	} {
		got, usual := NormalizeOutcome(raw)
		if got != want || usual != (want != OutcomeOther) {
			t.Errorf("NormalizeOutcome(%q) = %s, %v; want %s", raw, got, usual, want)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]string{
		"12": "1200e-2", "12.3": "1230e-2", "$1,234.56": "123456e-2", "-5.00": "-500e-2", "$-5": "-500e-2",
		".5": "50e-2", "1.005": "101e-2", "1.004": "100e-2", "9999999999.99": "999999999999e-2",
		"": "invalid", "abc": "invalid", "1.2.3": "invalid", "10000000000": "invalid", "9999999999.995": "invalid", ".": "invalid", "1e5": "invalid",
	} {
		n := ParseAmount(in)
		got := "invalid"
		if n.Valid {
			got = fmt.Sprintf("%se%d", n.Int, n.Exp)
		}
		if got != want {
			t.Errorf("ParseAmount(%q) = %s, want %s", in, got, want)
		}
	}
}

// Notices stored before they had codes (plain strings) still read.
func TestNoticeReadsLegacyStrings(t *testing.T) {
	var got []Notice
	if err := json.Unmarshal([]byte(`["old text",{"code":"future_dates","message":"m"}]`), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (Notice{Code: NoticeNote, Message: "old text"}) || got[1] != (Notice{Code: NoticeFutureDates, Message: "m"}) {
		t.Fatalf("notices = %+v", got)
	}
}
