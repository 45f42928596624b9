package main

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slowReader hands out chunk bytes every tick.
type slowReader struct {
	left  int
	chunk int
	tick  time.Duration
}

func (s *slowReader) Read(b []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.tick)
	n := min(len(b), s.chunk, s.left)
	s.left -= n
	return n, nil
}

// The bar's first frame shows the share and rate of what was read since
// the start (not 50% at terabytes a second), and the last shows 100%.
func TestProgressBarShowsTrueShareAndRateAndEndsAtHundred(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	var out bytes.Buffer
	start := time.Now()
	p := newProgressReaderTo(&slowReader{left: size, chunk: 32 << 10, tick: 5 * time.Millisecond}, size, &out, 150*time.Millisecond)
	if _, err := io.Copy(io.Discard, p); err != nil {
		t.Fatal(err)
	}
	p.done()
	elapsed := time.Since(start)
	actual := float64(size) / elapsed.Seconds() // bytes per second, on average

	frames := regexp.MustCompile(`(\d+)% .*?\(([\d.]+) ([kMGT]?B)/s`).FindAllStringSubmatch(out.String(), -1)
	if len(frames) == 0 {
		t.Fatalf("no frames with a rate:\n%q", out.String())
	}
	unit := map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
	for _, f := range frames {
		rate, _ := strconv.ParseFloat(f[2], 64)
		if rate *= unit[f[3]]; rate > 5*actual {
			t.Errorf("frame %q shows %.0f B/s; the upload averaged %.0f B/s", f[0], rate, actual)
		}
	}
	if first, _ := strconv.Atoi(frames[0][1]); first > 80 {
		t.Errorf("first frame at %d%%, after %s of a %s read", first, 150*time.Millisecond, elapsed)
	}
	last := out.String()[strings.LastIndex(out.String(), "uploading"):]
	if !strings.Contains(last, "100%") || !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("last frame %q, want 100%% and the line ended", last)
	}
}
