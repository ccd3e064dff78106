package tablet

import (
	"context"
	"fmt"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
)

// healthLoop publishes the tablet's health every HealthInterval and
// whenever something asks (kickHealth), until ctx ends.
func (a *Agent) healthLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.HealthInterval)
	defer t.Stop()
	for {
		a.checkHealth(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Retry following the shard's primary if an earlier attempt
			// failed.
			a.mu.Lock()
			rec := a.shardRecord
			a.mu.Unlock()
			a.followShard(ctx, rec, false)
		case <-a.kick:
		}
	}
}

// servingType reports whether tablets of type t serve queries.
func servingType(t topodatapb.TabletType) bool {
	switch t {
	case topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY:
		return true
	}
	return false
}

// healthFacts is what decides whether a tablet serves.
type healthFacts struct {
	mysqld     mysqlctl.State
	mysqldErr  error // why mysqld is not running, if known
	unanswered error // non-nil: mysqld runs but did not answer the probe
	ready      bool  // the role is applied since mysqld's last start
	notServing string
	tabletType topodatapb.TabletType
	qsDisabled bool // the shard record disables the query service (a traffic switch's fence)
}

// verdict is whether a tablet serves and, if not, why; mysqldProblem says
// the reason is its mysqld: not running, or not answering.
type verdict struct {
	serving       bool
	reason        string
	mysqldProblem bool
}

// servingVerdict decides whether a tablet serves: only while its mysqld
// runs and answers, its role is applied, no action holds it back and its
// type serves queries.
func servingVerdict(f healthFacts) verdict {
	switch {
	case f.mysqld != mysqlctl.Running:
		reason := "mysqld is " + f.mysqld.String()
		if f.mysqldErr != nil {
			reason += ": " + f.mysqldErr.Error()
		}
		return verdict{reason: reason, mysqldProblem: true}
	case f.unanswered != nil:
		return verdict{reason: "mysqld does not answer: " + f.unanswered.Error(), mysqldProblem: true}
	case !f.ready:
		return verdict{reason: "tablet role not applied yet"}
	case f.notServing != "":
		return verdict{reason: f.notServing}
	case !servingType(f.tabletType):
		return verdict{reason: fmt.Sprintf("tablet type %v does not serve queries", f.tabletType)}
	case f.qsDisabled:
		return verdict{reason: qsDisabledReason}
	}
	return verdict{serving: true}
}

