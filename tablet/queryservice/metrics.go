package queryservice

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the query service's collectors. A nil *Metrics records
// nothing.
type Metrics struct {
	queries  *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	poolWait *prometheus.HistogramVec
	resets   *prometheus.CounterVec
	victims  prometheus.Counter

	// Children per statement type, resolved once: label lookups cost more
	// than the increments.
	byType map[string]typeMetrics

	mu     sync.Mutex
	byCode map[uint16]prometheus.Counter
}

type typeMetrics struct {
	queries  prometheus.Counter
	duration prometheus.Observer
}

// NewMetrics makes the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_tablet_queries_total",
			Help: "Statements the query service ran, by statement type.",
		}, []string{"stmt_type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_tablet_query_errors_total",
			Help: "Query service requests that failed, by MySQL error code.",
		}, []string{"code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mosaic_tablet_query_duration_seconds",
			Help:    "Time the query service spent on a statement, by statement type.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"stmt_type"}),
		poolWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mosaic_tablet_pool_wait_seconds",
			Help:    "Time a request waited for a mysqld connection when its pool had none free, by pool (query, transaction).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"pool"}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_tablet_pool_resets_total",
			Help: "mysqld connections reset (COM_RESET_CONNECTION) before going back to their pool because a statement may have left state on them (locks, temporary tables, ...), by pool (query, transaction).",
		}, []string{"pool"}),
		victims: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_tablet_deadlock_victims_total",
			Help: "Transactions whose waiting statement the tablet interrupted and rolled back as the victim of a deadlock across shards, at a deadlock detector's request.",
		}),
		byType: map[string]typeMetrics{},
		byCode: map[uint16]prometheus.Counter{},
	}
	for _, c := range []prometheus.Collector{m.queries, m.errors, m.duration, m.poolWait, m.resets, m.victims} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, t := range stmtTypes {
		m.byType[t] = typeMetrics{queries: m.queries.WithLabelValues(t), duration: m.duration.WithLabelValues(t)}
	}
	return m, nil
}

// poolWaitObserver returns the observer of a pool's waits, nil for none.
func (m *Metrics) poolWaitObserver(pool string) prometheus.Observer {
	if m == nil {
		return nil
	}
	return m.poolWait.WithLabelValues(pool)
}

// poolResetCounter returns the counter of a pool's state resets, nil for
// none.
func (m *Metrics) poolResetCounter(pool string) prometheus.Counter {
	if m == nil {
		return nil
	}
	return m.resets.WithLabelValues(pool)
}

func (m *Metrics) record(stmtType string, start time.Time) {
	if m == nil {
		return
	}
	tm := m.byType[stmtType]
	tm.queries.Inc()
	tm.duration.Observe(time.Since(start).Seconds())
}

func (m *Metrics) recordError(code uint16) {
	if m == nil {
		return
	}
	m.mu.Lock()
	c, ok := m.byCode[code]
	if !ok {
		c = m.errors.WithLabelValues(strconv.Itoa(int(code)))
		m.byCode[code] = c
	}
	m.mu.Unlock()
	c.Inc()
}

func (m *Metrics) recordDeadlockVictim() {
	if m == nil {
		return
	}
	m.victims.Inc()
}
