package tablet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/tablet/queryservice"
	"github.com/mosaicdb/mosaic/topo"
)

// tmServer implements tabletmanagerpb.TabletManagerServer over the agent.
// Actions that change the tablet's role are serialized; errors from mysqld
// travel as sqlerr statuses, others as gRPC statuses.
type tmServer struct {
	tabletmanagerpb.UnimplementedTabletManagerServer
	a *Agent
}

// tmError turns an action's error into a gRPC status.
func tmError(what string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var se *sqlerr.Error
	if errors.As(err, &se) {
		return sqlerr.Wrap(se.Num, err, "%s: %s", what, err.Error()).GRPCStatus().Err()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, flavor.ErrWaitTimeout):
		return status.Errorf(codes.DeadlineExceeded, "%s: %v", what, err)
	case errors.Is(err, context.Canceled):
		return status.Errorf(codes.Canceled, "%s: %v", what, err)
	}
	return status.Errorf(codes.Internal, "%s: %v", what, err)
}

// requireMysqld fails fast while mysqld is down.
func (s *tmServer) requireMysqld() error {
	if st, err := s.a.mysqld.State(); st != mysqlctl.Running {
		if err != nil {
			return status.Errorf(codes.Unavailable, "mysqld is %v: %v", st, err)
		}
		return status.Errorf(codes.Unavailable, "mysqld is %v", st)
	}
	return nil
}

// action runs fn under the action lock, once mysqld runs.
func (s *tmServer) action(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	if err := s.requireMysqld(); err != nil {
		return err
	}
	if err := s.a.actions.lock(ctx); err != nil {
		return tmError(what+": wait for the tablet's current action", err)
	}
	defer s.a.actions.unlock()
	s.a.log.Info("tablet action", "action", what)
	return tmError(what, fn(ctx))
}

func (s *tmServer) Ping(context.Context, *tabletmanagerpb.PingRequest) (*tabletmanagerpb.PingResponse, error) {
	return &tabletmanagerpb.PingResponse{}, nil
}

func (s *tmServer) Status(ctx context.Context, _ *tabletmanagerpb.StatusRequest) (*tabletmanagerpb.StatusResponse, error) {
	a := s.a
	resp := &tabletmanagerpb.StatusResponse{Tablet: a.tabletRecord(), Serving: a.lastHealth().GetServing(), Progress: a.progress.snapshot()}
	if st, _ := a.mysqld.State(); st != mysqlctl.Running {
		return resp, nil
	}
	resp.MysqldRunning = true
	ro, err := a.flavor.ReadOnly(ctx, a.dba)
	if err != nil {
		return nil, tmError("read read_only", err)
	}
	resp.ReadOnly = ro
	rs, err := a.flavor.ReplicationStatus(ctx, a.dba)
	if err != nil {
		return nil, tmError("replication status", err)
	}
	resp.Position = rs.Position
	resp.Replication = rs
	if resp.BinlogHistory, err = a.flavor.History(ctx, a.dba); err != nil {
		return nil, tmError("binlog history", err)
	}
	return resp, nil
}

func (s *tmServer) ChangeType(ctx context.Context, req *tabletmanagerpb.ChangeTypeRequest) (*tabletmanagerpb.ChangeTypeResponse, error) {
	switch req.TabletType {
	case topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY, topodatapb.TabletType_SPARE, topodatapb.TabletType_DRAINED, topodatapb.TabletType_BACKUP, topodatapb.TabletType_RESTORE:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "ChangeType to %v: use InitPrimary or PromoteReplica to make a primary", req.TabletType)
	}
	err := s.action(ctx, "change type", func(ctx context.Context) error {
		a := s.a
		a.mu.Lock()
		if a.tabletType == topodatapb.TabletType_PRIMARY {
			a.mu.Unlock()
			return status.Errorf(codes.FailedPrecondition, "tablet %s is the primary: demote it first", a.aliasString())
		}
		a.tabletType = req.TabletType
		a.mu.Unlock()
		a.checkHealth(ctx)
		return a.saveTablet(ctx)
	})
	return &tabletmanagerpb.ChangeTypeResponse{}, err
}

