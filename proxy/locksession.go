package proxy

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/topo"
)

// Lock sessions. A user-level lock (GET_LOCK) belongs to the mysqld
// connection that took it, so a session's lock statements (the router's
// Lock routes) run on one tablet connection reserved for them: the
// session's lock session on that shard, the keyspace's first shard,
// always on the primary. It is separate from the session's transactions
// (COMMIT and ROLLBACK leave the locks alone, as in MariaDB) and lives
// until the session ends: the client disconnects, resets the connection
// (COM_RESET_CONNECTION) or changes user, when the gate releases it.
//
// The gate heartbeats every lock session on its tablet (lockRegistry),
// so a tablet keeps it past its reserved timeout, and releases the ones
// of a dead gate by itself. A lock session whose tablet went away (a
// failover, a restart) has lost its locks: the next lock statement of the
// session fails with an error that says so, and the one after starts a
// new lock session.

// lockSession is a session's reserved connection for its locks on one
// shard.
type lockSession struct {
	key    shardKey
	target *querypb.Target
	tablet *tabletgw.TabletHealth
	id     int64
	// lost says why the tablet no longer holds it (set by the heartbeat);
	// nil while it is held.
	lost atomic.Pointer[string]
}

func (ls *lockSession) alias() string { return topo.AliasString(ls.tablet.Tablet.GetAlias()) }

// lockRegistry is every lock session of the gate, for the heartbeat. Safe
// for concurrent use.
type lockRegistry struct {
	mu  sync.Mutex
	set map[*lockSession]struct{}
}

func newLockRegistry() *lockRegistry {
	return &lockRegistry{set: map[*lockSession]struct{}{}}
}

func (r *lockRegistry) add(ls *lockSession) {
	r.mu.Lock()
	r.set[ls] = struct{}{}
	r.mu.Unlock()
}

func (r *lockRegistry) remove(ls *lockSession) {
	r.mu.Lock()
	delete(r.set, ls)
	r.mu.Unlock()
}

// count returns the number of lock sessions.
func (r *lockRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.set)
}

// run heartbeats every lock session each interval until ctx ends.
func (r *lockRegistry) run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.heartbeat(ctx, interval, log)
		}
	}
}

// heartbeat sends one ReservedHeartbeat per tablet, for all of its lock
// sessions at once, and marks the ones the tablet no longer holds as lost.
// A tablet that does not answer is tried again next time: its lock
// sessions are lost only once it says so, or once their own next
// statement fails.
func (r *lockRegistry) heartbeat(ctx context.Context, timeout time.Duration, log *slog.Logger) {
	type group struct {
		tablet *tabletgw.TabletHealth
		target *querypb.Target
		byID   map[int64]*lockSession
	}
	groups := map[*tabletgw.TabletHealth]*group{}
	r.mu.Lock()
	for ls := range r.set {
		if ls.lost.Load() != nil {
			continue
		}
		g := groups[ls.tablet]
		if g == nil {
			g = &group{tablet: ls.tablet, target: ls.target, byID: map[int64]*lockSession{}}
			groups[ls.tablet] = g
		}
		g.byID[ls.id] = ls
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]int64, 0, len(g.byID))
			for id := range g.byID {
				ids = append(ids, id)
			}
			hctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			resp, err := g.tablet.Client.ReservedHeartbeat(hctx, &querypb.ReservedHeartbeatRequest{Target: g.target, ReservedIds: ids})
			if err != nil {
				log.Warn("lock session heartbeat failed", "tablet", topo.AliasString(g.tablet.Tablet.GetAlias()), "sessions", len(ids), "err", err)
				return
			}
			for _, id := range resp.GoneIds {
				if ls := g.byID[id]; ls != nil {
					why := "the tablet no longer holds it (it restarted, stopped serving as primary, or did not hear from the gate within its reserved timeout)"
					ls.lost.Store(&why)
				}
			}
		}()
	}
	wg.Wait()
}

// lockSessionFor returns the session's lock session on key, nil if none.
func (s *Session) lockSessionFor(key shardKey) *lockSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks[key]
}

func (s *Session) setLockSession(key shardKey, ls *lockSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ls == nil {
		delete(s.locks, key)
		return
	}
	if s.locks == nil {
		s.locks = map[shardKey]*lockSession{}
	}
	s.locks[key] = ls
}

