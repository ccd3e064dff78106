package vrepl

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's collectors, labelled by workflow and source
// shard (a target tablet runs few streams).
type metrics struct {
	rowsCopied *prometheus.CounterVec
	txns       *prometheus.CounterVec
	errors     *prometheus.CounterVec
	lag        *prometheus.GaugeVec
	phase      *prometheus.GaugeVec
}

var phases = []string{phaseCopying, phaseRunning, phaseError}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"workflow", "source_shard"}
	m := &metrics{
		rowsCopied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mosaic_vreplication_rows_copied_total", Help: "Rows a stream copied into this target."}, labels),
		txns:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mosaic_vreplication_transactions_applied_total", Help: "Source transactions a stream applied from the binlog."}, labels),
		errors:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mosaic_vreplication_errors_total", Help: "Stream failures (each is retried unless it is fatal)."}, labels),
		lag:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mosaic_vreplication_lag_seconds", Help: "How far a stream is behind its source, as of its last applied transaction or heartbeat."}, labels),
		phase:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mosaic_vreplication_phase", Help: "1 for the phase a stream is in (copying, running, error)."}, append(labels, "phase")),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rowsCopied, m.txns, m.errors, m.lag, m.phase} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// streamMetrics are one stream's collectors.
type streamMetrics struct {
	m                *metrics
	workflow, source string
	rowsCopied, txns prometheus.Counter
	errors           prometheus.Counter
	lag              prometheus.Gauge
}

func (m *metrics) forStream(workflow, source string) *streamMetrics {
	return &streamMetrics{
		m: m, workflow: workflow, source: source,
		rowsCopied: m.rowsCopied.WithLabelValues(workflow, source),
		txns:       m.txns.WithLabelValues(workflow, source),
		errors:     m.errors.WithLabelValues(workflow, source),
		lag:        m.lag.WithLabelValues(workflow, source),
	}
}

func (sm *streamMetrics) setPhase(phase string) {
	for _, p := range phases {
		v := 0.0
		if p == phase {
			v = 1
		}
		sm.m.phase.WithLabelValues(sm.workflow, sm.source, p).Set(v)
	}
}

// forget drops a stream's series once it no longer runs here.
func (sm *streamMetrics) forget() {
	l := prometheus.Labels{"workflow": sm.workflow, "source_shard": sm.source}
	sm.m.rowsCopied.Delete(l)
	sm.m.txns.Delete(l)
	sm.m.errors.Delete(l)
	sm.m.lag.Delete(l)
	sm.m.phase.DeletePartialMatch(l)
}