func (s *tmServer) SetReadOnly(ctx context.Context, req *tabletmanagerpb.SetReadOnlyRequest) (*tabletmanagerpb.SetReadOnlyResponse, error) {
	err := s.action(ctx, "set read-only", func(ctx context.Context) error {
		return s.a.flavor.SetReadOnly(ctx, s.a.dba, req.ReadOnly)
	})
	return &tabletmanagerpb.SetReadOnlyResponse{}, err
}

func (s *tmServer) PrimaryPosition(ctx context.Context, _ *tabletmanagerpb.PrimaryPositionRequest) (*tabletmanagerpb.PrimaryPositionResponse, error) {
	if err := s.requireMysqld(); err != nil {
		return nil, err
	}
	pos, err := s.a.flavor.Position(ctx, s.a.dba)
	if err != nil {
		return nil, tmError("primary position", err)
	}
	return &tabletmanagerpb.PrimaryPositionResponse{Position: pos}, nil
}

func (s *tmServer) ReplicationStatus(ctx context.Context, _ *tabletmanagerpb.ReplicationStatusRequest) (*tabletmanagerpb.ReplicationStatusResponse, error) {
	if err := s.requireMysqld(); err != nil {
		return nil, err
	}
	rs, err := s.a.flavor.ReplicationStatus(ctx, s.a.dba)
	if err != nil {
		return nil, tmError("replication status", err)
	}
	return &tabletmanagerpb.ReplicationStatusResponse{Status: rs}, nil
}

func (s *tmServer) StopReplication(ctx context.Context, req *tabletmanagerpb.StopReplicationRequest) (*tabletmanagerpb.StopReplicationResponse, error) {
	resp := &tabletmanagerpb.StopReplicationResponse{}
	err := s.action(ctx, "stop replication", func(ctx context.Context) error {
		a := s.a
		stop := a.flavor.StopReplication
		if req.IoThreadOnly {
			stop = a.flavor.StopReplicationIO
		}
		a.mu.Lock()
		hasSource := a.source != nil
		a.mu.Unlock()
		if hasSource {
			if err := stop(ctx, a.dba); err != nil {
				return err
			}
		}
		a.mu.Lock()
		a.replicating = false
		a.mu.Unlock()
		rs, err := a.flavor.ReplicationStatus(ctx, a.dba)
		resp.Status = rs
		a.checkHealth(ctx)
		return err
	})
	return resp, err
}

func (s *tmServer) StartReplication(ctx context.Context, _ *tabletmanagerpb.StartReplicationRequest) (*tabletmanagerpb.StartReplicationResponse, error) {
	err := s.action(ctx, "start replication", func(ctx context.Context) error {
		a := s.a
		a.mu.Lock()
		src := a.source
		a.mu.Unlock()
		if src == nil {
			return status.Error(codes.FailedPrecondition, "no replication source set: use SetReplicationSource")
		}
		if err := a.flavor.StartReplication(ctx, a.dba, a.cfg.SemiSync); err != nil {
			return err
		}
		a.mu.Lock()
		a.replicating = true
		a.mu.Unlock()
		a.checkHealth(ctx)
		return nil
	})
	return &tabletmanagerpb.StartReplicationResponse{}, err
}

