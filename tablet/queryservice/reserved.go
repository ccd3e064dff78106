package queryservice

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Reserved connections (the ReserveExecute, Release and ReservedHeartbeat
// RPCs): a mysqld connection held for one caller outside any transaction,
// until the caller releases it. The gate runs a session's user-level lock
// functions on one, so that GET_LOCK's lock stays with the session and
// never reaches a pooled connection.
//
// A reserved connection must not outlive its holder: the tablet releases
// one its caller has not been heard from (a statement or a heartbeat)
// within ReservedTimeout, and releasing resets the connection
// (COM_RESET_CONNECTION drops every lock) before it returns to its pool,
// or closes it.

// reservedConn is one reserved connection.
type reservedConn struct {
	id    int64
	conn  *PooledConn
	inUse bool
	// heard is when the caller last ran a statement on it or heartbeated it.
	heard time.Time
}

// reservedSet tracks reserved connections. Safe for concurrent use.
type reservedSet struct {
	pool    *Pool
	timeout time.Duration
	log     *slog.Logger
	nextID  atomic.Int64

	mu     sync.Mutex
	active map[int64]*reservedConn
}

func newReservedSet(pool *Pool, timeout time.Duration, log *slog.Logger) *reservedSet {
	rs := &reservedSet{pool: pool, timeout: timeout, log: log, active: map[int64]*reservedConn{}}
	// As transaction ids: unique across restarts of the tablet.
	rs.nextID.Store(time.Now().UnixNano())
	return rs
}

// register records a reserved connection, in use by the caller.
func (rs *reservedSet) register(pc *PooledConn) *reservedConn {
	rc := &reservedConn{id: rs.nextID.Add(1), conn: pc, inUse: true, heard: time.Now()}
	rs.mu.Lock()
	rs.active[rc.id] = rc
	rs.mu.Unlock()
	return rc
}

// errReservedGone says a reserved connection is no longer held.
func errReservedGone(id int64) error {
	return sqlerr.New(sqlerr.ERUnknown, "reserved connection %d is gone: released by the tablet (its caller was not heard from in time, its statement was killed, its connection broke, the tablet stopped serving as primary or mysqld restarted); its locks are released", id)
}

// get claims reserved connection id for one statement; done gives it back.
// A request while another runs on it fails (1105) without ending it.
func (rs *reservedSet) get(id int64) (*reservedConn, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rc, ok := rs.active[id]
	if !ok {
		return nil, errReservedGone(id)
	}
	if rc.inUse {
		return nil, sqlerr.New(sqlerr.ERUnknown, "reserved connection %d is in use by another request", id)
	}
	rc.inUse = true
	return rc, nil
}

// done gives a claimed connection back after a statement, or releases it
// when the connection broke or its statement was killed (the locks on it
// may be gone, and mysqld may apply the KILL to the next statement). It
// reports whether the reservation is still held.
func (rs *reservedSet) done(rc *reservedConn) bool {
	if rc.conn.IsBroken() || rc.conn.discard {
		rs.end(rc, "its statement was killed or its connection broke")
		return false
	}
	rs.mu.Lock()
	rc.inUse = false
	rc.heard = time.Now()
	rs.mu.Unlock()
	return true
}

// end forgets a reserved connection and returns it to its pool reset, or
// closes it.
func (rs *reservedSet) end(rc *reservedConn, why string) {
	rs.mu.Lock()
	delete(rs.active, rc.id)
	rs.mu.Unlock()
	rs.log.Debug("reserved connection released", "reserved_id", rc.id, "why", why)
	// Whatever ran on it, nothing of it may reach the pool's next user.
	rc.conn.reset = true
	rc.conn.Recycle()
}

// release ends id for its caller; an id no longer held is not an error.
// It waits for a statement running on it to finish (cancelling the
// caller's request kills that statement).
func (rs *reservedSet) release(ctx context.Context, id int64, why string) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		rs.mu.Lock()
		rc, ok := rs.active[id]
		claimed := ok && !rc.inUse
		if claimed {
			rc.inUse = true
		}
		rs.mu.Unlock()
		if !ok {
			return nil
		}
		if claimed {
			rs.end(rc, why)
			return nil
		}
		select {
		case <-ctx.Done():
			return sqlerr.FromError(ctx.Err())
		case <-t.C:
		}
	}
}

// heartbeat marks ids as heard from now and returns those not held.
func (rs *reservedSet) heartbeat(ids []int64) []int64 {
	now := time.Now()
	var gone []int64
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, id := range ids {
		if rc, ok := rs.active[id]; ok {
			rc.heard = now
		} else {
			gone = append(gone, id)
		}
	}
	return gone
}

// count returns the number of reserved connections.
func (rs *reservedSet) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.active)
}

