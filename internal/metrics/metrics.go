// Package metrics defines upstream's Prometheus metrics. Counters are
// process-local (what this process did); job counts are read from the
// database at scrape time, so every process reports the same queue.
package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	// Uploads counts upload attempts by result: stored, duplicate, invalid,
	// too_large, failed.
	Uploads = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "upstream_uploads_total", Help: "Upload attempts by result.",
	}, []string{"result"})
	// UploadRows counts the rows of stored uploads by status: accepted,
	// rejected.
	UploadRows = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "upstream_upload_rows_total", Help: "Rows of stored uploads, accepted or rejected.",
	}, []string{"status"})
	// DriftComputations counts drift computations by run type and result:
	// success, already_done, failed.
	DriftComputations = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "upstream_drift_computations_total", Help: "Drift computations by run type and result.",
	}, []string{"run_type", "result"})
	// DriftDuration observes successful computations' duration.
	DriftDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "upstream_drift_computation_seconds", Help: "Duration of successful drift computations.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"run_type"})
	// DriftEvents counts drift events created.
	DriftEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "upstream_drift_events_created_total", Help: "Drift events created, by drift type.",
	}, []string{"drift_type"})
)

// JobCount is the number of River jobs of one kind in one state.
type JobCount struct {
	Kind  string `json:"kind"`
	State string `json:"state"`
	Count int64  `json:"count"`
}

// jobsCollector reports River job counts by kind and state.
type jobsCollector struct {
	count  func(context.Context) ([]JobCount, error)
	logger *slog.Logger
	desc   *prometheus.Desc
}

// RegisterJobCounts registers a collector of River job counts by kind and
// state, read with count (jobs.CountsFunc) at each scrape.
func RegisterJobCounts(reg prometheus.Registerer, count func(context.Context) ([]JobCount, error), logger *slog.Logger) error {
	return reg.Register(&jobsCollector{count: count, logger: logger,
		desc: prometheus.NewDesc("upstream_jobs", "River jobs by kind and state.", []string{"kind", "state"}, nil)})
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		c.logger.Warn("collect job counts", "error", err)
		return
	}
	for _, jc := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(jc.Count), jc.Kind, jc.State)
	}
}
