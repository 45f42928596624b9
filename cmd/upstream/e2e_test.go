package main_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/jobs"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// buildBinary compiles upstream once for this test.
// testSecretKeyEnv gives the binary a server key, as a deployment on
// DATABASE_URL must (the private cluster would keep one of its own).
const testSecretKeyEnv = "UPSTREAM_SECRET_KEY=dGVzdC1vbmx5LWtleS1vZi10aGlydHktdHdvLWJ5dGU="

func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "upstream")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The whole product as processes: `upstream serve` and two `upstream
// worker`s on one database; uploads for several customers through the CLI;
// `upstream weekly`; then every customer has exactly one weekly run that
// read all its claims, and every process shuts down cleanly on SIGTERM.
func TestServeAndTwoWorkersProcessUploadsAndWeeklyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	dsn := testdb.URL(t)
	pool := testdb.NewPool(t, dsn)
	env := append(os.Environ(), "DATABASE_URL="+dsn, "UPSTREAM_LOG_LEVEL=warn", testSecretKeyEnv)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("upstream %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	start := func(name string, args ...string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		logFile, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		return cmd
	}

	schedule, err := jobs.ParseWeeklySchedule(jobs.DefaultWeeklySchedule)
	if err != nil {
		t.Fatal(err)
	}
	asOf := schedule.AsOf(time.Now())
	const customers = 4
	dir := t.TempDir()
	for i := range customers {
		name := fmt.Sprintf("clinic-%d", i)
		run("customer", "create", name)
		for u := range 3 {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.csv", name, u))
			var b strings.Builder
			b.WriteString("payer,cpt,submitted_date,decided_date,outcome\n")
			for k := range 40 {
				sub := asOf.AddDate(0, 0, -1-(k+u*7)%100)
				fmt.Fprintf(&b, "Payer%d,99213,%s,%s,%s\n", u, sub.Format(time.DateOnly), sub.AddDate(0, 0, k%9).Format(time.DateOnly), []string{"PAID", "DENIED"}[k%2])
			}
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			run("upload", "--customer", name, path)
		}
	}
	// The processes start once the data is in: serve's fan-out runs at
	// start, and a weekly run computed mid-upload would (rightly) not
	// reflect every upload.
	addr := freeAddr(t)
	serve := start("serve", "serve", "--addr", addr)
	workers := []*exec.Cmd{start("worker1", "worker", "--drift-workers", "2"), start("worker2", "worker", "--drift-workers", "2")}
	waitHTTP(t, "http://"+addr+"/readyz")
	out := run("weekly", "--as-of", asOf.Format(time.DateOnly))
	if !strings.Contains(out, "weekly fan-out as of "+asOf.Format(time.DateOnly)) {
		t.Fatalf("weekly printed %q", out)
	}
	run("jobs", "wait", "--timeout", "60s")

	ctx := context.Background()
	var weeklyOK, uploadOK int
	err = pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT customer_id FROM report_runs WHERE run_type = 'weekly' AND status = 'success' AND as_of = $1
		   GROUP BY customer_id HAVING count(*) = 1 AND max(claims_read) = 120) w),
		(SELECT count(DISTINCT customer_id) FROM report_runs WHERE run_type = 'upload' AND status = 'success' AND claims_read = 120)`,
		asOf).Scan(&weeklyOK, &uploadOK)
	if err != nil {
		t.Fatal(err)
	}
	if weeklyOK != customers || uploadOK != customers {
		t.Fatalf("%d customers with one complete weekly run, %d with an upload run reflecting all uploads; want %d each", weeklyOK, uploadOK, customers)
	}
	events := run("drift", "events", "--customer", "clinic-0", "--json")
	if !strings.Contains(events, `"report_run"`) || !strings.Contains(events, `"events"`) {
		t.Fatalf("drift events --json printed %q", events)
	}

	for _, p := range append(workers, serve) {
		if err := p.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range append(workers, serve) {
		if err := p.Wait(); err != nil {
			t.Errorf("%s exited with %v after SIGTERM, want 0", strings.Join(p.Args, " "), err)
		}
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 60s", url)
}

// Exit codes and messages a script or a person relies on: usage errors are
// one message and a pointer to --help (exit 2), failures exit 1, --version
// prints the build.
func TestExitCodesAndUsageErrors(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dsn := testdb.URL(t)
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn, testSecretKeyEnv)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	for _, args := range [][]string{{"bogus"}, {"upload", "--customer"}, {"drift", "run"}} {
		code, out := run(args...)
		if code != 2 || strings.Count(strings.TrimSpace(out), "\n") != 1 || !strings.Contains(out, "--help") {
			t.Errorf("%v: exit %d, output %q; want exit 2 with the message and one line about --help", args, code, out)
		}
	}
	// Help writes the upload as the README does.
	for _, args := range [][]string{{"upload", "--help"}, {"upload", "--customer", "x", bin, "--help"}} {
		if code, out := run(args...); code != 0 || !strings.Contains(out, "upstream upload --customer") || strings.Contains(out, "upload file") {
			t.Errorf("%v: exit %d, %q; want the upload written `upstream upload --customer NAME FILE`", args, code, out)
		}
	}
	if code, out := run("--version"); code != 0 || !strings.HasPrefix(out, "upstream ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if code, out := run("drift", "events", "--customer", "nobody"); code != 1 || !strings.Contains(out, `customer "nobody"`) {
		t.Errorf("unknown customer: exit %d, %q; want exit 1 naming it", code, out)
	}
	if code, out := run("customer", "create", "Acme Clinic"); code != 0 || !strings.Contains(out, "Acme Clinic") {
		t.Fatalf("customer create: %d %q", code, out)
	}
	if code, out := run("drift", "events", "--customer", "acme clinc"); code != 1 || !strings.Contains(out, `did you mean "Acme Clinic"?`) {
		t.Errorf("near miss: exit %d, %q; want a suggestion", code, out)
	}
	if code, out := run("customer", "create", "ACME CLINIC"); code != 1 || !strings.Contains(out, "already exists") {
		t.Errorf("a name differing only by case: exit %d, %q; want refused", code, out)
	}
	for _, args := range [][]string{{"--as-of", "11/23/2026"}, {"--fdr", "5"}, {"--current-days", "0"}} {
		code, out := run(append([]string{"drift", "run", "--customer", "acme clinic"}, args...)...)
		if code != 2 || !strings.Contains(out, args[0]) || !strings.Contains(out, "--help") {
			t.Errorf("drift run %v: exit %d, %q; want a usage error (2) naming the flag", args, code, out)
		}
	}
	if code, out := run("jobs", "wait", "--timeout", "30s"); code != 0 || !strings.Contains(out, "no unfinished jobs") {
		t.Errorf("jobs wait on an empty queue: %d %q", code, out)
	}
	path := filepath.Join(t.TempDir(), "claims.csv")
	if err := os.WriteFile(path, []byte("payer,cpt,submitted_date,decided_date,outcome\nA,1,2026-01-02,2026-01-05,PAID\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := run("upload", "--customer", "acme clinic", path)
	if code != 0 || !strings.Contains(out, "no worker is running") || !strings.Contains(out, "no payer or CPT group mappings") ||
		!strings.Contains(out, "fix: upstream mappings load") {
		t.Fatalf("upload without a worker or mappings: %d %q; want it to say so, and how to fix it", code, out)
	}
	// Another file over the same dates, without claim ids: refused, saying
	// how to go on; appended when told.
	again := filepath.Join(t.TempDir(), "again.csv")
	if err := os.WriteFile(again, []byte("payer,cpt,submitted_date,decided_date,outcome\nA,2,2026-01-01,2026-01-05,PAID\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := run("upload", "--customer", "acme clinic", again); code != 1 || !strings.Contains(out, "claims.csv") || !strings.Contains(out, "--overlap") {
		t.Errorf("an overlapping file: exit %d, %q; want exit 1 naming the earlier upload and --overlap", code, out)
	}
	if code, out := run("upload", "--customer", "acme clinic", "--overlap", "append", again); code != 0 || !strings.Contains(out, "claims: 1 new, 0 revised, 0 unchanged") {
		t.Errorf("the same file appended: exit %d, %q", code, out)
	}
	if code, out := run("drift", "trend", "--customer", "acme clinic", "--payer", "a", "--cpt-group", "other", "--as-of", "2026-01-10", "--weeks", "2"); code != 0 ||
		!strings.Contains(out, "A / OTHER") {
		t.Errorf("trend in another case: exit %d, %q", code, out)
	}
	if code, out := run("drift", "trend", "--customer", "acme clinic", "--payer", "aetna", "--cpt-group", "OTHER"); code != 1 ||
		!strings.Contains(out, `no claims for payer "aetna"`) {
		t.Errorf("trend of an unknown payer: exit %d, %q; want exit 1 saying there are no claims", code, out)
	}
	if code, out := run("alerts", "ack", "--customer", "acme clinic", "--payer", "A", "--cpt-group", "OTHER", "--drift-type", "DENIAL_RATE"); code != 1 ||
		!strings.Contains(out, `no alerts for payer "A"`) {
		t.Errorf("ack without alerts: exit %d, %q", code, out)
	}
	// The job waits and no worker runs: jobs wait fails fast, naming the fix.
	start := time.Now()
	if code, out := run("jobs", "wait", "--timeout", "2m"); code != 1 || !strings.Contains(out, "1 job is waiting and no worker is running") || time.Since(start) > time.Minute {
		t.Errorf("jobs wait with no worker: exit %d after %s, %q; want a fast failure naming the fix", code, time.Since(start).Round(time.Second), out)
	}
}
