package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressReader shows an upload's progress on a terminal, once it has
// taken longer than a moment; never on a pipe or a file, and never with
// --json.
type progressReader struct {
	r       io.Reader
	size    int64
	start   time.Time
	read    int64
	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	enabled bool
}

// progressAfter is how long an upload runs before it shows progress.
const progressAfter = 2 * time.Second

func newProgressReader(r io.Reader, size int64, quiet bool) *progressReader {
	return &progressReader{r: r, size: size, start: time.Now(), enabled: !quiet && isTerminal(os.Stderr)}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if !p.enabled {
		return n, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.read += int64(n)
	if p.bar == nil && time.Since(p.start) > progressAfter {
		p.bar = progressbar.NewOptions64(p.size, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("uploading"), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
		_ = p.bar.Set64(p.read)
	} else if p.bar != nil {
		_ = p.bar.Add64(int64(n))
	}
	return n, err
}

// done clears the bar before the summary prints.
func (p *progressReader) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
