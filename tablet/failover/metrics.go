package failover

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the controller's Prometheus collectors.
type metrics struct {
	reparents     *prometheus.CounterVec
	deadPrimaries *prometheus.CounterVec
	// unresponsivePrimaries counts primaries failed over because their
	// mysqld did not answer.
	unresponsivePrimaries *prometheus.CounterVec
	duration              prometheus.Histogram
	shards                *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reparents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_failover_reparents_total",
			Help: "Emergency reparents the failover controller ran, by keyspace, shard and result (success, error, skipped: the primary was fine under the shard lock).",
		}, []string{"keyspace", "shard", "result"}),
		deadPrimaries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_failover_dead_primaries_total",
			Help: "Primaries found dead (gRPC and mysqld ports refusing connections) whose lease the controller broke.",
		}, []string{"keyspace", "shard"}),
		unresponsivePrimaries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_failover_unresponsive_primaries_total",
			Help: "Primaries that held their lease and were failed over because their mysqld did not answer for the unresponsive grace.",
		}, []string{"keyspace", "shard"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mosaic_failover_reparent_duration_seconds",
			Help:    "Time a successful emergency reparent took, shard lock included.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 10),
		}),
		shards: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mosaic_failover_shards",
			Help: "Shards the controller watches, by state: healthy (the primary the shard record names holds its lease and its mysqld answers), unresponsive (it holds its lease, its mysqld does not answer) or down. Absent until the controller has read the topology.",
		}, []string{"state"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.reparents, m.deadPrimaries, m.unresponsivePrimaries, m.duration, m.shards} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
