package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/topo"
)

// gateCollector reports, at scrape time, what the gate holds rather than
// counts as it goes: the plan cache and the tablets' health as its health
// checks see it.
type gateCollector struct{ g *Gate }

var (
	planCacheHitsDesc = prometheus.NewDesc("mosaic_gate_plan_cache_hits_total",
		"Statements planned from the plan cache, by kind: text (the same text again) or normalized (the same statement with other literals).",
		[]string{"kind"}, nil)
	planCacheMissesDesc = prometheus.NewDesc("mosaic_gate_plan_cache_misses_total",
		"Statements planned from scratch.", nil, nil)
	planCachePlansDesc = prometheus.NewDesc("mosaic_gate_plan_cache_plans",
		"Plans in the plan cache.", nil, nil)
	planCacheCapacityDesc = prometheus.NewDesc("mosaic_gate_plan_cache_capacity",
		"Bound on the plans in the plan cache.", nil, nil)
	tabletServingDesc = prometheus.NewDesc("mosaic_gate_tablet_serving",
		"1 while the gate's health check sees the tablet serving, else 0.",
		[]string{"tablet", "keyspace", "shard", "tablet_type"}, nil)
	tabletLagDesc = prometheus.NewDesc("mosaic_gate_tablet_replication_lag_seconds",
		"Replication lag the tablet last reported to the gate (replicas).",
		[]string{"tablet", "keyspace", "shard", "tablet_type"}, nil)
	lockSessionsDesc = prometheus.NewDesc("mosaic_gate_lock_sessions",
		"Lock sessions the gate holds: tablet connections reserved for client sessions' user-level locks (GET_LOCK).", nil, nil)
)

func (c *gateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{planCacheHitsDesc, planCacheMissesDesc, planCachePlansDesc, planCacheCapacityDesc, tabletServingDesc, tabletLagDesc, lockSessionsDesc} {
		ch <- d
	}
}

func (c *gateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.g.router.CacheStats()
	ch <- prometheus.MustNewConstMetric(planCacheHitsDesc, prometheus.CounterValue, float64(st.Hits), "text")
	ch <- prometheus.MustNewConstMetric(planCacheHitsDesc, prometheus.CounterValue, float64(st.NormalizedHits), "normalized")
	ch <- prometheus.MustNewConstMetric(planCacheMissesDesc, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(planCachePlansDesc, prometheus.GaugeValue, float64(st.Size))
	ch <- prometheus.MustNewConstMetric(planCacheCapacityDesc, prometheus.GaugeValue, float64(st.Capacity))
	ch <- prometheus.MustNewConstMetric(lockSessionsDesc, prometheus.GaugeValue, float64(c.g.gw.locks.count()))
	for _, th := range c.g.tablets.HealthCheck().All() {
		tt := th.Tablet.GetType()
		if th.Target != nil {
			tt = th.Target.TabletType
		}
		labels := []string{th.Alias, th.Tablet.GetKeyspace(), th.Tablet.GetShard(), topo.TabletTypeString(tt)}
		serving := 0.0
		if th.Serving {
			serving = 1
		}
		ch <- prometheus.MustNewConstMetric(tabletServingDesc, prometheus.GaugeValue, serving, labels...)
		ch <- prometheus.MustNewConstMetric(tabletLagDesc, prometheus.GaugeValue, float64(th.ReplicationLag), labels...)
	}
}
