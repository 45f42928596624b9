package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/jobs"
)

// UploadCmd uploads a claims file.
type UploadCmd struct {
	Customer string `required:"" help:"Customer name."`
	File     string `arg:"" type:"existingfile" help:"Claims CSV file."`
	MaxBytes int64  `name:"max-bytes" env:"UPSTREAM_MAX_UPLOAD_BYTES" default:"${max_upload_bytes}" help:"Upload size limit in bytes."`
	JSON     bool   `name:"json" help:"Print JSON."`
}

// Run streams the file into the customer's claims.
func (c *UploadCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := e.riverClient(pool, nil)
	if err != nil {
		return err
	}
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	uploader := &ingest.Uploader{Pool: pool, EnqueueDrift: jobs.DriftEnqueuer(client), MaxBytes: c.MaxBytes}
	up, err := uploader.Upload(ctx, cust.ID, filepath.Base(c.File), f)
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
	var noRows *ingest.NoValidRowsError
	if errors.As(err, &noRows) {
		printRowErrors(os.Stderr, noRows.Stats.Errors, noRows.Stats.Rejected)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", c.File, err)
	}
	if c.JSON {
		return printJSON(up)
	}
	fmt.Printf("upload %d: %s\n", up.ID, up.Filename)
	fmt.Printf("  rows %d, accepted %d, rejected %d, warnings %d\n", up.Rows, up.Accepted, up.Rejected, up.Warnings)
	fmt.Printf("  submitted dates %s .. %s, sha256 %s\n", *up.MinSubmitted, *up.MaxSubmitted, up.SHA256)
	if up.JobCoalesced {
		fmt.Printf("  drift job %d (already queued for this customer; it will include this upload)\n", *up.JobID)
	} else {
		fmt.Printf("  drift job %d enqueued\n", *up.JobID)
	}
	printRowErrors(os.Stdout, up.Errors, up.Rejected)
	return nil
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
