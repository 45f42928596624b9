// Package memstat reads this process's peak resident memory, for
// benchmarks that report memory next to throughput (Linux only).
package memstat

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// ResetPeakRSS restarts the peak-RSS high-water mark from the current RSS.
func ResetPeakRSS() error { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// PeakRSSMB returns the peak resident set size (VmHWM) in MiB.
func PeakRSSMB() (float64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			kb, err := strconv.Atoi(fields[0])
			if err != nil {
				return 0, err
			}
			return float64(kb) / 1024, nil
		}
	}
	return 0, errors.New("VmHWM not found in /proc/self/status")
}
