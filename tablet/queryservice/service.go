package queryservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// Identity is what the tablet serves.
type Identity struct {
	Alias    *topodatapb.TabletAlias
	Keyspace string
	Shard    string
}

// servingState is swapped whole, so the query path reads it with one load.
type servingState struct {
	tabletType topodatapb.TabletType
	serving    bool
	// openTxOnly, while not serving, still lets statements of the
	// transactions already open through (SetOpenTxOnly).
	openTxOnly bool
	reason     string
}

// Accounts are the mysqld accounts of the query service: statements run
// as App or ReadOnly as their ExecuteOptions.account says (with the
// keyspace's database as default); the two-phase commit records as
// Agent. The pools hold connections of every account, within one size. ReadOnly sessions are read-only (SET SESSION TRANSACTION READ
// ONLY on every connection, again after every reset): a second wall
// behind the account's missing privileges.
type Accounts struct {
	App, ReadOnly, Agent mysqlconn.Params
}

// account indexes of the service's pools: querypb.Account's values, then
// the agent's.
const (
	accountApp      = int(querypb.Account_ACCOUNT_APP)
	accountReadOnly = int(querypb.Account_ACCOUNT_READ_ONLY)
	accountAgent    = accountReadOnly + 1
)

// readOnlySession makes a read-only account's session read-only.
const readOnlySession = "SET SESSION TRANSACTION READ ONLY"

func (a Accounts) pools() []AccountParams {
	return []AccountParams{
		accountApp:      {Params: a.App},
		accountReadOnly: {Params: a.ReadOnly, Init: []string{readOnlySession}},
		accountAgent:    {Params: a.Agent},
	}
}

// Service implements querypb.QueryServer.
type Service struct {
	querypb.UnimplementedQueryServer

	cfg    Config
	id     Identity
	log    *slog.Logger
	pool   *Pool
	txPool *Pool
	txs    *txPool
	// reservedPool holds the reserved connections (lock sessions).
	reservedPool *Pool
	reserved     *reservedSet
	killer       *killer
	health       *Broadcaster
	metrics      *Metrics
	state        atomic.Pointer[servingState]
	queries      atomic.Uint64
	twopc        twopcState
	// commitHold holds distributed commits for restore points
	// (commithold.go).
	commitHold commitHold
	// lockWaits reads mysqld's lock waits (lockwait.go), on lockWaitPool
	// when set.
	lockWaits    lockWaitReader
	lockWaitPool *Pool
	// inflight counts the requests that may start work and have not
	// finished: statements outside transactions, and the requests that
	// open a transaction or a reserved connection until it is registered
	// (txs, reserved). Each counts itself before its serving check, so
	// that Drain and DrainRequests, which wait for it, never miss one that
	// passed the check before a fence.
	inflight atomic.Int64
	// denied are the tables a table move took away (denied.go).
	denied atomic.Pointer[deniedSet]
	// muxStop is closed by StopMultiplex.
	muxStop     chan struct{}
	muxStopOnce sync.Once
}

// New returns a Service that is not serving yet. accounts reach mysqld;
// health and metrics may be nil.
func New(cfg Config, id Identity, accounts Accounts, health *Broadcaster, metrics *Metrics, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if health == nil {
		health = NewBroadcaster()
	}
	pools := accounts.pools()
	kill := accounts.pools()
	for i := range kill {
		kill[i].Params.DB, kill[i].Init = "", nil
	}
	s := &Service{
		cfg:          cfg,
		id:           id,
		log:          log,
		pool:         NewAccountPool(pools, cfg.PoolSize),
		txPool:       NewAccountPool(pools, cfg.TxPoolSize),
		reservedPool: NewAccountPool(pools, cfg.ReservedPoolSize),
		killer:       &killer{pool: NewAccountPool(kill, 4), grace: cfg.KillGrace, log: log},
		health:       health,
		metrics:      metrics,
		muxStop:      make(chan struct{}),
	}
	s.pool.wait = metrics.poolWaitObserver("query")
	s.txPool.wait = metrics.poolWaitObserver("transaction")
	s.pool.resets = metrics.poolResetCounter("query")
	s.txPool.resets = metrics.poolResetCounter("transaction")
	s.reservedPool.wait = metrics.poolWaitObserver("reserved")
	s.reservedPool.resets = metrics.poolResetCounter("reserved")
	s.txs = newTxPool(s.txPool, cfg.TxIdleTimeout, log)
	s.reserved = newReservedSet(s.reservedPool, cfg.ReservedTimeout, log)
	s.state.Store(&servingState{reason: "starting"})
	return s, nil
}

