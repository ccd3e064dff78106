package tabletgw

import "github.com/prometheus/client_golang/prometheus"

// bufferMetrics are the buffer's collectors: the same four for each kind
// of event. The failover ones are labelled by keyspace and shard, the
// switch ones by keyspace; their names are those the gate has always
// exported.
type bufferMetrics struct {
	kinds [numKinds]*kindMetrics
}

// kindMetrics are the collectors of one kind of buffering event.
type kindMetrics struct {
	// events counts events begun.
	events *prometheus.CounterVec
	// requests counts requests that waited, or were refused, by outcome.
	requests *prometheus.CounterVec
	// waiting is the number of requests waiting now.
	waiting *prometheus.GaugeVec
	// wait is how long requests waited.
	wait prometheus.Histogram
}

// bufferMetricNames are the names and help texts of each kind's
// collectors, in kindMetrics' order, and the labels that name an event.
var bufferMetricNames = [numKinds]struct {
	labels                          []string
	events, requests, waiting, wait [2]string
}{
	failover: {
		labels:   []string{"keyspace", "shard"},
		events:   [2]string{"mosaic_gate_buffer_events_total", "Times a shard's primary requests started to be buffered (its primary stopped serving), by keyspace and shard."},
		requests: [2]string{"mosaic_gate_buffered_requests_total", "Requests that waited in the failover buffer, by keyspace, shard and outcome (released, window_passed, buffer_full, canceled)."},
		waiting:  [2]string{"mosaic_gate_buffered_requests", "Requests waiting now in the failover buffer, by keyspace and shard."},
		wait:     [2]string{"mosaic_gate_buffer_wait_seconds", "How long buffered requests waited for a serving primary."},
	},
	trafficSwitch: {
		labels:   []string{"keyspace"},
		events:   [2]string{"mosaic_gate_switch_buffer_events_total", "Times a keyspace's primary traffic started to be switched, as the gate saw it, by keyspace."},
		requests: [2]string{"mosaic_gate_switch_buffered_requests_total", "Statements that waited for a keyspace's traffic switch, by keyspace and outcome (released, window_passed, buffer_full, canceled)."},
		waiting:  [2]string{"mosaic_gate_switch_buffered_requests", "Statements waiting now for a keyspace's traffic switch, by keyspace."},
		wait:     [2]string{"mosaic_gate_switch_buffer_wait_seconds", "How long statements waited for a keyspace's traffic switch to end."},
	},
}

func newBufferMetrics(reg prometheus.Registerer) *bufferMetrics {
	m := &bufferMetrics{}
	for kind, n := range bufferMetricNames {
		km := &kindMetrics{
			events:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.events[0], Help: n.events[1]}, n.labels),
			requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.requests[0], Help: n.requests[1]}, append(n.labels[:len(n.labels):len(n.labels)], "outcome")),
			waiting:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n.waiting[0], Help: n.waiting[1]}, n.labels),
			wait: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: n.wait[0], Help: n.wait[1], Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
			}),
		}
		reg.MustRegister(km.events, km.requests, km.waiting, km.wait)
		m.kinds[kind] = km
	}
	return m
}

// of returns the collectors of kind.
func (m *bufferMetrics) of(kind eventKind) *kindMetrics { return m.kinds[kind] }
