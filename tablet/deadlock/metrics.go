package deadlock

import "github.com/prometheus/client_golang/prometheus"

// metrics are the detector's collectors.
type metrics struct {
	deadlocks   prometheus.Counter
	victims     *prometheus.CounterVec
	resolve     prometheus.Histogram
	waits       prometheus.Gauge
	tabletCalls *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deadlocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_deadlock_found_total",
			Help: "Deadlocks across shards the detector found and confirmed.",
		}),
		victims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_deadlock_victims_total",
			Help: "Victims of deadlocks across shards, by outcome: aborted (a tablet interrupted its waiting statement), not_aborted (no tablet did: its wait had ended, the deadlock was broken otherwise).",
		}, []string{"outcome"}),
		resolve: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mosaic_deadlock_resolve_seconds",
			Help:    "Time from a deadlock across shards forming (its youngest wait beginning; at most) to its victim being aborted.",
			Buckets: []float64{.1, .2, .3, .4, .5, .6, .8, 1, 1.5, 2, 3, 5, 10},
		}),
		waits: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_deadlock_lock_waits",
			Help: "Row lock waits longer than the detector's minimum wait, on every primary, at its last round.",
		}),
		tabletCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_deadlock_tablet_errors_total",
			Help: "Calls of the detector to tablets that failed, by method (LockWaits, AbortDeadlockVictim).",
		}, []string{"method"}),
	}
	for _, c := range []prometheus.Collector{m.deadlocks, m.victims, m.resolve, m.waits, m.tabletCalls} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
