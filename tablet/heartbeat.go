package tablet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
)

// Replication heartbeat. The serving primary writes one row, its alias and
// its clock in nanoseconds, every HeartbeatInterval; the row replicates
// like any write, and a replica's lag is its clock minus the row's. Unlike
// Seconds_Behind_Master, which reads 0 while the IO thread is stalled or
// cut off from the primary (nothing relayed is nothing to apply), the
// heartbeat ages whenever nothing arrives. Hosts need synchronized clocks.
//
// The row is written through a pool of the app user, whose writes
// read_only stops, never as root: a demoted or fenced primary that is
// read-only writes no heartbeat and makes no GTID of its own.

// heartbeatDDL makes the heartbeat table, idempotently; tablets run it
// unbinlogged at start, next to queryservice.MetadataDDL.
var heartbeatDDL = []string{
	`CREATE TABLE IF NOT EXISTS _mosaic.heartbeat (
  id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  tablet VARBINARY(64) NOT NULL,
  ts_ns BIGINT NOT NULL
) ENGINE=InnoDB`,
}

// Lag sources, as the status page and the lag source metric name them.
const (
	lagSourceNone      = "none"
	lagSourceHeartbeat = "heartbeat"
	lagSourceSBM       = "seconds_behind_master"
)

// heartbeatLoop writes the heartbeat every HeartbeatInterval while the
// tablet is the serving primary (or one fenced for a traffic switch),
// until ctx ends. One write at a time: a
// write waiting for a semi-sync ack delays the next tick instead of piling
// up writes, and each write is bounded by heartbeatTimeout.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	if a.cfg.HeartbeatInterval <= 0 {
		return
	}
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A primary fenced for a traffic switch (OpenTxOnly) keeps
		// writing it: its replicas' lag stays true for a switch back.
		if tt, serving, _ := a.qs.Serving(); tt != topodatapb.TabletType_PRIMARY || !serving && !a.qs.OpenTxOnly() {
			continue
		}
		err := a.writeHeartbeat(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.hbErrors.Inc()
			if !failing {
				a.log.Warn("heartbeat write failed", "err", err)
			}
			failing = true
		case err == nil:
			a.hbWrites.Inc()
			if failing {
				a.log.Info("heartbeat writes succeed again")
			}
			failing = false
		}
	}
}

// heartbeatTimeout bounds one heartbeat write: past the semi-sync timeout
// mysqld stops waiting for an ack itself, so a write still running then is
// stuck; its connection is cut.
func (a *Agent) heartbeatTimeout() time.Duration {
	return max(a.cfg.SemiSyncTimeout+time.Second, 2*a.cfg.HeartbeatInterval)
}

// writeHeartbeat writes the row once, as the app user.
func (a *Agent) writeHeartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.heartbeatTimeout())
	defer cancel()
	now := time.Now().UnixNano()
	alias := mysqlctl.QuoteString(a.cfg.Alias)
	return a.hbApp.Exec(ctx, fmt.Sprintf(
		"INSERT INTO _mosaic.heartbeat (id, tablet, ts_ns) VALUES (1, %s, %d) ON DUPLICATE KEY UPDATE tablet = VALUES(tablet), ts_ns = VALUES(ts_ns)",
		alias, now))
}

// errNoHeartbeat says the replica holds no heartbeat row yet (a new
// shard, or heartbeats are off).
var errNoHeartbeat = errors.New("no heartbeat row")

// readHeartbeat returns the time of the heartbeat row the replica holds.
func (a *Agent) readHeartbeat(ctx context.Context) (time.Time, error) {
	rows, err := a.dba.Query(ctx, "SELECT ts_ns FROM _mosaic.heartbeat WHERE id = 1")
	if err != nil {
		if n := sqlerr.FromError(err).Num; n == sqlerr.ERNoSuchTable || n == sqlerr.ERBadDB {
			return time.Time{}, errNoHeartbeat
		}
		return time.Time{}, err
	}
	if len(rows) == 0 {
		return time.Time{}, errNoHeartbeat
	}
	ns, err := strconv.ParseInt(rows[0]["ts_ns"], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("heartbeat time %q: %w", rows[0]["ts_ns"], err)
	}
	return time.Unix(0, ns), nil
}

// heartbeatLag returns the replica's lag by the heartbeat at now, and
// whether there is one to go by: heartbeats are on and the row exists.
func (a *Agent) heartbeatLag(ctx context.Context, now time.Time) (time.Duration, time.Time, bool) {
	if a.cfg.HeartbeatInterval <= 0 {
		return 0, time.Time{}, false
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	at, err := a.readHeartbeat(hctx)
	if err != nil {
		if !errors.Is(err, errNoHeartbeat) && ctx.Err() == nil {
			a.log.Warn("read heartbeat failed", "err", err)
		}
		return 0, time.Time{}, false
	}
	return max(now.Sub(at), 0), at, true
}

// lagSourceNow returns what the last health check's lag came from.
func (a *Agent) lagSourceNow() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lagSource
}
