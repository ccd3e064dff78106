package tablet

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/topo"
)

// registerMetrics adds the agent's gauges, read at scrape time.
func (a *Agent) registerMetrics(reg prometheus.Registerer) error {
	boolf := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mosaic_tablet_pool_in_use", Help: "Query pool connections on loan.",
		}, func() float64 { return float64(a.qs.Stats().InUse) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mosaic_tablet_pool_size", Help: "Query pool capacity.",
		}, func() float64 { return float64(a.qs.Stats().Size) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mosaic_tablet_tx_pool_in_use", Help: "Transaction pool connections on loan.",
		}, func() float64 { return float64(a.qs.Stats().TxInUse) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mosaic_tablet_tx_pool_size", Help: "Transaction pool capacity.",
		}, func() float64 { return float64(a.qs.Stats().TxSize) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mosaic_tablet_open_transactions", Help: "Transactions open now.",
		}, func() float64 { return float64(a.qs.Stats().OpenTx) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mosaic_tablet_replication_lag_seconds", Help: "Replication lag the last health check saw (replicas): by the heartbeat, or Seconds_Behind_Master while there is none (see mosaic_tablet_replication_lag_source).",
		}, func() float64 { return float64(a.lastHealth().GetRealtimeStats().GetReplicationLagSeconds()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mosaic_tablet_serving", Help: "1 while the tablet serves queries.",
		}, func() float64 { return boolf(a.lastHealth().GetServing()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mosaic_tablet_mysqld_up", Help: "1 while mysqld runs.",
		}, func() float64 { st, _ := a.mysqld.State(); return boolf(st == mysqlctl.Running) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mosaic_tablet_mysqld_answering", Help: "1 while mysqld runs and answered the tablet's last health query within --mysqld-probe-timeout.",
		}, func() float64 {
			st, _ := a.mysqld.State()
			return boolf(st == mysqlctl.Running && a.mysqldUnanswered() == nil)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mosaic_tablet_fence_kills_total", Help: "Times a fenced primary killed its mysqld because it did not answer or did not turn read-only within --fence-timeout.",
		}, func() float64 { a.mu.Lock(); defer a.mu.Unlock(); return float64(a.fenceKills) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mosaic_tablet_semi_sync_reconnects_total", Help: "Times the primary's semi-sync watchdog ended its replicas' binlog connections because mysqld counted fewer acking replicas than were connected (see --semi-sync-watchdog).",
		}, func() float64 { return float64(a.SemiSyncKicks()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mosaic_tablet_mysqld_restarts_total", Help: "Times mysqld came back after it died.",
		}, func() float64 { return float64(max(a.mysqld.Starts()-1, 0)) }),
	}
	a.reparents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mosaic_tablet_reparents_total",
		Help: "Role changes this tablet made in reparents: promoted (to primary) or demoted (to replica).",
	}, []string{"action"})
	a.hbWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mosaic_tablet_heartbeat_writes_total", Help: "Heartbeat rows the tablet wrote as the serving primary.",
	})
	a.hbErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mosaic_tablet_heartbeat_write_errors_total", Help: "Heartbeat writes that failed (read_only, mysqld down, timeout).",
	})
	a.restorePoints = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mosaic_tablet_restore_points_total", Help: "Keyspace restore points this tablet took on its schedule (--restore-point-interval).",
	})
	a.restorePointErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mosaic_tablet_restore_point_failures_total", Help: "Scheduled restore points this tablet could not take.",
	})
	a.restorePointHold = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mosaic_tablet_restore_point_hold_seconds",
		Help:    "How long a restore point held the keyspace's distributed commits: from the first hold taken to the last lifted.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .5, 2},
	})
	cs = append(cs,
		a.restorePoints, a.restorePointErrors, a.restorePointHold,
		a.hbWrites, a.hbErrors, &lagSourceCollector{a: a},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "mosaic_tablet_info",
			Help:        "Always 1; its labels name the tablet, its keyspace and its shard.",
			ConstLabels: prometheus.Labels{"tablet": a.cfg.Alias, "keyspace": a.cfg.Keyspace, "shard": a.cfg.Shard},
		}, func() float64 { return 1 }),
		a.reparents,
		&tabletTypeCollector{a: a},
	)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	for _, action := range []string{"promoted", "demoted"} {
		a.reparents.WithLabelValues(action)
	}
	return nil
}

// countReparent counts a role change of a reparent: "promoted" or
// "demoted".
func (a *Agent) countReparent(action string) {
	if a.reparents != nil {
		a.reparents.WithLabelValues(action).Inc()
	}
}

var tabletTypeDesc = prometheus.NewDesc("mosaic_tablet_type",
	"1 for the tablet's current type (primary, replica, rdonly, spare).", []string{"tablet_type"}, nil)

// tabletTypeCollector reports the tablet's type at scrape time.
type tabletTypeCollector struct{ a *Agent }

func (c *tabletTypeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tabletTypeDesc }

func (c *tabletTypeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(tabletTypeDesc, prometheus.GaugeValue, 1, topo.TabletTypeString(c.a.tabletTypeNow()))
}

var lagSourceDesc = prometheus.NewDesc("mosaic_tablet_replication_lag_source",
	"1 for what the replication lag comes from: heartbeat, seconds_behind_master, or none (a primary, or no replication status).", []string{"source"}, nil)

// lagSourceCollector reports the lag source of the last health check.
type lagSourceCollector struct{ a *Agent }

func (c *lagSourceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagSourceDesc }

func (c *lagSourceCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(lagSourceDesc, prometheus.GaugeValue, 1, c.a.lagSourceNow())
}
