package tablet

import (
	"context"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

// The shard record's control of the query service (TabletControl with
// disable_query_service for the tablet's type): a traffic switch fences
// the source shards' primaries with it. A tablet it disables refuses new
// statements and transactions with a retryable error (the gates buffer
// them), lets the transactions already open finish for
// QueryServiceDrainTimeout and then rolls them back, and reports not
// serving. Its heartbeat goes on, so its replicas keep a true lag. The
// RefreshState RPC applies the record at once and returns when the drain
// is over, with the primary's position then: every write the query
// service acknowledged is at or before it.

// qsControl is the control in force. Guarded by Agent.mu.
type qsControl struct {
	disabled bool
	// drained is closed once the query service has drained since it was
	// last disabled; pending is the same channel until the drain loop
	// takes it.
	drained, pending chan struct{}
	// rolledBack counts the transactions that drain rolled back.
	rolledBack int
	// stopDrain ends a drain under way when the control is lifted: the
	// tablet serves again and must not roll back its transactions.
	stopDrain context.CancelFunc
}

const qsDisabledReason = "the shard record disables the query service (traffic switch)"

// syncQueryControl applies the last shard record's control to the
// tablet's current type. Disabling stops new work at once and hands the
// drain to drainLoop.
func (a *Agent) syncQueryControl() {
	a.mu.Lock()
	tt := a.tabletType
	a.qs.SetDeniedTables(topo.DeniedTables(a.shardRecord, tt))
	disabled := a.shardRecord != nil && servingType(tt) && topo.QueryServiceDisabled(a.shardRecord, tt)
	c := &a.qsControl
	if disabled == c.disabled {
		a.mu.Unlock()
		return
	}
	c.disabled = disabled
	if disabled {
		c.drained = make(chan struct{})
		c.pending = c.drained
		c.rolledBack = 0
	} else if c.stopDrain != nil {
		c.stopDrain()
		c.stopDrain = nil
	}
	if disabled && a.ready && a.notServing == "" {
		// Under mu: applyServing checks the control under it too.
		a.qs.SetOpenTxOnly(tt, qsDisabledReason)
	}
	a.mu.Unlock()
	if disabled {
		a.log.Warn("query service disabled by the shard record: draining", "type", topo.TabletTypeString(tt))
		select {
		case a.drainCh <- struct{}{}:
		default:
		}
	} else {
		a.log.Info("query service enabled by the shard record", "type", topo.TabletTypeString(tt))
	}
	a.kickHealth()
}

// drainLoop drains the query service each time the record disables it,
// until ctx ends.
func (a *Agent) drainLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.drainCh:
		}
		a.mu.Lock()
		d := a.qsControl.pending
		a.qsControl.pending = nil
		if d == nil || !a.qsControl.disabled {
			a.mu.Unlock()
			if d != nil {
				close(d)
			}
			continue
		}
		dctx, stop := context.WithCancel(ctx)
		a.qsControl.stopDrain = stop
		a.mu.Unlock()
		start := time.Now()
		n, err := a.qs.Drain(dctx, a.cfg.QueryServiceDrainTimeout, "rolled back: the shard's query service was disabled for a traffic switch")
		stop()
		if ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		if a.qsControl.drained == d {
			a.qsControl.rolledBack = n
		}
		a.mu.Unlock()
		close(d)
		if err != nil {
			a.log.Info("query service drain stopped: the control was lifted")
			continue
		}
		a.log.Info("query service drained", "took", time.Since(start).Round(time.Millisecond), "rolled_back", n)
	}
}

// queryControl returns whether the record disables the query service and
// the channel closed once it has drained.
func (a *Agent) queryControl() (disabled bool, drained <-chan struct{}, rolledBack int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.qsControl.disabled, a.qsControl.drained, a.qsControl.rolledBack
}

// RefreshState implements the RPC: apply the shard record now, and when it
// disables the query service, return once drained.
func (s *tmServer) RefreshState(ctx context.Context, req *tabletmanagerpb.RefreshStateRequest) (*tabletmanagerpb.RefreshStateResponse, error) {
	a := s.a
	rec, v, err := a.ts.GetShard(ctx, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil {
		return nil, tmError("refresh state: read the shard record", err)
	}
	a.onShardRecord(ctx, rec, v)
	a.syncQueryControl()
	disabled, drained, _ := a.queryControl()
	if !disabled {
		return &tabletmanagerpb.RefreshStateResponse{}, nil
	}
	extra := 0
	if ms := req.DrainTimeoutMs; ms > 0 {
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-drained:
		case <-t.C:
			// Shorter than the tablet's own timeout: roll back what is
			// idle now; the drain waits for the rest.
			extra = a.qs.RollbackIdleTransactions("rolled back: the shard's query service was disabled for a traffic switch")
		case <-ctx.Done():
			return nil, tmError("refresh state: wait for the drain", ctx.Err())
		}
	}
	select {
	case <-drained:
	case <-ctx.Done():
		return nil, tmError("refresh state: wait for the drain", ctx.Err())
	}
	disabled, _, n := a.queryControl()
	resp := &tabletmanagerpb.RefreshStateResponse{QueryServiceDisabled: disabled, TransactionsRolledBack: int32(n + extra)}
	if disabled && a.tabletTypeNow() == topodatapb.TabletType_PRIMARY {
		if err := s.requireMysqld(); err != nil {
			return nil, err
		}
		pos, err := a.flavor.Position(ctx, a.dba)
		if err != nil {
			return nil, tmError("refresh state: primary position", err)
		}
		resp.Position = pos
	}
	return resp, nil
}
