package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/webhooks"
)

// A file refused for its rows says so first, then shows its first 10 row
// errors and where the rest are, instead of 100 lines before the refusal.
func TestRefusedUploadPrintsRefusalFirstThenTenErrors(t *testing.T) {
	t.Parallel()
	stats := ingest.Stats{Rows: 300, Accepted: 60, Rejected: 240}
	for i := range ingest.MaxStoredRowErrors {
		stats.Errors = append(stats.Errors, ingest.RowError{Row: i + 2, Field: "decided_date", Message: fmt.Sprintf("bad date %d", i)})
	}
	err := refusedUpload("claims.csv", fmt.Errorf("wrapped: %w", &ingest.TooManyRejectsError{Stats: stats, MaxShare: 0.5}), false)
	if err == nil {
		t.Fatal("no refusal")
	}
	lines := strings.Split(err.Error(), "\n")
	if !strings.HasPrefix(lines[0], "claims.csv: 240 of 300 rows rejected") || !strings.Contains(lines[0], "--allow-rejects") {
		t.Fatalf("first line %q, want the refusal naming --allow-rejects", lines[0])
	}
	if len(lines) != 12 || !strings.Contains(lines[1], "row 2,") || !strings.Contains(lines[10], "row 11,") {
		t.Fatalf("%d lines, want the refusal, 10 errors and a pointer:\n%s", len(lines), err)
	}
	if !strings.Contains(lines[11], "230 more") || !strings.Contains(lines[11], "--json") {
		t.Fatalf("last line %q, want the count left and where to see them", lines[11])
	}
	if refusedUpload("x.csv", errors.New("other"), false) != nil {
		t.Fatal("an unrelated error was rendered as a refusal")
	}
}

// A private destination is refused naming the setting that allows it.
func TestPrivateWebhookRefusalNamesTheFlag(t *testing.T) {
	t.Parallel()
	err := webhookURLError("http://10.0.0.5/hook", fmt.Errorf("validate: %w", webhooks.ErrForbiddenDestination))
	if !strings.Contains(err.Error(), "--allow-private-webhooks") || !errors.Is(err, webhooks.ErrForbiddenDestination) {
		t.Fatalf("error %q, want --allow-private-webhooks named", err)
	}
	if strings.Contains(webhookURLError("ftp://x", errors.New("scheme")).Error(), "allow-private") {
		t.Fatal("a bad scheme names the private-destination flag")
	}
}

func TestCountSaysTheNounInTheRightNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		got, want string
	}{{count(1, "job"), "1 job"}, {count(0, "alert"), "0 alerts"}, {count(2, "claim"), "2 claims"}, {count(3, "query", "queries"), "3 queries"}} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
