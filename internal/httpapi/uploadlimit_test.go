package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/httpapi"
)

// stalledUpload opens a connection, sends an upload's headers (and, with
// partial, the first lines of its body) and then nothing, as a hostile or
// broken client would. It returns the connection and the status the
// server answers with, read in the background.
func stalledUpload(t *testing.T, base string, customerID int64, key string, partial bool) (net.Conn, <-chan int) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := ""
	if partial {
		body = "payer,cpt,submitted_date,decided_date,outcome\nAetna,99213,2026-11-02,2026-11-05,PAID\n"
	}
	fmt.Fprintf(conn, "POST /api/v1/customers/%d/uploads?filename=stalled.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: text/csv\r\nContent-Length: 100000\r\n\r\n%s", customerID, key, body)
	status := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	return conn, status
}

// Twenty stalled uploads from one customer (half with no body, half that
// stop mid-body) take at most that customer's upload slots: another
// customer's reads and uploads and /readyz answer throughout, the stalled
// uploads are refused (429) or aborted after the stall timeout (408), and
// no connection is left in a transaction.
func TestStalledUploadsCannotStarveOtherCustomers(t *testing.T) {
	t.Parallel()
	const stall = 1500 * time.Millisecond
	e := newAPI(t, func(c *httpapi.Config) {
		c.MaxUploads, c.MaxUploadsPerCustomer, c.UploadStallTimeout = 2, 1, stall
	})
	hostile, hostileKey := e.customerWithKey("hostile")
	other, otherKey := e.customerWithKey("other")

	var statuses []<-chan int
	for i := range 20 {
		_, status := stalledUpload(t, e.url, hostile, hostileKey, i%2 == 1)
		statuses = append(statuses, status)
	}
	client := &http.Client{Timeout: time.Second} // "answers within 1 s"
	get := func(path, key string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", e.url+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s while uploads stall: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Reads and readiness through the stall, and another customer's upload.
	var wg sync.WaitGroup
	var otherDone atomic.Bool
	wg.Go(func() {
		defer otherDone.Store(true)
		r := e.do("POST", fmt.Sprintf("/api/v1/customers/%d/uploads?filename=ok.csv", other), otherKey, "text/csv",
			strings.NewReader(claimsBody(50, "other", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))))
		if r.status != http.StatusCreated {
			t.Errorf("the other customer's upload during the stall: %d %s", r.status, r.body)
		}
	})
	for end := time.Now().Add(stall - 200*time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if s := get("/readyz", ""); s != http.StatusOK {
			t.Fatalf("/readyz = %d while uploads stall", s)
		}
		if s := get(fmt.Sprintf("/api/v1/customers/%d/uploads", other), otherKey); s != http.StatusOK {
			t.Fatalf("the other customer's upload list = %d while uploads stall", s)
		}
		// The other customer's upload, while it runs, is a transaction of
		// its own (between statements, idle in transaction too).
		allowed := 1
		if !otherDone.Load() {
			allowed = 2
		}
		var inTx int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle in transaction'`).Scan(&inTx); err != nil {
			t.Fatal(err)
		}
		if inTx > allowed {
			t.Fatalf("%d connections idle in transaction; the hostile customer has one upload slot", inTx)
		}
	}
	wg.Wait()

	counts := map[int]int{}
	for _, status := range statuses {
		select {
		case s := <-status:
			counts[s]++
		case <-time.After(10 * time.Second):
			t.Fatal("a stalled upload got no answer")
		}
	}
	if counts[http.StatusTooManyRequests] < 18 || counts[http.StatusTooManyRequests]+counts[http.StatusRequestTimeout] != 20 {
		t.Fatalf("stalled uploads answered %v; want 429 for all but the one slot, 408 for that one", counts)
	}
	var stored, inTx int
	if err := e.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM uploads WHERE customer_id = $1),
		(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction')`, hostile).Scan(&stored, &inTx); err != nil {
		t.Fatal(err)
	}
	if stored != 0 || inTx != 0 {
		t.Fatalf("after the stall: %d uploads stored for the stalled customer, %d connections in a transaction; want 0 and 0", stored, inTx)
	}
	// The slots are free again.
	r := e.do("POST", fmt.Sprintf("/api/v1/customers/%d/uploads?filename=late.csv", hostile), hostileKey, "text/csv",
		strings.NewReader(claimsBody(20, "late", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))))
	if r.status != http.StatusCreated {
		t.Fatalf("an upload after the stall: %d %s", r.status, r.body)
	}
}

// syncBuffer is a log destination the server's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A client that goes away mid-upload is logged as an abort, not as a
// server error, and nothing of its upload is stored.
func TestClientAbortIsLoggedAsAbort(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := newAPI(t, func(c *httpapi.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	cust, key := e.customerWithKey("acme")
	conn, _ := stalledUpload(t, e.url, cust, key, true)
	// Wait for the upload's transaction (not a fixed sleep: under load the
	// handler may not have begun it yet, and closing first tests nothing).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var inTx int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'copy%claim_records%'`).Scan(&inTx); err != nil {
			t.Fatal(err)
		}
		if inTx > 0 {
			break // its COPY is under way
		}
		if time.Now().After(deadline) {
			t.Fatal("the stalled upload never began its transaction")
		}
	}
	conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "upload aborted by the client") {
		if time.Now().After(deadline) {
			t.Fatalf("no abort logged:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a client abort was logged as an error:\n%s", logs)
	}
	var stored int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM uploads`).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("%d uploads stored (%v)", stored, err)
	}
}
