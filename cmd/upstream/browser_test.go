package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/upstream-rcm/upstream/internal/testdb"
)

// chromium finds the browser: $UPSTREAM_CHROMIUM or Debian's chromium.
// Without one the browser test skips, unless UPSTREAM_REQUIRE_BROWSER is
// set (CI installs chromium and sets it, so the test cannot skip there).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("UPSTREAM_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("UPSTREAM_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium found and UPSTREAM_REQUIRE_BROWSER is set (apt-get install chromium)")
	}
	t.Skip("no chromium on this machine: the browser test needs Debian's chromium package (.ci/run installs it)")
	return ""
}

// artifactsDir is where a failing browser test leaves its screenshots.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("UPSTREAM_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "upstream-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The drift page as a user meets it, in headless Chromium: the demo's data
// and a delivered webhook, `upstream serve`, then log in, open the
// customer, read the alerts and why they fired, open a trend chart, filter,
// download the CSV and acknowledge an alert.
func TestDriftPageInARealBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and drives a browser")
	}
	t.Parallel()
	chrome := chromium(t)
	bin := buildBinary(t)
	dsn := testdb.URL(t)
	const admin = "browser-test-admin-key-0123456789"
	env := append(os.Environ(), "DATABASE_URL="+dsn, "UPSTREAM_LOG_LEVEL=warn", testSecretKeyEnv)

	var hooks atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hooks.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	demoCmd := exec.Command(bin, "demo", "--webhook", receiver.URL+"/hooks")
	demoCmd.Env = env
	if out, err := demoCmd.CombinedOutput(); err != nil {
		t.Fatalf("upstream demo: %v\n%s", err, out)
	}
	if hooks.Load() == 0 {
		t.Fatal("the demo delivered no webhook")
	}

	addr := freeAddr(t)
	serve := exec.Command(bin, "serve", "--addr", addr, "--admin-key", admin)
	serve.Env = env
	logFile, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	serve.Stdout, serve.Stderr = logFile, logFile
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill(); _ = serve.Wait() })
	base := "http://" + addr
	waitHTTP(t, base+"/readyz")

	downloads := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	t.Cleanup(cancelAlloc) // cleanups, not defers: the screenshot below runs before them
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	// The first Run starts the browser and must not carry a timeout (it
	// would stop the browser); each step below gets its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step := "start the browser"
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		shotCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(shotCtx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		path := filepath.Join(artifactsDir(t), fmt.Sprintf("%s-%d.png", t.Name(), time.Now().Unix()))
		if err := os.WriteFile(path, png, 0o644); err == nil {
			t.Logf("screenshot at the failed step %q: %s", step, path)
		}
	})
	// shot keeps a screenshot of the page in the artifacts, pass or fail.
	shot := func(name string) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(c, chromedp.FullScreenshot(100) /* 100: PNG */)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(artifactsDir(t), name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	stepCtx := func(name string) (context.Context, context.CancelFunc) {
		step = name
		return context.WithTimeout(ctx, 30*time.Second)
	}
	run := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := stepCtx(name)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		c, cancel := stepCtx("read " + sel)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	// navigate runs actions that load a new page and returns once that page
	// has loaded and shows sel. The old page is marked first, so an element
	// that both pages have (#alerts) cannot be read off the old one.
	navigate := func(name, sel string, actions ...chromedp.Action[chromedp.Void]) string {
		t.Helper()
		run(name+": mark the current page", chromedp.Evaluate[chromedp.Void]("document.documentElement.dataset.leaving = '1'"))
		run(name, actions...)
		c, cancel := stepCtx(name + ": wait for the new page")
		defer cancel()
		for {
			// While the navigation runs, evaluating may fail ("target
			// navigated", "context destroyed"): that is not yet, not a failure.
			loc, err := chromedp.Run(c, chromedp.Evaluate[string](
				"document.readyState === 'complete' && !document.documentElement.dataset.leaving ? location.href : ''"))
			if err != nil && c.Err() != nil {
				t.Fatalf("%s: wait for the new page: %v", name, err)
			}
			if err == nil && loc != "" {
				run(name+": wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
				return loc
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	count := func(sel string) int {
		t.Helper()
		c, cancel := stepCtx("count " + sel)
		defer cancel()
		n, err := chromedp.Run(c, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}

	run("open the login page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="key"]`)))
	navigate("log in", `a[href^="/customers/"]`,
		chromedp.SendKeys(chromedp.CSS(`input[name="key"]`), admin),
		chromedp.Submit(chromedp.CSS(`input[name="key"]`)))
	navigate("open the customer", `#alerts`,
		chromedp.Click(chromedp.Search(`//a[text()="demo-clinic"]`)))

	// The three planted alerts, the UnitedHealthcare one with its drivers.
	if n := count(`#alerts tr.event.alert`); n != 3 {
		t.Fatalf("%d alert rows, want the demo's 3", n)
	}
	why := text(`#alerts tr.drivers:not(.late)`)
	if !strings.Contains(why, "denial reason CO-197") || !strings.Contains(why, "CPT 70553") {
		t.Fatalf("drivers = %q, want CO-197 and 70553", why)
	}
	// The slowdown's why: its late claims by CPT code and submission week.
	if late := text(`#alerts tr.drivers.late`); !strings.Contains(late, "took longer than") || !strings.Contains(late, "CPT ") ||
		!strings.Contains(late, "submitted the week of") {
		t.Fatalf("slowdown why = %q, want its late claims by CPT code and submission week", late)
	}
	// Dollars at stake, the alerts sorted by them.
	if n := count(`#alerts tr.event.alert td.dollars`); n != 3 {
		t.Fatalf("%d alerts show dollars at stake, want 3", n)
	}
	if d := text(`#alerts tr.event.alert td.dollars`); !strings.HasPrefix(d, "$") {
		t.Fatalf("the first alert's dollars = %q, want an amount", d)
	}
	if caption := text(`#alerts caption`); !strings.Contains(caption, "Alerts of run") {
		t.Fatalf("alerts caption = %q", caption)
	}

	shot("drift-page")
	// The page uses its width, and each alert's evidence stays compact.
	layout := func(js string) float64 {
		t.Helper()
		c, cancel := stepCtx("measure " + js)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[float64](js))
		if err != nil {
			t.Fatalf("measure %s: %v", js, err)
		}
		return v
	}
	if w, page := layout(`document.querySelector('#alerts').getBoundingClientRect().width`), layout(`document.documentElement.clientWidth`); w < 0.9*page {
		t.Fatalf("the alerts table is %.0f px of a %.0f px page, want (almost) all of it", w, page)
	}
	if lines := layout(`(() => { const td = document.querySelector('#alerts td.evidence'), r = document.createRange();
		r.selectNodeContents(td); // its text, not the row's height
		return r.getBoundingClientRect().height / parseFloat(getComputedStyle(td).lineHeight); })()`); lines > 4.5 {
		t.Fatalf("an alert's evidence takes %.1f lines, want at most 4", lines)
	}
	// Each alert links the claims behind it, as CSV through the session.
	c, cancelFetch := stepCtx("fetch an alert's claims")
	claims, err := chromedp.Run(c, chromedp.Evaluate[string](`(() => {
		const a = document.querySelector('tr.event.alert[data-payer="UnitedHealthcare"] a.claims');
		const x = new XMLHttpRequest(); x.open('GET', a.href, false); x.send();
		return x.status + ' ' + x.getResponseHeader('Content-Type') + '\n' + x.responseText; })()`))
	cancelFetch()
	if err != nil {
		t.Fatalf("fetch an alert's claims: %v", err)
	}
	if lines := strings.Split(strings.TrimSpace(claims), "\n"); !strings.HasPrefix(lines[0], "200 text/csv") || len(lines) < 3 ||
		!strings.HasPrefix(lines[1], "claim_id,submitted_date,decided_date") {
		t.Fatalf("the alert's claims CSV = %.300q, want a header and claims", claims)
	}
	// The runs table shows each run's windows and alerts.
	if runs := text(`#runs tbody tr`); !strings.Contains(runs, " – ") || !strings.HasPrefix(text(`#runs tbody tr td.dollars`), "$") {
		t.Fatalf("runs row = %q, want its windows and its dollars at stake", runs)
	}
	// Any cell's trend is one click away in the grid.
	navigate("open a cell's trend from the grid", `#trend`,
		chromedp.Click(chromedp.CSS(`#grid a.cell[data-payer="Aetna"][data-cpt-group="E&M"]`)))
	if h := text(`#trend`); !strings.Contains(h, "Aetna / E&M") {
		t.Fatalf("trend heading from the grid = %q", h)
	}

	navigate("open the trend", `#trend`,
		chromedp.Click(chromedp.CSS(`tr.event.alert[data-payer="UnitedHealthcare"] a[href*="trend_payer"]`)))
	shot("trend")
	// The drawn line stays inside its axes, and its highest point is level
	// with the top label (as laid out by the browser, not as written).
	if off := layout(`(() => { const svg = document.querySelectorAll('svg.trend')[1]; // median days: no band above the line
		const axis = svg.querySelector('line.y-axis').getBBox(), line = svg.querySelector('polyline.series').getBBox();
		const top = svg.querySelector('text.top');
		return Math.max(axis.y - line.y, (line.y + line.height) - (axis.y + axis.height), Math.abs(line.y - Number(top.getAttribute('y')))); })()`); off > 0.5 {
		t.Fatalf("the trend line leaves its axes or misses its top label by %.1f px", off)
	}
	if n := count(`svg.trend`); n < 2 {
		t.Fatalf("%d trend charts, want volume, denial rate and days", n)
	}
	if n := count(`svg.trend circle.alert-week`); n == 0 {
		t.Fatal("the trend marks no alert week")
	}
	if h := text(`#trend`); !strings.Contains(h, "UnitedHealthcare / Imaging") {
		t.Fatalf("trend heading = %q", h)
	}

	loc := navigate("filter to one payer's alerts", `#alerts`,
		chromedp.SetValue(chromedp.CSS(`#filters select[name="payer"]`), "UnitedHealthcare"),
		chromedp.Click(chromedp.CSS(`#filters input[name="alerts"]`)),
		chromedp.Click(chromedp.CSS(`#filters button`)))
	if !strings.Contains(loc, "payer=UnitedHealthcare") || !strings.Contains(loc, "alerts=1") {
		t.Fatalf("location after filtering = %s", loc)
	}
	if n, others := count(`tr.event`), count(`tr.event:not([data-payer="UnitedHealthcare"])`); n != 1 || others != 0 {
		t.Fatalf("%d event rows (%d of other payers) after filtering, want UnitedHealthcare's one alert", n, others)
	}

	// The CSV link downloads the filtered events, through the session.
	dlCtx, cancelDl := stepCtx("download the CSV")
	defer cancelDl()
	progress := chromedp.Events(dlCtx, browser.DownloadProgress)
	run("download the CSV",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			events := true
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &events})
			return err
		}),
		chromedp.Click(chromedp.CSS(`#csv`)))
	var guid string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("the CSV download did not complete: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			guid = ev.GUID
			break
		}
	}
	csvBytes, err := os.ReadFile(filepath.Join(downloads, guid))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csvBytes)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "report_run_id,payer,") || !strings.Contains(lines[1], "UnitedHealthcare,Imaging,DENIAL_RATE") ||
		!strings.Contains(lines[1], "reason CO-197") {
		t.Fatalf("downloaded CSV:\n%s\nwant the header and UnitedHealthcare's alert with its drivers", csvBytes)
	}

	navigate("acknowledge the alert", `#alerts`,
		chromedp.SendKeys(chromedp.CSS(`tr.event.alert[data-payer="UnitedHealthcare"] form[action$="/alerts/ack"] input[name="note"]`), "prior auth fixed with UHC"),
		chromedp.Click(chromedp.CSS(`tr.event.alert[data-payer="UnitedHealthcare"] form[action$="/alerts/ack"] button`)))
	if state := text(`tr.event.alert[data-payer="UnitedHealthcare"] td.lifecycle`); !strings.Contains(state, "acknowledged") ||
		!strings.Contains(state, "prior auth fixed with UHC") {
		t.Fatalf("lifecycle after acknowledging = %q", state)
	}
	// The demo's delivery is on the page with its attempt.
	if d := text(`#webhooks`); !strings.Contains(d, "delivered") || !strings.Contains(d, "204") {
		t.Fatalf("webhook deliveries = %q, want the demo's delivered alert", d)
	}
}