func (s *tmServer) WaitForPosition(ctx context.Context, req *tabletmanagerpb.WaitForPositionRequest) (*tabletmanagerpb.WaitForPositionResponse, error) {
	if err := s.requireMysqld(); err != nil {
		return nil, err
	}
	timeout := s.a.cfg.WaitForPositionTimeout
	if req.TimeoutMs > 0 {
		timeout = time.Duration(req.TimeoutMs) * time.Millisecond
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	if err := s.a.flavor.WaitForPosition(ctx, s.a.dba, req.Position, timeout); err != nil {
		return nil, tmError("wait for position", err)
	}
	return &tabletmanagerpb.WaitForPositionResponse{}, nil
}

func (s *tmServer) InitPrimary(ctx context.Context, req *tabletmanagerpb.InitPrimaryRequest) (*tabletmanagerpb.InitPrimaryResponse, error) {
	resp := &tabletmanagerpb.InitPrimaryResponse{}
	err := s.action(ctx, "init primary", func(ctx context.Context) error {
		a := s.a
		if err := a.becomePrimary(ctx, req.PrimaryTermStartUnixNano); err != nil {
			return err
		}
		if err := a.saveTablet(ctx); err != nil {
			return err
		}
		a.countReparent("promoted")
		pos, err := a.flavor.Position(ctx, a.dba)
		resp.Position = pos
		return err
	})
	return resp, err
}

func (s *tmServer) SetReplicationSource(ctx context.Context, req *tabletmanagerpb.SetReplicationSourceRequest) (*tabletmanagerpb.SetReplicationSourceResponse, error) {
	err := s.action(ctx, "set replication source", func(ctx context.Context) error {
		a := s.a
		var src *flavor.Source
		if req.Host != "" && req.Port > 0 {
			src = &flavor.Source{Host: req.Host, Port: int(req.Port), User: a.mysqld.ReplicationUser(), Password: a.mysqld.ReplicationPassword().Reveal()}
		} else if req.Parent != nil {
			var err error
			if src, err = a.sourceOf(ctx, req.Parent); err != nil {
				return err
			}
		} else {
			return status.Error(codes.InvalidArgument, "SetReplicationSource needs a parent alias or host and port")
		}
		if req.Parent != nil && topo.AliasString(req.Parent) == a.aliasString() {
			return status.Error(codes.InvalidArgument, "a tablet cannot replicate from itself")
		}
		wasPrimary := a.tabletTypeNow() == topodatapb.TabletType_PRIMARY
		if wasPrimary {
			a.qs.SetServing(topodatapb.TabletType_PRIMARY, false, "turning into a replica")
		}
		var parent *topodatapb.TabletAlias
		if req.Host == "" || req.Port <= 0 {
			parent = req.Parent
		}
		if !wasPrimary && parent != nil && req.StartReplication && a.replicatesFrom(ctx, parent, src) {
			// The shard watch got here first (a reparent repoints every
			// tablet after writing the record): restarting replication
			// would only disconnect and reconnect to the new primary,
			// which MariaDB's semi-sync does not always survive (commits
			// waiting for an ack stay waiting).
			a.log.Info("tablet replicates from that primary already", "primary", topo.AliasString(parent))
			return nil
		}
		if err := a.becomeReplicaOf(ctx, parent, src, req.StartReplication); err != nil {
			return err
		}
		return a.saveTablet(ctx)
	})
	return &tabletmanagerpb.SetReplicationSourceResponse{}, err
}

func (s *tmServer) DemotePrimary(ctx context.Context, _ *tabletmanagerpb.DemotePrimaryRequest) (*tabletmanagerpb.DemotePrimaryResponse, error) {
	resp := &tabletmanagerpb.DemotePrimaryResponse{}
	err := s.action(ctx, "demote primary", func(ctx context.Context) error {
		a := s.a
		// Stop taking new requests, let open transactions finish (for a
		// while), then stop writes; read_only=ON waits for commits in
		// progress.
		a.mu.Lock()
		a.notServing = "demoting"
		a.mu.Unlock()
		a.qs.SetServing(a.tabletTypeNow(), false, "demoting")
		a.kickHealth()
		dctx, cancel := context.WithTimeout(ctx, a.cfg.DemoteTimeout)
		a.qs.DrainTransactions(dctx)
		// Statements already past the serving check finish first; one
		// still running after the demote timeout gets a read-only error
		// (retryable: it did not run).
		a.qs.DrainRequests(dctx)
		cancel()
		if err := a.becomeReplica(ctx, nil, false); err != nil {
			return err
		}
		if err := a.saveTablet(ctx); err != nil {
			return err
		}
		a.countReparent("demoted")
		pos, err := a.flavor.Position(ctx, a.dba)
		resp.Position = pos
		return err
	})
	return resp, err
}

func (s *tmServer) PromoteReplica(ctx context.Context, req *tabletmanagerpb.PromoteReplicaRequest) (*tabletmanagerpb.PromoteReplicaResponse, error) {
	resp := &tabletmanagerpb.PromoteReplicaResponse{}
	err := s.action(ctx, "promote replica", func(ctx context.Context) error {
		a := s.a
		if err := a.becomePrimary(ctx, req.PrimaryTermStartUnixNano); err != nil {
			return err
		}
		if err := a.saveTablet(ctx); err != nil {
			return err
		}
		a.countReparent("promoted")
		pos, err := a.flavor.Position(ctx, a.dba)
		resp.Position = pos
		return err
	})
	return resp, err
}

// Repair runs even while mysqld is down: a lost data dir keeps it down.
func (s *tmServer) Repair(ctx context.Context, req *tabletmanagerpb.RepairRequest) (*tabletmanagerpb.RepairResponse, error) {
	if err := s.a.actions.lock(ctx); err != nil {
		return nil, tmError("repair: wait for the tablet's current action", err)
	}
	defer s.a.actions.unlock()
	s.a.log.Info("tablet action", "action", "repair")
	resp, err := s.a.repair(ctx, req)
	return resp, tmError("repair", err)
}

func (s *tmServer) ExecuteFetchAsDba(ctx context.Context, req *tabletmanagerpb.ExecuteFetchAsDbaRequest) (*tabletmanagerpb.ExecuteFetchAsDbaResponse, error) {
	if err := s.requireMysqld(); err != nil {
		return nil, err
	}
	c, err := s.a.dbaConn(ctx)
	if err != nil {
		return nil, sqlerr.ToGRPC(err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	if req.DisableBinlog {
		if err := c.Exec("SET SESSION sql_log_bin = 0"); err != nil {
			return nil, sqlerr.ToGRPC(err)
		}
	}
	maxRows := int(req.MaxRows)
	if maxRows <= 0 {
		maxRows = 10000
	}
	res, err := c.Execute(req.Sql, maxRows)
	if err != nil {
		if ctx.Err() != nil {
			return nil, sqlerr.ToGRPC(fmt.Errorf("%w: %v", ctx.Err(), err))
		}
		return nil, sqlerr.ToGRPC(err)
	}
	return &tabletmanagerpb.ExecuteFetchAsDbaResponse{Result: res}, nil
}

// HoldCommits takes or lifts a restore point's hold on the commit phase of
// distributed transactions. Only a primary holds: a position read from
// anything else would not be the shard's.
func (s *tmServer) HoldCommits(ctx context.Context, req *tabletmanagerpb.HoldCommitsRequest) (*tabletmanagerpb.HoldCommitsResponse, error) {
	if req.Release {
		// The position is read while the hold still holds, if it does.
		if !s.a.qs.CommitsHeld(req.HoldId) {
			s.a.qs.ReleaseCommits(req.HoldId)
			return &tabletmanagerpb.HoldCommitsResponse{}, nil
		}
		pos, err := s.a.flavor.Position(ctx, s.a.dba)
		held := s.a.qs.ReleaseCommits(req.HoldId)
		if err != nil {
			return nil, tmError("position under a commit hold", err)
		}
		return &tabletmanagerpb.HoldCommitsResponse{Position: pos, Held: held}, nil
	}
	if err := s.requireMysqld(); err != nil {
		return nil, err
	}
	if tt := s.a.tabletTypeNow(); tt != topodatapb.TabletType_PRIMARY {
		return nil, status.Errorf(codes.FailedPrecondition, "tablet %s is %s, not a primary: only a primary holds distributed commits", s.a.cfg.Alias, topo.TabletTypeString(tt))
	}
	if req.TtlMs <= 0 || req.TtlMs > 60_000 {
		return nil, status.Errorf(codes.InvalidArgument, "commit hold time to live %d ms: want 1 to 60000", req.TtlMs)
	}
	took, err := s.a.qs.HoldCommits(ctx, req.HoldId, time.Duration(req.TtlMs)*time.Millisecond)
	if errors.Is(err, queryservice.ErrCommitsHeld) {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	if err != nil {
		return nil, tmError("hold distributed commits", err)
	}
	return &tabletmanagerpb.HoldCommitsResponse{DrainNs: took.Nanoseconds()}, nil
}