// releaseLocks releases every lock session of the session: its locks are
// freed. A tablet that cannot be reached releases it by itself after its
// reserved timeout.
func (s *Session) releaseLocks(ctx context.Context, reg *lockRegistry) {
	s.mu.Lock()
	list := make([]*lockSession, 0, len(s.locks))
	for _, ls := range s.locks {
		list = append(list, ls)
	}
	s.locks = nil
	s.mu.Unlock()
	for _, ls := range list {
		dropLockSession(ctx, reg, ls)
	}
}

// dropLockSession forgets ls and asks its tablet to release it.
func dropLockSession(ctx context.Context, reg *lockRegistry, ls *lockSession) {
	reg.remove(ls)
	if ls.lost.Load() != nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = ls.tablet.Client.Release(rctx, &querypb.ReleaseRequest{Target: ls.target, ReservedId: ls.id})
}

// errLockSessionLost is what a lock statement gets when the session's
// lock session is gone: the statement did not run (or its outcome is
// unknown when the tablet did not answer), and every lock of the session
// on that shard is released.
func errLockSessionLost(ls *lockSession, why string) error {
	return sqlerr.New(sqlerr.ERUnknown, "the session's lock session on %s (tablet %s) was lost: %s; every user-level lock the session held there is released. Run the statement again to start a new lock session", ls.key, ls.alias(), why)
}

// executeLock runs a Lock route's statement on the session's lock session
// for its shard, starting one (on the shard's primary) if the session has
// none.
func (e *sessionExecutor) executeLock(ctx context.Context, q router.ShardQuery) (*querypb.QueryResult, error) {
	key := shardKey{q.Keyspace, q.Shard}
	reg := e.gw.locks
	opts := e.options()
	if ls := e.s.lockSessionFor(key); ls != nil {
		if why := ls.lost.Load(); why != nil {
			e.s.setLockSession(key, nil)
			reg.remove(ls)
			return nil, errLockSessionLost(ls, *why)
		}
		resp, err := ls.tablet.Client.ReserveExecute(ctx, &querypb.ReserveExecuteRequest{Target: ls.target, Sql: q.SQL, Options: opts, ReservedId: ls.id})
		switch {
		case err != nil:
			// The tablet is gone, no longer serves as primary, or the
			// statement was interrupted (which ends the reservation on
			// the tablet): the locks cannot be trusted any more.
			e.s.setLockSession(key, nil)
			dropLockSession(ctx, reg, ls)
			se := sqlerr.FromError(err)
			if ctx.Err() != nil {
				return nil, sqlerr.Wrap(se.Num, err, "%s; the session's lock session on %s was released with every lock it held", se.Message, key)
			}
			return nil, errLockSessionLost(ls, se.Message)
		case resp.ReservedId == 0:
			e.s.setLockSession(key, nil)
			reg.remove(ls)
			why := "the tablet no longer holds it"
			if resp.Error != nil {
				why = resp.Error.Message
			}
			return nil, errLockSessionLost(ls, why)
		case resp.Error != nil:
			return nil, sqlerr.FromProto(resp.Error)
		}
		e.s.addWarnings(resp.Result.GetWarningList())
		return resp.Result, nil
	}
	target := &querypb.Target{Keyspace: q.Keyspace, Shard: q.Shard, TabletType: topodatapb.TabletType_PRIMARY}
	var res *querypb.QueryResult
	err := e.gw.Call(ctx, target, func(th *tabletgw.TabletHealth) error {
		resp, err := th.Client.ReserveExecute(ctx, &querypb.ReserveExecuteRequest{Target: target, Sql: q.SQL, Options: opts})
		if err != nil {
			return err
		}
		if resp.ReservedId != 0 {
			ls := &lockSession{key: key, target: target, tablet: th, id: resp.ReservedId}
			e.s.setLockSession(key, ls)
			reg.add(ls)
		}
		if resp.Error != nil {
			// The statement ran: never again elsewhere.
			return sqlerr.NotRetryable(sqlerr.FromProto(resp.Error))
		}
		res = resp.Result
		return nil
	})
	if err != nil {
		return nil, wrapShardErr(err)
	}
	e.s.addWarnings(res.GetWarningList())
	return res, nil
}

// lockQuery reports whether qs is a Lock route's statement.
func lockQuery(qs []router.ShardQuery) bool {
	return len(qs) == 1 && qs[0].Lock
}
