package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/jobs"
)

// UploadCmd uploads claims files, lists and deletes uploads.
type UploadCmd struct {
	// The default command, written as the README writes it: `upstream
	// upload --customer NAME FILE` (hidden, so help does not say "upload file").
	File   UploadFileCmd   `cmd:"" default:"withargs" hidden:"" help:"Upload a claims CSV file: upstream upload --customer NAME FILE."`
	List   UploadListCmd   `cmd:"" help:"List a customer's uploads, newest first."`
	Delete UploadDeleteCmd `cmd:"" help:"Delete an upload: its claims leave the statistics and a drift computation is requested."`
}

// UploadFileCmd uploads a claims file.
type UploadFileCmd struct {
	Customer      string `required:"" help:"Customer name."`
	File          string `arg:"" type:"existingfile" help:"Claims CSV file."`
	MaxBytes      int64  `name:"max-bytes" env:"UPSTREAM_MAX_UPLOAD_BYTES" default:"${max_upload_bytes}" help:"Upload size limit in bytes."`
	DateFormat    string `name:"date-format" help:"How to read slash dates: MM/DD/YYYY, DD/MM/YYYY or YYYY-MM-DD (default: detect, and refuse a DD/MM file read as MM/DD)."`
	AllowRejects  bool   `name:"allow-rejects" help:"Store the valid rows even when more than half of the rows are rejected."`
	ClaimIDColumn string `name:"claim-id-column" help:"Column holding the claim ids when it is not claim_id (rows with one id are versions of one claim)."`
	Format        string `enum:",csv,x12" default:"" help:"csv or x12 (an 835 remittance); by default X12 when the file starts with ISA, else CSV."`
	Overlap       string `name:"overlap" default:"refuse" enum:"refuse,replace,append" help:"A file without claim ids whose decision dates overlap an earlier upload's for a payer: refuse it, replace the earlier claims within its dates (\"last N days\" exports), or append it as different claims."`
	JSON          bool   `name:"json" help:"Print JSON."`
}

// uploadGCPercent is the garbage collector's target for the upload command
// (unless GOGC says otherwise): the statistics it holds are bounded
// (claimstats.DefaultMaxRows) but long-lived, and the default (100) would
// let the heap grow to twice them.
const uploadGCPercent = 25

// Run streams the file into the customer's claims.
func (c *UploadFileCmd) Run(ctx context.Context, e *env) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(uploadGCPercent)
	}
	dateFormat, err := ingest.ParseDateFormat(c.DateFormat)
	if err != nil {
		return usage(fmt.Errorf("--date-format: %w", err))
	}
	pool, cust, err := e.openCustomer(ctx, c.Customer, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	flows, err := e.ingestFlows(pool)
	if err != nil {
		return err
	}
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	overlap, err := ingest.ParseOverlapMode(c.Overlap)
	if err != nil {
		return usage(fmt.Errorf("--overlap: %w", err))
	}
	opts := &ingest.UploadOptions{MaxBytes: c.MaxBytes, DateFormat: dateFormat, AllowRejects: c.AllowRejects, ClaimIDColumn: c.ClaimIDColumn, Overlap: overlap, Format: c.Format}
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	progress := newProgressReader(f, size, c.JSON)
	up, err := flows.Upload(ctx, cust.ID, filepath.Base(c.File), progress, opts)
	progress.done()
	var dup *ingest.DuplicateError
	if errors.As(err, &dup) && c.JSON {
		first, convErr := ingest.UploadFromRow(dup.First)
		if convErr != nil {
			return convErr
		}
		if err := printJSON(map[string]any{"error": err.Error(), "duplicate_of": first.ID, "sha256": first.SHA256, "filename": filepath.Base(c.File)}); err != nil {
			return err
		}
		return err
	}
	if refused := refusedUpload(c.File, err, c.JSON); refused != nil {
		return refused
	}
	switch {
	case errors.Is(err, ingest.ErrCommitUnknown):
		return fmt.Errorf("%s: %w\ncheck whether it is there before uploading again: upstream upload list --customer %q (an upload of the same file again is refused as a duplicate if it was stored)",
			c.File, err, cust.Name)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("%s: interrupted before the upload committed: nothing was stored (%w)", c.File, err)
	case err != nil:
		return fmt.Errorf("%s: %w", c.File, err)
	}
	if c.JSON {
		return printJSON(up)
	}
	fmt.Printf("upload %d: %s\n", up.ID, up.Filename)
	fmt.Printf("  rows %d, accepted %d, rejected %d, warnings %d\n", up.Rows, up.Accepted, up.Rejected, up.Warnings)
	fmt.Printf("  claims: %d new, %d revised, %d unchanged\n", up.New, up.Revised, up.Unchanged)
	fmt.Printf("  submitted dates %s .. %s, sha256 %s\n", *up.MinSubmitted, *up.MaxSubmitted, up.SHA256)
	if up.JobCoalesced {
		fmt.Printf("  drift job %d (already queued for this customer; it will include this upload)\n", *up.JobID)
	} else {
		fmt.Printf("  drift job %d enqueued\n", *up.JobID)
	}
	printWorkerHint(ctx, pool, cust.Name)
	printRowErrors(os.Stdout, up.Errors, up.Rejected)
	for _, w := range up.WarningDetails {
		fmt.Printf("  warning: row %d, %s: %s\n", w.Row, w.Field, w.Message)
	}
	if up.Warnings > len(up.WarningDetails) {
		fmt.Printf("  ... and %d more warnings\n", up.Warnings-len(up.WarningDetails))
	}
	for _, n := range up.Notices {
		fmt.Printf("  note: %s\n", n.Message)
		if fix := noticeFix(n.Code, cust.Name); fix != "" {
			fmt.Printf("    fix: %s\n", fix)
		}
	}
	return nil
}