// Running returns the statements running on mysqld for the service,
// longest-running first.
func (s *Service) Running() []RunningStatement {
	var out []RunningStatement
	for _, p := range []struct {
		name string
		pool *Pool
	}{{"query", s.pool}, {"transaction", s.txPool}, {"reserved", s.reservedPool}} {
		for _, r := range p.pool.Running() {
			r.Pool = p.name
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Register adds the service to a gRPC server.
func (s *Service) Register(g *grpc.Server) { querypb.RegisterQueryServer(g, s) }

// SetServing sets the tablet type requests are checked against and
// whether the tablet serves; reason says why not.
func (s *Service) SetServing(t topodatapb.TabletType, serving bool, reason string) {
	s.state.Store(&servingState{tabletType: t, serving: serving, reason: reason})
}

// Serving reports the serving state.
func (s *Service) Serving() (topodatapb.TabletType, bool, string) {
	st := s.state.Load()
	return st.tabletType, st.serving, st.reason
}

// ResetPools drops every pooled connection, open transaction and
// reserved connection, for when mysqld restarted under them.
func (s *Service) ResetPools(why string) {
	s.pool.Reset()
	s.txPool.Reset()
	s.reservedPool.Reset()
	s.killer.pool.Reset()
	s.txs.endAll(why)
	s.reserved.endAll(why)
}

// Run runs the transaction killer and the expiry of silent reserved
// connections until ctx ends, then rolls back what is open, releases the
// reserved connections and closes the pools.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.reserved.run(ctx) }()
	s.txs.runKiller(ctx)
	wg.Wait()
	s.txs.endAll("tablet shut down")
	s.reserved.endAll("tablet shut down")
	s.pool.Close()
	s.txPool.Close()
	s.reservedPool.Close()
	s.killer.pool.Close()
	return nil
}

// DrainTransactions releases every reserved connection (the locks on a
// demoted primary are of no use), waits until no transaction is open or
// ctx ends, then rolls back whatever is still open. The caller stops new
// ones first (SetServing).
func (s *Service) DrainTransactions(ctx context.Context) {
	s.reserved.endAll("tablet demoted")
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for s.txs.count() > 0 {
		select {
		case <-ctx.Done():
			s.txs.endAll("tablet demoted")
			return
		case <-t.C:
		}
	}
}

// PoolStats is what the pools hold now.
type PoolStats struct {
	InUse, Size     int
	TxInUse, TxSize int
	OpenTx          int
	// Reserved is the number of reserved connections (lock sessions).
	Reserved int
}

// Stats returns the pools' use.
func (s *Service) Stats() PoolStats {
	var st PoolStats
	st.InUse, st.Size = s.pool.Stats()
	st.TxInUse, st.TxSize = s.txPool.Stats()
	st.OpenTx = s.txs.count()
	st.Reserved = s.reserved.count()
	return st
}

// checkTarget refuses requests this tablet must not serve. anyState lets
// Commit and Rollback through while not serving: finishing a transaction
// is always allowed.
func (s *Service) checkTarget(t *querypb.Target, anyState bool) error {
	return s.checkTargetTx(t, anyState, 0)
}

// checkTargetTx is checkTarget for a statement of transaction txID (0:
// none), which SetOpenTxOnly lets through.
func (s *Service) checkTargetTx(t *querypb.Target, anyState bool, txID int64) error {
	if t == nil {
		return sqlerr.New(sqlerr.ERUnknown, "wrong target: request has no target")
	}
	if t.Keyspace != s.id.Keyspace || t.Shard != s.id.Shard {
		return sqlerr.NotServing("wrong target: tablet %d serves %s/%s, not %s/%s", s.id.Alias.GetUid(), s.id.Keyspace, s.id.Shard, t.Keyspace, t.Shard)
	}
	if anyState {
		return nil
	}
	st := s.state.Load()
	if !st.serving && st.openTxOnly && txID != 0 && t.TabletType == st.tabletType {
		return nil
	}
	if !st.serving {
		return sqlerr.NotServing("not serving: tablet %s-%d: %s", s.id.Alias.GetCell(), s.id.Alias.GetUid(), st.reason)
	}
	if t.TabletType == topodatapb.TabletType_PRIMARY && st.tabletType != topodatapb.TabletType_PRIMARY {
		return sqlerr.NotServing("wrong target: tablet %s-%d is %s, not PRIMARY", s.id.Alias.GetCell(), s.id.Alias.GetUid(), st.tabletType)
	}
	return nil
}

func (s *Service) queryContext(ctx context.Context, opts *querypb.ExecuteOptions) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.queryTimeout(opts))
}

