package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/store"
)

func csvRows(rows ...string) string {
	return "payer,cpt,submitted_date,decided_date,outcome\n" + strings.Join(rows, "\n") + "\n"
}

// A DD/MM/YYYY file read as MM/DD would store some rows with day and month
// swapped and reject the rest: it is refused whole, naming a row that
// proves it, and accepted as it is with --date-format DD/MM/YYYY.
func TestDayFirstDatesAreDetectedNotSwapped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	file := csvRows("A,1,03/04/2026,05/04/2026,PAID", "A,1,23/04/2026,25/04/2026,DENIED", "A,1,01/05/2026,02/05/2026,PAID")
	_, err := e.uploader.Upload(ctx, cust, "ddmm.csv", strings.NewReader(file), nil)
	var order *ingest.DateOrderError
	if !errors.As(err, &order) || !strings.Contains(err.Error(), "row 3") || !strings.Contains(err.Error(), "DD/MM/YYYY") {
		t.Fatalf("DD/MM file: %v, want a DateOrderError naming row 3", err)
	}
	if n := e.counts(t).claims; n != 0 {
		t.Fatalf("%d claims stored from a refused file", n)
	}
	up, err := e.uploader.Upload(ctx, cust, "ddmm.csv", strings.NewReader(file), &ingest.UploadOptions{DateFormat: ingest.DateDayMonth})
	if err != nil || up.Accepted != 3 || *up.MinSubmitted != "2026-04-03" || *up.MaxSubmitted != "2026-05-01" {
		t.Fatalf("with --date-format DD/MM/YYYY: %+v, %v; want 3 claims from 3 April to 1 May", up, err)
	}
	mixed := csvRows("A,1,23/04/2026,25/04/2026,PAID", "A,1,04/23/2026,04/25/2026,PAID")
	if _, err := e.uploader.Upload(ctx, cust, "mixed.csv", strings.NewReader(mixed), nil); !errors.As(err, &order) || !strings.Contains(err.Error(), "mix") {
		t.Fatalf("mixed orders: %v, want refused as mixed", err)
	}
	if _, err := ingest.ParseDateFormat("dd/mm/yyyy"); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.ParseDateFormat("YYYY.MM.DD"); err == nil {
		t.Fatal("an unknown date format was accepted")
	}
}

// A file mostly rejected is refused, with its first errors, unless the
// user says so.
func TestMostlyRejectedFileIsRefusedUnlessAllowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	var rows []string
	for i := range 10 {
		if i < 6 {
			rows = append(rows, fmt.Sprintf("A,1,2026-01-%02d,bad,PAID", i+1))
		} else {
			rows = append(rows, fmt.Sprintf("A,1,2026-01-%02d,2026-02-01,PAID", i+1))
		}
	}
	_, err := e.uploader.Upload(ctx, cust, "bad.csv", strings.NewReader(csvRows(rows...)), nil)
	var tooMany *ingest.TooManyRejectsError
	if !errors.As(err, &tooMany) || tooMany.Stats.Rejected != 6 || len(tooMany.Stats.Errors) != 6 || tooMany.Stats.Errors[0].Row != 2 {
		t.Fatalf("60%% rejected: %v, want refused with the first errors", err)
	}
	if n := e.counts(t).uploads; n != 0 {
		t.Fatalf("%d uploads stored", n)
	}
	allowed := &ingest.UploadOptions{AllowRejects: true}
	if up, err := e.uploader.Upload(ctx, cust, "bad.csv", strings.NewReader(csvRows(rows...)), allowed); err != nil || up.Accepted != 4 {
		t.Fatalf("with --allow-rejects: %+v, %v", up, err)
	}
}

// Warnings are listed, not only counted; out-of-range dates are row
// errors; missing mappings and future dates are called out.
func TestUploadWarningsAreListed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	now := &ingest.UploadOptions{Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }}
	up, err := e.uploader.Upload(ctx, cust, "w.csv", strings.NewReader(csvRows(
		"A,1,2026-01-02,2026-01-05,PENDED",
		"A,1,2026-11-20,2026-12-24,PAID",
		"A,1,2026-01-02,9999-12-31,PAID",
		"A,1,0001-01-01,2026-01-05,PAID",
		"A,1,2026-01-03,2026-01-04,DENIED",
		"A,1,2026-01-04,2026-01-04,PAID",
		"A,1,2026-01-05,2026-01-06,PAID",
	)), now)
	if err != nil {
		t.Fatal(err)
	}
	if up.Warnings != 2 || len(up.WarningDetails) != 2 || up.WarningDetails[0].Row != 2 || !strings.Contains(up.WarningDetails[1].Message, "future") {
		t.Fatalf("warnings = %d %+v, want the unusual outcome (row 2) and the future decision listed", up.Warnings, up.WarningDetails)
	}
	if up.Rejected != 2 || !strings.Contains(up.Errors[0].Message, "out of range") || up.Errors[1].Row != 5 {
		t.Fatalf("errors = %+v, want rows 4 and 5 out of range", up.Errors)
	}
	if len(up.Notices) != 2 || up.Notices[0].Code != ingest.NoticeNoMappings || up.Notices[1].Code != ingest.NoticeFutureDates ||
		!strings.Contains(up.Notices[0].Message, "no payer or CPT group mappings") {
		t.Fatalf("notices = %+v, want the missing mappings and the future dates", up.Notices)
	}
	for _, n := range up.Notices {
		if strings.Contains(n.Message, "--") || strings.Contains(n.Message, "upstream ") {
			t.Errorf("notice %q names a CLI flag or command: front-ends say how to fix it", n.Message)
		}
	}
	stored, err := ingest.GetUpload(ctx, store.New(e.pool), cust, up.ID)
	if err != nil || len(stored.WarningDetails) != 2 || len(stored.Notices) != len(up.Notices) || stored.Notices[0] != up.Notices[0] {
		t.Fatalf("stored upload keeps %d warnings and %d notices (%v)", len(stored.WarningDetails), len(stored.Notices), err)
	}
}