// noticeFix is how the CLI fixes what a notice says.
func noticeFix(code ingest.NoticeCode, customer string) string {
	switch code {
	case ingest.NoticeNoMappings, ingest.NoticeMostlyOther:
		return fmt.Sprintf("upstream mappings load --customer %q --cpt-groups CPT_GROUPS.csv --payers PAYERS.csv --reclassify", customer)
	}
	return ""
}

// shownRowErrors is how many row errors a refused upload prints.
const shownRowErrors = 10

// refusedUpload renders a file refused for its rows: the refusal first,
// then its first row errors and where the rest are (--json keeps the
// first ingest.MaxStoredRowErrors). Other errors are nil here.
func refusedUpload(file string, err error, asJSON bool) error {
	var stats ingest.Stats
	var noRows *ingest.NoValidRowsError
	var tooMany *ingest.TooManyRejectsError
	var order *ingest.DateOrderError
	msg := ""
	switch {
	case errors.As(err, &noRows):
		stats, msg = noRows.Stats, noRows.Error()
	case errors.As(err, &tooMany):
		stats, msg = tooMany.Stats, tooMany.Error()+" (--allow-rejects)"
	case errors.As(err, &order) && order.DayFirst:
		return fmt.Errorf("%s: %w (--date-format DD/MM/YYYY)", file, err)
	case errors.As(err, new(*ingest.OverlapError)):
		return fmt.Errorf("%s: %w (a claim_id column or --claim-id-column, --overlap replace, or --overlap append)", file, err)
	default:
		return nil
	}
	if asJSON {
		_ = printJSON(map[string]any{"error": msg, "rows": stats.Rows, "rejected": stats.Rejected, "errors": stats.Errors})
		return fmt.Errorf("%s: %s", file, msg)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", file, msg)
	shown := stats.Errors[:min(len(stats.Errors), shownRowErrors)]
	printRowErrors(&b, shown, len(shown))
	if more := stats.Rejected - len(shown); more > 0 {
		fmt.Fprintf(&b, "  ... and %d more rejected rows; --json lists the first %d with their rows and fields", more, len(stats.Errors))
	}
	return errors.New(strings.TrimRight(b.String(), "\n"))
}

func printRowErrors(w io.Writer, errs []ingest.RowError, rejected int) {
	for _, re := range errs {
		field := re.Field
		if field == "" {
			field = "(row)"
		}
		fmt.Fprintf(w, "  row %d, %s: %s\n", re.Row, field, re.Message)
	}
	if rejected > len(errs) {
		fmt.Fprintf(w, "  ... and %d more rejected rows\n", rejected-len(errs))
	}
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// UploadListCmd lists uploads.
type UploadListCmd struct {
	Customer string `required:"" help:"Customer name."`
	Limit    int    `default:"50" help:"How many uploads (at most 500)."`
	JSON     bool   `name:"json" help:"Print JSON."`
}

// Run lists the uploads.
func (c *UploadListCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	ups, err := ingest.ListUploads(ctx, store.New(pool), cust.ID, c.Limit, 0)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(map[string]any{"uploads": ups})
	}
	if len(ups) == 0 {
		fmt.Printf("customer %q has no uploads\n", cust.Name)
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFILE\tUPLOADED\tROWS\tACCEPTED\tREJECTED\tWARNINGS\tNEW\tREVISED\tUNCHANGED\tSUBMITTED FROM\tTO")
	for _, u := range ups {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", u.ID, u.Filename, u.CreatedAt.UTC().Format(time.RFC3339), u.Rows, u.Accepted,
			u.Rejected, u.Warnings, u.New, u.Revised, u.Unchanged, orDash(u.MinSubmitted, ""), orDash(u.MaxSubmitted, ""))
	}
	return tw.Flush()
}

// UploadDeleteCmd deletes an upload.
type UploadDeleteCmd struct {
	Customer string `required:"" help:"Customer name."`
	ID       int64  `arg:"" help:"Upload ID (see 'upload list')."`
	JSON     bool   `name:"json" help:"Print JSON."`
}

// Run deletes the upload in one transaction with its statistics and a
// drift request.
func (c *UploadDeleteCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	flows, err := e.ingestFlows(pool)
	if err != nil {
		return err
	}
	deleted, err := flows.DeleteUpload(ctx, cust.ID, c.ID)
	if errors.Is(err, ingest.ErrUploadNotFound) {
		return fmt.Errorf("customer %q has no upload %d (see `upstream upload list --customer %s`)", cust.Name, c.ID, cust.Name)
	}
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(deleted)
	}
	fmt.Printf("deleted upload %d (%s, %s); drift job %d recomputes %s (run `upstream worker` if none is running)\n",
		deleted.Upload.ID, deleted.Upload.Filename, count(deleted.Upload.Accepted, "claim"), deleted.JobID, cust.Name)
	return nil
}

// printWorkerHint says whether a worker will pick the job up, and how to
// start one when none is running.
func printWorkerHint(ctx context.Context, pool *pgxpool.Pool, customer string) {
	alive, err := jobs.WorkerAlive(ctx, pool)
	switch {
	case err != nil:
		return // a hint, not worth failing the command
	case alive:
		fmt.Println("  a worker is running: the results appear in `upstream drift events --customer " + customer + "` shortly")
	default:
		fmt.Println("  no worker is running: start one with `upstream worker` (or `upstream serve`), or compute now with `upstream drift run --customer " + customer + " --wait`")
	}
}