// queryTimeout is how long a query may run: the request's timeout_ms, or
// the tablet's default.
func (s *Service) queryTimeout(opts *querypb.ExecuteOptions) time.Duration {
	if ms := opts.GetTimeoutMs(); ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return s.cfg.QueryTimeout
}

func (s *Service) maxRows(opts *querypb.ExecuteOptions) int {
	if n := opts.GetMaxRows(); n > 0 {
		return int(n)
	}
	return s.cfg.MaxRows
}

// fail records err and returns it in gRPC form.
func (s *Service) fail(err error) error {
	return s.failed(err).GRPCStatus().Err()
}

// failed records err and returns it as the client's MySQL error.
func (s *Service) failed(err error) *sqlerr.Error {
	e := sqlerr.FromError(err)
	s.metrics.recordError(e.Num)
	return e
}

// Execute implements querypb.QueryServer.
func (s *Service) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	resp, err := s.executeRequest(ctx, req)
	if err != nil {
		return nil, err.GRPCStatus().Err()
	}
	return resp, nil
}

// executeRequest carries out a unary Execute call.
func (s *Service) executeRequest(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, *sqlerr.Error) {
	ctx, cancel := s.queryContext(ctx, req.Options)
	defer cancel()
	return s.executeBounded(ctx, req)
}

// executeBounded carries out an Execute call whose ctx already has the
// query's timeout (queryTimeout).
func (s *Service) executeBounded(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, *sqlerr.Error) {
	start := time.Now()
	st := classify(req.Sql)
	if req.TransactionId == 0 {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
	}
	if err := s.checkTargetTx(req.Target, false, req.TransactionId); err != nil {
		return nil, s.failed(err)
	}
	if err := s.checkDenied(req.Sql); err != nil {
		return nil, s.failed(err)
	}
	res, err := s.execute(ctx, req.TransactionId, st, req.Sql, req.Options, req.SmallResult, req.Savepoints)
	s.record(st, start)
	if errors.Is(err, mysqlconn.ErrTooLarge) {
		return &querypb.ExecuteResponse{TooLarge: true}, nil
	}
	if err != nil {
		return nil, s.failed(refusedByReadOnly(req.Target, req.TransactionId, err))
	}
	return &querypb.ExecuteResponse{Result: res}, nil
}

// refusedByReadOnly turns mysqld's read-only refusal of a statement sent
// to a primary outside a transaction into a retryable error: the primary
// was demoted or fenced while the statement was on its way, the statement
// did not run, and the gate may send it to the new primary.
func refusedByReadOnly(target *querypb.Target, txID int64, err error) error {
	if txID != 0 || target.GetTabletType() != topodatapb.TabletType_PRIMARY {
		return err
	}
	var se *sqlerr.Error
	if errors.As(err, &se) && se.Num == sqlerr.ERReadOnly {
		return sqlerr.NotServing("not serving: the primary turned read-only: %s", se.Message)
	}
	return err
}

// DrainRequests waits until no statement outside a transaction is in
// flight, or ctx ends. The caller stops new ones first (SetServing).
func (s *Service) DrainRequests(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// execute runs sql; small (outside a transaction) gives up on a result
// larger than a stream chunk with mysqlconn.ErrTooLarge.
func (s *Service) execute(ctx context.Context, txID int64, st, sql string, opts *querypb.ExecuteOptions, small bool, savepoints []string) (*querypb.QueryResult, error) {
	maxRows := s.maxRows(opts)
	if txID != 0 {
		tc, err := s.txs.getStmt(txID)
		if err != nil {
			return nil, err
		}
		var res *querypb.QueryResult
		err = s.killer.run(ctx, tc.conn, func() error {
			if err := setSavepoints(tc.conn, savepoints); err != nil {
				return err
			}
			var err error
			res, err = tc.conn.Execute(sql, maxRows)
			addWarnings(tc.conn, res)
			if err == nil {
				err = readUserVars(tc.conn, res, opts.GetReadUserVars())
			}
			return err
		})
		markState(tc.conn, st, sql)
		return res, s.txs.done(tc, err)
	}
	if len(savepoints) > 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "savepoints outside a transaction")
	}
	switch st {
	case stmtBegin:
		return nil, sqlerr.NotSupported("BEGIN through Execute; use Begin")
	case stmtCommit, stmtRollback:
		// Nothing is open on a pooled connection.
		return &querypb.QueryResult{}, nil
	}
	pc, err := s.pool.GetFor(ctx, opts)
	if err != nil {
		return nil, err
	}
	var res *querypb.QueryResult
	err = s.killer.run(ctx, pc, func() error {
		var err error
		if small {
			res, err = pc.ExecuteSmall(sql, s.cfg.StreamChunkBytes)
		} else {
			res, err = pc.Execute(sql, maxRows)
		}
		addWarnings(pc, res)
		if err == nil {
			err = readUserVars(pc, res, opts.GetReadUserVars())
		}
		return err
	})
	markState(pc, st, sql)
	pc.Recycle()
	return res, err
}