// expire releases the reserved connections not in use whose caller was
// last heard from more than the timeout ago.
func (rs *reservedSet) expire(now time.Time) {
	var victims []*reservedConn
	rs.mu.Lock()
	for _, rc := range rs.active {
		if !rc.inUse && now.Sub(rc.heard) > rs.timeout {
			rc.inUse = true
			victims = append(victims, rc)
		}
	}
	rs.mu.Unlock()
	for _, rc := range victims {
		rs.log.Warn("releasing reserved connection whose caller went silent", "reserved_id", rc.id, "timeout", rs.timeout)
		rs.end(rc, "its caller was not heard from in time")
	}
}

// endAll releases every reserved connection not in use (a statement
// running on one ends it when it finishes, see done): for shutdown,
// demotion or a mysqld restart.
func (rs *reservedSet) endAll(why string) {
	var victims []*reservedConn
	rs.mu.Lock()
	for _, rc := range rs.active {
		if rc.inUse {
			continue
		}
		rc.inUse = true
		victims = append(victims, rc)
	}
	rs.mu.Unlock()
	for _, rc := range victims {
		rs.end(rc, why)
	}
}

// run releases silent reserved connections until ctx ends.
func (rs *reservedSet) run(ctx context.Context) {
	every := min(max(rs.timeout/4, 10*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rs.expire(now)
		}
	}
}

// ReserveExecute implements querypb.QueryServer: it runs a statement on a
// reserved connection, a new one when the request names none.
func (s *Service) ReserveExecute(ctx context.Context, req *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	start := time.Now()
	// Counted while it runs (see inflight): Drain waits for it.
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if err := s.checkTarget(req.Target, false); err != nil {
		if req.ReservedId != 0 {
			// The tablet no longer serves what the locks were taken
			// for: they are of no use to anyone.
			_ = s.reserved.release(ctx, req.ReservedId, "the tablet stopped serving")
		}
		return nil, s.fail(err)
	}
	if err := s.checkDenied(req.Sql); err != nil {
		return nil, s.fail(err)
	}
	if ms := req.Options.GetTimeoutMs(); ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	resp := &querypb.ReserveExecuteResponse{TabletAlias: s.id.Alias}
	var rc *reservedConn
	if req.ReservedId == 0 {
		gctx, cancel := s.queryContext(ctx, req.Options)
		pc, err := s.reservedPool.GetFor(gctx, req.Options)
		cancel()
		if err != nil {
			return nil, s.fail(err)
		}
		rc = s.reserved.register(pc)
	} else {
		var err error
		if rc, err = s.reserved.get(req.ReservedId); err != nil {
			resp.Error = s.failed(err).Proto()
			return resp, nil
		}
		if err := applySettings(rc.conn, req.Options.GetSettings()); err != nil {
			s.reserved.done(rc)
			resp.ReservedId = rc.id
			resp.Error = s.failed(err).Proto()
			return resp, nil
		}
	}
	st := classify(req.Sql)
	var res *querypb.QueryResult
	err := s.killer.run(ctx, rc.conn, func() error {
		var err error
		res, err = rc.conn.Execute(req.Sql, s.maxRows(req.Options))
		addWarnings(rc.conn, res)
		return err
	})
	markState(rc.conn, st, req.Sql)
	if s.reserved.done(rc) {
		resp.ReservedId = rc.id
	}
	s.record(st, start)
	if err != nil {
		resp.Error = s.failed(err).Proto()
		return resp, nil
	}
	resp.Result = res
	return resp, nil
}

// applySettings brings a reserved connection to the caller's settings.
// It is never reset for that (the reset would drop its locks): the
// statements run again on it, which overrides what they set.
func applySettings(pc *PooledConn, settings []string) error {
	key := settingsKey(settings)
	if pc.settings == key {
		return nil
	}
	for _, q := range settings {
		if err := pc.Exec(q); err != nil {
			return err
		}
	}
	pc.settings = key
	return nil
}

// Release implements querypb.QueryServer.
func (s *Service) Release(ctx context.Context, req *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	if err := s.checkTarget(req.Target, true); err != nil {
		return nil, s.fail(err)
	}
	ctx, cancel := s.queryContext(ctx, nil)
	defer cancel()
	if err := s.reserved.release(ctx, req.ReservedId, "released by its caller"); err != nil {
		return nil, s.fail(err)
	}
	return &querypb.ReleaseResponse{}, nil
}

// ReservedHeartbeat implements querypb.QueryServer.
func (s *Service) ReservedHeartbeat(_ context.Context, req *querypb.ReservedHeartbeatRequest) (*querypb.ReservedHeartbeatResponse, error) {
	if err := s.checkTarget(req.Target, true); err != nil {
		return nil, s.fail(err)
	}
	return &querypb.ReservedHeartbeatResponse{GoneIds: s.reserved.heartbeat(req.ReservedIds)}, nil
}
