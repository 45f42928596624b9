package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressReader shows an upload's progress on a terminal once it has
// taken longer than a moment; never on a pipe or a file, and never with
// --json. The bar counts from the first byte, so its first frame shows
// the true share and rate, and it ends at 100% when the file is read
// (the summary follows once the upload commits).
type progressReader struct {
	r    io.Reader
	size int64
	out  io.Writer
	mu   sync.Mutex
	bar  *progressbar.ProgressBar
	gate *gatedWriter
}

// progressAfter is how long an upload runs before it shows progress.
const progressAfter = 2 * time.Second

func newProgressReader(r io.Reader, size int64, quiet bool) *progressReader {
	if quiet || size <= 0 || !isTerminal(os.Stderr) {
		return &progressReader{r: r}
	}
	return newProgressReaderTo(r, size, os.Stderr, progressAfter)
}

func newProgressReaderTo(r io.Reader, size int64, out io.Writer, after time.Duration) *progressReader {
	gate := &gatedWriter{w: out, from: time.Now().Add(after)}
	bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(gate), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("uploading"), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(true))
	bar.StartWithoutRender()
	return &progressReader{r: r, size: size, out: out, bar: bar, gate: gate}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if p.bar == nil {
		return n, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Add64(int64(n))
	return n, err
}

// done ends the bar's line before the summary prints.
func (p *progressReader) done() {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate.wrote() {
		_, _ = io.WriteString(p.out, "\n")
	}
}

// gatedWriter drops what is written before from: the bar renders from the
// first byte, but shows only once the upload has taken a moment.
type gatedWriter struct {
	w       io.Writer
	from    time.Time
	written bool
}

func (g *gatedWriter) Write(b []byte) (int, error) {
	if time.Now().Before(g.from) {
		return len(b), nil
	}
	g.written = true
	return g.w.Write(b)
}

func (g *gatedWriter) wrote() bool { return g.written }

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