// A mapping file of many bad rows keeps the first 100 errors and counts
// the rest, instead of holding (and answering with) all of them.
func TestMappingErrorsAreBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	var b strings.Builder
	b.WriteString("raw_name,normalized_name\n")
	for range 50_000 {
		b.WriteString(",\n")
	}
	_, err := ingest.ReplaceMappings(context.Background(), e.pool, cust, strings.NewReader(b.String()), nil)
	var mfe *ingest.MappingFileError
	if !errors.As(err, &mfe) || len(mfe.Errors) != ingest.MaxStoredRowErrors || mfe.Total != 50_000 || !strings.Contains(err.Error(), "and 49990 more") {
		t.Fatalf("%d errors kept of %d (%v)", len(mfe.Errors), mfe.Total, err)
	}
}

// A BOM before a quoted header is a header; a file of lone CRs is named.
func TestBOMBeforeQuotedHeaderAndCROnlyLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	bom := "\ufeff\"payer\",\"cpt\",\"submitted_date\",\"decided_date\",\"outcome\"\nA,1,2026-01-02,2026-01-05,PAID\n"
	if up, err := e.uploader.Upload(context.Background(), cust, "bom.csv", strings.NewReader(bom), nil); err != nil || up.Accepted != 1 {
		t.Fatalf("BOM + quoted header: %+v, %v", up, err)
	}
	cr := "payer,cpt,submitted_date,decided_date,outcome\rA,1,2026-01-02,2026-01-05,PAID\r"
	_, err := e.uploader.Upload(context.Background(), cust, "cr.csv", strings.NewReader(cr), nil)
	var header *ingest.HeaderError
	if !errors.As(err, &header) || !strings.Contains(err.Error(), "carriage return") {
		t.Fatalf("CR-only file: %v, want a header error naming the line endings", err)
	}
}

// Values PostgreSQL text cannot hold, and values past their column's
// bound, are row errors naming the field, never a failed upload.
func TestUnstorableValuesAreRowErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	up, err := e.uploader.Upload(context.Background(), cust, "hostile.csv", strings.NewReader(csvRows(
		"A\x00B,1,2026-01-02,2026-01-05,PAID",
		"A\xff\xfe,1,2026-01-02,2026-01-05,PAID",
		strings.Repeat("P", 3000)+",1,2026-01-02,2026-01-05,PAID",
		"A,"+strings.Repeat("9", 30)+",2026-01-02,2026-01-05,PAID",
		"A,1,2026-01-02,2026-01-05,PAID",
	)), nil)
	var tooMany *ingest.TooManyRejectsError
	if !errors.As(err, &tooMany) {
		t.Fatalf("4 of 5 rows are unstorable: %+v, %v; want the file refused as mostly rejected", up, err)
	}
	up, err = e.uploader.Upload(context.Background(), cust, "hostile.csv", strings.NewReader(csvRows(
		"A\x00B,1,2026-01-02,2026-01-05,PAID",
		"A\xff\xfe,1,2026-01-02,2026-01-05,PAID",
		strings.Repeat("P", 3000)+",1,2026-01-02,2026-01-05,PAID",
		"A,"+strings.Repeat("9", 30)+",2026-01-02,2026-01-05,PAID",
		"A,1,2026-01-02,2026-01-05,PAID",
	)), &ingest.UploadOptions{AllowRejects: true})
	if err != nil || up.Accepted != 1 || up.Rejected != 4 {
		t.Fatalf("upload = %+v, %v; want 1 accepted, 4 row errors", up, err)
	}
	for i, want := range []string{"NUL", "UTF-8", "3000 bytes", "30 bytes"} {
		if !strings.Contains(up.Errors[i].Message, want) {
			t.Errorf("error %d = %+v, want it to mention %s", i, up.Errors[i], want)
		}
	}
}

// endless yields an unclosed quote and then data forever, counting what
// was read.
type endless struct{ read int }

func (r *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "abc\n"[(r.read+i)%4]
	}
	r.read += len(p)
	return len(p), nil
}

// A record larger than the cap (an unclosed quote before an endless file)
// fails at the cap, naming its row, having read a bounded amount.
func TestRecordLargerThanTheCapFailsEarly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	rest := &endless{}
	body := io.MultiReader(strings.NewReader(csvRows("A,1,2026-01-02,2026-01-05,PAID")+"\"B,1,2026-01-02,"), rest)
	_, err := e.uploader.Upload(context.Background(), cust, "quote.csv", body, nil)
	var tooLong *ingest.RecordTooLongError
	if !errors.As(err, &tooLong) || tooLong.Row != 3 {
		t.Fatalf("unclosed quote: %v, want a RecordTooLongError at row 3", err)
	}
	if rest.read > 1<<20 {
		t.Fatalf("read %d bytes of an endless record, want at most about the %d-byte cap", rest.read, ingest.MaxRecordBytes)
	}
	if n := e.counts(t).uploads; n != 0 {
		t.Fatalf("%d uploads stored", n)
	}
}