// checkHealth computes the health, sets the query service's serving state
// and publishes it.
func (a *Agent) checkHealth(ctx context.Context) {
	// One check at a time, so the last message published is the newest.
	a.healthMu.Lock()
	defer a.healthMu.Unlock()
	// The tablet's type may have changed since the shard record came.
	a.syncQueryControl()
	st, stErr := a.mysqld.State()
	unanswered := a.mysqldUnanswered()
	a.mu.Lock()
	tt, term, src, ready, notServing := a.tabletType, a.termStart, a.source, a.ready, a.notServing
	qsDisabled := a.qsControl.disabled
	a.mu.Unlock()

	stats := &querypb.RealtimeStats{}
	v := servingVerdict(healthFacts{mysqld: st, mysqldErr: stErr, unanswered: unanswered, ready: ready, notServing: notServing, tabletType: tt, qsDisabled: qsDisabled})
	serving, reason := v.serving, v.reason
	if v.mysqldProblem {
		stats.HealthError = reason
		stats.MysqldUnresponsive = true
	}

	var rs *tabletmanagerpb.ReplicationStatus
	lagSource := lagSourceNone
	if st == mysqlctl.Running && unanswered == nil && tt != topodatapb.TabletType_PRIMARY {
		if src == nil {
			stats.HealthError = "replica has no replication source yet"
		} else {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			var err error
			rs, err = a.flavor.ReplicationStatus(cctx, a.dba)
			cancel()
			now := time.Now()
			// The heartbeat ages whenever nothing arrives from the
			// primary, stopped threads or not; Seconds_Behind_Master is
			// the fallback while there is no heartbeat row.
			var hbLag time.Duration
			var hbAt time.Time
			hb := false
			if err == nil {
				hbLag, hbAt, hb = a.heartbeatLag(ctx, now)
			}
			a.mu.Lock()
			switch {
			case err != nil:
				stats.HealthError = "replication status: " + err.Error()
			case rs.IoRunning && rs.SqlRunning:
				stats.ReplicationRunning = true
				if hb {
					lagSource = lagSourceHeartbeat
					stats.ReplicationLagSeconds = uint32(hbLag / time.Second)
					a.caughtUp = hbAt
				} else {
					lagSource = lagSourceSBM
					stats.ReplicationLagSeconds = rs.LagSeconds
					a.caughtUp = now.Add(-time.Duration(rs.LagSeconds) * time.Second)
				}
			default:
				// mysqld reports no lag while a thread is stopped: count it
				// from the last heartbeat, or else from the last moment the
				// replica was known current.
				if hb {
					lagSource = lagSourceHeartbeat
					stats.ReplicationLagSeconds = uint32(hbLag / time.Second)
				} else {
					lagSource = lagSourceSBM
					stats.ReplicationLagSeconds = uint32(now.Sub(a.caughtUp) / time.Second)
				}
				stats.HealthError = fmt.Sprintf("replication not running (io: %v, sql: %v)", rs.IoRunning, rs.SqlRunning)
				if e := rs.LastIoError + rs.LastSqlError; e != "" {
					stats.HealthError += ": " + e
				}
			}
			a.mu.Unlock()
		}
	}

	now, count := time.Now(), a.qs.QueryCount()
	a.mu.Lock()
	if el := now.Sub(a.qpsAt).Seconds(); !a.qpsAt.IsZero() && el > 0 {
		stats.Qps = float64(count-a.qpsCount) / el
	}
	a.qpsCount, a.qpsAt = count, now
	a.mu.Unlock()

	msg := &querypb.StreamHealthResponse{
		Target:        &querypb.Target{Keyspace: a.cfg.Keyspace, Shard: a.cfg.Shard, TabletType: tt, Cell: a.alias.Cell},
		Serving:       serving,
		RealtimeStats: stats,
		TabletAlias:   a.alias,
	}
	if tt == topodatapb.TabletType_PRIMARY {
		msg.PrimaryTermStartUnixNano = term
	}
	msg.Serving = a.applyServing(tt, serving, reason)
	a.mu.Lock()
	a.last = msg
	a.lagSource = lagSource
	a.mu.Unlock()
	a.health.Publish(msg)
	a.checkRepair(rs)
}

// applyServing sets the query service's state to a verdict
// (servingVerdict) and returns whether it serves. The shard record may
// have fenced the query service since the verdict's facts were read
// (syncQueryControl, called by RefreshState and the shard watch outside
// healthMu): the fence is checked again under mu, which syncQueryControl
// holds when it fences, so that a verdict of serving taken before the
// fence never lifts it while the fenced tablet drains for a switch.
func (a *Agent) applyServing(tt topodatapb.TabletType, serving bool, reason string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if reason == qsDisabledReason || serving && a.qsControl.disabled {
		a.qs.SetOpenTxOnly(tt, qsDisabledReason)
		return false
	}
	a.qs.SetServing(tt, serving, reason)
	return serving
}

// lastHealth returns the last published health message, or nil. Do not
// modify it.
func (a *Agent) lastHealth() *querypb.StreamHealthResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// publishShutdown tells health subscribers the tablet stops serving.
func (a *Agent) publishShutdown() {
	a.healthMu.Lock()
	defer a.healthMu.Unlock()
	a.mu.Lock()
	tt := a.tabletType
	a.mu.Unlock()
	a.health.Publish(&querypb.StreamHealthResponse{
		Target:        &querypb.Target{Keyspace: a.cfg.Keyspace, Shard: a.cfg.Shard, TabletType: tt, Cell: a.alias.Cell},
		Serving:       false,
		RealtimeStats: &querypb.RealtimeStats{HealthError: "tablet is shutting down"},
		TabletAlias:   a.alias,
	})
}
