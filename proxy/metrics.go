package proxy

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/topo"
)

// metrics are the gate's Prometheus collectors.
type metrics struct {
	queries     *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	errors      *prometheus.CounterVec
	connections prometheus.Gauge
	// panics counts panics recovered while serving a client connection.
	panics prometheus.Counter
	// questions counts statements for COM_STATISTICS.
	questions atomic.Uint64
	// twopc counts two-phase commits by outcome: started, committed,
	// rolled_back, unknown.
	twopc *prometheus.CounterVec
	// twopcResolved counts what the resolver finished, by outcome.
	twopcResolved *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_gate_queries_total",
			Help: "Statements run by the gate, by keyspace, statement type, plan type and tablet type.",
		}, []string{"keyspace", "stmt_type", "plan_type", "tablet_type"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mosaic_gate_query_duration_seconds",
			Help:    "Time from a statement's arrival to its last byte written, by statement type.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}, []string{"stmt_type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_gate_errors_total",
			Help: "Errors returned to clients, by MySQL error code.",
		}, []string{"code"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_gate_client_connections",
			Help: "Open client connections.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_gate_connection_panics_total",
			Help: "Panics recovered while serving a client connection; each closed that connection only (the log has its stack).",
		}),
	}
	m.twopc = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mosaic_gate_twopc_commits_total",
		Help: "Two-phase commits by outcome: started, committed, rolled_back, unknown.",
	}, []string{"outcome"})
	m.twopcResolved = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mosaic_gate_twopc_resolved_total",
		Help: "Distributed transactions and prepared branches the resolver finished, by outcome.",
	}, []string{"outcome"})
	reg.MustRegister(m.queries, m.latency, m.errors, m.connections, m.panics, m.twopc, m.twopcResolved)
	return m
}

// observe counts a statement of a session. The collectors of the
// connection's last statement are kept in last, since a connection tends
// to run the same kinds of statements: looking them up by label values
// costs as much as the rest of the observation.
func (m *metrics) observe(last *observed, s *Session, stmtType, planType string, start time.Time, err error) {
	if last.counter == nil || last.keyspace != s.Keyspace || last.stmtType != stmtType || last.planType != planType || last.tabletType != s.TabletType {
		*last = observed{
			keyspace: s.Keyspace, stmtType: stmtType, planType: planType, tabletType: s.TabletType,
			counter: m.queries.WithLabelValues(s.Keyspace, stmtType, planType, tabletTypeLabel(s.TabletType)),
			latency: m.latency.WithLabelValues(stmtType),
		}
	}
	last.counter.Inc()
	m.questions.Add(1)
	last.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		m.observeError(err)
	}
}

// observed holds the collectors of a connection's last statement.
type observed struct {
	keyspace, stmtType, planType string
	tabletType                   topodatapb.TabletType
	counter                      prometheus.Counter
	latency                      prometheus.Observer
}

func (m *metrics) observeError(err error) {
	m.errors.WithLabelValues(strconv.Itoa(int(sqlerr.FromError(err).Num))).Inc()
}

// totalQueries is the number of statements run since the gate started.
func (m *metrics) totalQueries() uint64 { return m.questions.Load() }

func tabletTypeLabel(t topodatapb.TabletType) string { return topo.TabletTypeString(t) }