// setSavepoints sets the named savepoints on a transaction's connection,
// in order.
func setSavepoints(pc *PooledConn, names []string) error {
	for _, n := range names {
		if n == "" {
			return sqlerr.New(sqlerr.ERUnknown, "a savepoint without a name")
		}
		if err := pc.Exec("SAVEPOINT " + quoteName(n)); err != nil {
			return fmt.Errorf("SAVEPOINT: %w", err)
		}
	}
	return nil
}

// quoteName quotes an identifier in backquotes.
func quoteName(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// StreamExecute implements querypb.QueryServer. The first message carries
// the fields; rows follow in chunks of about StreamChunkBytes. Only the
// request's own timeout_ms (or the caller's deadline) bounds a stream.
func (s *Service) StreamExecute(req *querypb.ExecuteRequest, stream grpc.ServerStreamingServer[querypb.ExecuteResponse]) error {
	start := time.Now()
	st := classify(req.Sql)
	if req.TransactionId == 0 {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
	}
	if err := s.checkTargetTx(req.Target, false, req.TransactionId); err != nil {
		return s.fail(err)
	}
	if err := s.checkDenied(req.Sql); err != nil {
		return s.fail(err)
	}
	if len(req.Savepoints) > 0 {
		return s.fail(sqlerr.NotSupported("savepoints in StreamExecute; use Execute"))
	}
	ctx := stream.Context()
	if ms := req.Options.GetTimeoutMs(); ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	var warnings uint32
	send := func(qr *querypb.QueryResult) error {
		warnings += qr.Warnings
		return stream.Send(&querypb.ExecuteResponse{Result: qr})
	}
	// streamOn streams on pc, then sends the statement's warnings in a
	// message of their own.
	streamOn := func(pc *PooledConn) error {
		if err := pc.Stream(req.Sql, s.cfg.StreamChunkBytes, send); err != nil {
			return err
		}
		if list := readWarnings(pc, warnings); len(list) > 0 {
			return stream.Send(&querypb.ExecuteResponse{Result: &querypb.QueryResult{WarningList: list}})
		}
		return nil
	}
	var err error
	if req.TransactionId != 0 {
		var tc *txConn
		if tc, err = s.txs.getStmt(req.TransactionId); err == nil {
			err = s.killer.run(ctx, tc.conn, func() error { return streamOn(tc.conn) })
			markState(tc.conn, st, req.Sql)
			err = s.txs.done(tc, err)
		}
	} else {
		var pc *PooledConn
		if pc, err = s.pool.GetFor(ctx, req.Options); err == nil {
			err = s.killer.run(ctx, pc, func() error { return streamOn(pc) })
			markState(pc, st, req.Sql)
			pc.Recycle()
		}
	}
	s.record(st, start)
	if err != nil {
		return s.fail(err)
	}
	return nil
}

// begin takes a transaction connection with the settings and begins a
// transaction as bo says (BEGIN when nil).
func (s *Service) begin(ctx context.Context, opts *querypb.ExecuteOptions, bo *querypb.BeginOptions) (*txConn, error) {
	stmts, err := beginStatements(bo)
	if err != nil {
		return nil, err
	}
	pc, err := s.txPool.GetFor(ctx, opts)
	if err != nil {
		return nil, err
	}
	err = s.killer.run(ctx, pc, func() error {
		for _, q := range stmts {
			if err := pc.Exec(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// A failed begin may leave a one-shot SET TRANSACTION behind.
		pc.discard = true
		pc.Recycle()
		return nil, err
	}
	return s.txs.register(pc, bo), nil
}

// Begin implements querypb.QueryServer.
func (s *Service) Begin(ctx context.Context, req *querypb.BeginRequest) (*querypb.BeginResponse, error) {
	start := time.Now()
	// Counted until the transaction is registered (see inflight).
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if err := s.checkTarget(req.Target, false); err != nil {
		return nil, s.fail(err)
	}
	ctx, cancel := s.queryContext(ctx, req.Options)
	defer cancel()
	tc, err := s.begin(ctx, req.Options, req.BeginOptions)
	s.record(stmtBegin, start)
	if err != nil {
		return nil, s.fail(err)
	}
	s.txs.release(tc)
	return &querypb.BeginResponse{TransactionId: tc.id, TabletAlias: s.id.Alias}, nil
}

// BeginExecute implements querypb.QueryServer. A failed statement is
// reported in the response with the transaction id, which the caller
// then owns.
func (s *Service) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	start := time.Now()
	// Counted until the transaction is registered (see inflight).
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if err := s.checkTarget(req.Target, false); err != nil {
		return nil, s.fail(err)
	}
	if err := s.checkDenied(req.Sql); err != nil {
		return nil, s.fail(err)
	}
	ctx, cancel := s.queryContext(ctx, req.Options)
	defer cancel()
	tc, err := s.begin(ctx, req.Options, req.BeginOptions)
	s.record(stmtBegin, start)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &querypb.BeginExecuteResponse{TransactionId: tc.id, TabletAlias: s.id.Alias}
	st := classify(req.Sql)
	var res *querypb.QueryResult
	err = s.killer.run(ctx, tc.conn, func() error {
		if err := setSavepoints(tc.conn, req.Savepoints); err != nil {
			return err
		}
		var err error
		res, err = tc.conn.Execute(req.Sql, s.maxRows(req.Options))
		addWarnings(tc.conn, res)
		if err == nil {
			err = readUserVars(tc.conn, res, req.Options.GetReadUserVars())
		}
		return err
	})
	markState(tc.conn, st, req.Sql)
	err = s.txs.done(tc, err)
	s.record(st, start)
	if err != nil {
		e := sqlerr.FromError(err)
		s.metrics.recordError(e.Num)
		resp.Error = e.Proto()
		return resp, nil
	}
	resp.Result = res
	return resp, nil
}

// Commit implements querypb.QueryServer. The transaction ends whether
// COMMIT succeeds or not.
func (s *Service) Commit(ctx context.Context, req *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	return &querypb.CommitResponse{}, s.finish(ctx, req.Target, req.TransactionId, "COMMIT", stmtCommit)
}

// Rollback implements querypb.QueryServer.
func (s *Service) Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	return &querypb.RollbackResponse{}, s.finish(ctx, req.Target, req.TransactionId, "ROLLBACK", stmtRollback)
}

func (s *Service) finish(ctx context.Context, target *querypb.Target, id int64, sql, st string) error {
	// sql names the operation in errors; the transaction's own kind
	// (plain or XA branch) decides the statements.
	start := time.Now()
	if err := s.checkTarget(target, true); err != nil {
		return s.fail(err)
	}
	tc, err := s.txs.get(id)
	if err != nil {
		return s.fail(err)
	}
	ctx, cancel := s.queryContext(ctx, nil)
	defer cancel()
	end := func() error {
		if st == stmtCommit {
			return tc.commit()
		}
		return tc.rollback()
	}
	if tc.xid != nil {
		// XA COMMIT ONE PHASE and XA ROLLBACK are never killed.
		err = unkillable(tc.conn, end)
	} else {
		err = s.killer.run(ctx, tc.conn, end)
	}
	if err != nil {
		tc.conn.discard = true
	}
	s.txs.end(tc, "it was "+map[string]string{stmtCommit: "committed", stmtRollback: "rolled back"}[st], false)
	s.record(st, start)
	if err != nil {
		return s.fail(fmt.Errorf("%s: %w", sql, err))
	}
	return nil
}

// StreamHealth implements querypb.QueryServer: the latest health at once,
// then every change and periodic refresh, until the caller goes away.
func (s *Service) StreamHealth(_ *querypb.StreamHealthRequest, stream grpc.ServerStreamingServer[querypb.StreamHealthResponse]) error {
	ch, unsubscribe := s.health.Subscribe()
	defer unsubscribe()
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-ch:
			if !ok {
				return nil
			}
			if err := stream.Send(msg); err != nil {
				if errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
		}
	}
}

// record counts a statement for the metrics and QueryCount.
func (s *Service) record(stmtType string, start time.Time) {
	s.queries.Add(1)
	s.metrics.record(stmtType, start)
}

// QueryCount returns how many statements the service has run.
func (s *Service) QueryCount() uint64 { return s.queries.Load() }
