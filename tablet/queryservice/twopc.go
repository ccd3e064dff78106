package queryservice

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// The tablet side of two-phase commit (docs/transactions.md). A shard is
// either the metadata manager of a distributed transaction, keeping its
// record in _mosaic.dt_state, or a participant holding an XA branch; the
// gate coordinates and resolves.

// DTIDPrefix starts the gtrid of every XA branch Mosaic creates: XA
// RECOVER rows without it belong to someone else and are left alone.
const DTIDPrefix = "mosaic-"

// lockWaitSetting bounds how long a record update waits for the row lock
// held by an open commit: a resolver retries later rather than hang.
const lockWaitSetting = "SET SESSION innodb_lock_wait_timeout = 5"

// MetadataDDL makes Mosaic's own tables, idempotently. Tablets run it
// (unbinlogged) when they start, so that the table exists before any
// transaction opens: a transaction whose snapshot predates a table cannot
// use it (1412), and a twopc commit writes its record in the transaction
// of its first shard.
func MetadataDDL() []string { return slices.Clone(dtStateDDL) }

var dtStateDDL = []string{
	"CREATE DATABASE IF NOT EXISTS _mosaic",
	`CREATE TABLE IF NOT EXISTS _mosaic.dt_state (
  dtid VARBINARY(64) NOT NULL PRIMARY KEY,
  state ENUM('PREPARE','COMMIT','ROLLBACK') NOT NULL,
  time_created BIGINT NOT NULL,
  participants TEXT NOT NULL
) ENGINE=InnoDB`,
	// One row per XA branch this shard prepared, written inside the
	// branch (txConn.prepare): it exists exactly when the branch
	// committed, which is how CommitPrepared proves a commit that XA
	// COMMIT can no longer tell (XAER_NOTA).
	`CREATE TABLE IF NOT EXISTS _mosaic.dt_branch (
  dtid VARBINARY(64) NOT NULL PRIMARY KEY,
  time_created BIGINT NOT NULL,
  KEY (time_created)
) ENGINE=InnoDB`,
}

// AppMetadataGrants are the rights the application's account needs on
// Mosaic's own tables, for the statements of two-phase commit that run in
// the application's transactions: the commit point moves a record to
// COMMIT (StartCommit), and a prepared branch writes its proof row
// (txConn.prepare). Every other statement on these tables runs as the
// agent's account. Each is "<privileges> ON <table>", for GRANT.
func AppMetadataGrants() []string {
	return []string{
		"SELECT (dtid, state), UPDATE (state) ON `_mosaic`.`dt_state`",
		"INSERT ON `_mosaic`.`dt_branch`",
	}
}

// branchProofSQL writes the proof row of dtid's branch.
func branchProofSQL(dtid string, now time.Time) string {
	return fmt.Sprintf("INSERT INTO _mosaic.dt_branch (dtid, time_created) VALUES (%s, %d)", hexLit(dtid), now.UnixNano())
}

// branchWaitLimit bounds how long CommitPrepared and RollbackPrepared wait
// for a prepared branch held by another connection (the one that
// prepared it, still closing) to come free.
const branchWaitLimit = 5 * time.Second

// twopcState remembers when the tablet first saw each prepared branch, so
// that a resolver only touches branches prepared for a while.
type twopcState struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (t *twopcState) firstSeen(keys []string, now time.Time) map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.seen
	t.seen = make(map[string]time.Time, len(keys))
	for _, k := range keys {
		if at, ok := old[k]; ok {
			t.seen[k] = at
		} else {
			t.seen[k] = now
		}
	}
	return t.seen
}

func hexLit(s string) string { return "X'" + hex.EncodeToString([]byte(s)) + "'" }

func parseState(s string) querypb.TransactionState {
	if v, ok := querypb.TransactionState_value["TRANSACTION_STATE_"+s]; ok {
		return querypb.TransactionState(v)
	}
	return querypb.TransactionState_TRANSACTION_STATE_UNKNOWN
}

func formatParticipants(ps []*querypb.Participant) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Keyspace + "/" + p.Shard
	}
	return strings.Join(parts, ",")
}

func parseParticipants(s string) []*querypb.Participant {
	var out []*querypb.Participant
	for _, p := range strings.Split(s, ",") {
		if ks, sh, ok := strings.Cut(p, "/"); ok {
			out = append(out, &querypb.Participant{Keyspace: ks, Shard: sh})
		}
	}
	return out
}

// noMetadataTable reports the errors of a tablet that never managed a
// distributed transaction.
func noMetadataTable(err error) bool {
	switch sqlerr.FromError(err).Num {
	case sqlerr.ERNoSuchTable, sqlerr.ERBadDB:
		return true
	}
	return false
}

// withConn runs fn on a connection of the Agent account with settings
// under the killer, for the 2PC requests that do not use a transaction:
// the records in _mosaic are the agent's (the application's accounts may
// only move a record to COMMIT, in StartCommit), and XA COMMIT, XA
// ROLLBACK and XA RECOVER need no privilege.
func (s *Service) withConn(ctx context.Context, settings []string, fn func(pc *PooledConn) error) error {
	ctx, cancel := s.queryContext(ctx, nil)
	defer cancel()
	pc, err := s.pool.get(ctx, settings, false, accountAgent)
	if err != nil {
		return err
	}
	defer pc.Recycle()
	return s.killer.run(ctx, pc, func() error { return fn(pc) })
}

// Prepare implements querypb.QueryServer: XA END and XA PREPARE, then the
// connection is closed, which detaches the prepared branch from it.
func (s *Service) Prepare(ctx context.Context, req *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	if err := s.checkTarget(req.Target, false); err != nil {
		return nil, s.fail(err)
	}
	tc, err := s.txs.get(req.TransactionId)
	if err != nil {
		return nil, s.fail(err)
	}
	ctx, cancel := s.queryContext(ctx, nil)
	defer cancel()
	err = tc.prepare(ctx, s.killer, time.Now())
	if err != nil {
		s.txs.end(tc, "its prepare failed", true)
		return nil, s.fail(txEnded(err))
	}
	connID, account := tc.conn.ID(), tc.conn.account
	tc.conn.discard = true
	s.txs.end(tc, "it was prepared", false)
	if err := s.awaitDetached(ctx, connID, account); err != nil {
		return nil, s.fail(fmt.Errorf("distributed transaction %s is prepared, but mysqld did not release it from the connection that prepared it: %w", tc.xid.Gtrid, err))
	}
	return &querypb.PrepareResponse{}, nil
}

// detachWaitLimit bounds how long Prepare waits for mysqld to finish with
// the connection that prepared a branch.
const detachWaitLimit = 10 * time.Second

// awaitDetached waits until mysqld is done with connection connID, closed
// after it prepared an XA branch. When a connection holding a prepared
// branch goes away, MariaDB 10.11 hands the branch over in steps: the
// server lists it as recovered, then InnoDB detaches its transaction.
// Until that is over, XA COMMIT from another connection answers XAER_NOTA
// and CommitPrepared polls (finishBranch); under load that polling once
// ran into the query timeout, whose KILL then broke the branch (see
// unkillable). Whether an XA COMMIT landing between the steps is safe we
// could not tell, so no other connection touches the branch before the
// connection is gone from the process list, which is after its cleanup.
// The account's own connection sees its threads without PROCESS.
func (s *Service) awaitDetached(ctx context.Context, connID uint32, account int) error {
	ctx, cancel := s.queryContext(ctx, nil)
	defer cancel()
	pc, err := s.pool.get(ctx, nil, false, account)
	if err != nil {
		return err
	}
	defer pc.Recycle()
	q := fmt.Sprintf("SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %d", connID)
	deadline := time.Now().Add(detachWaitLimit)
	pause := 500 * time.Microsecond
	return s.killer.run(ctx, pc, func() error {
		for {
			res, err := pc.Execute(q, 0)
			if err != nil {
				return err
			}
			if len(res.Rows) == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("connection %d still open after %v", connID, detachWaitLimit)
			}
			time.Sleep(pause)
			pause = min(2*pause, 20*time.Millisecond)
		}
	})
}

// resolvePrepared commits or rolls back a prepared branch. It succeeds
// only when the branch provably ended as asked: committed (now, or before:
// its proof row is there) or rolled back (now, or before, or never
// prepared: neither in XA RECOVER nor proven committed).
func (s *Service) resolvePrepared(ctx context.Context, target *querypb.Target, xid *querypb.Xid, commit bool) error {
	if err := s.checkTarget(target, false); err != nil {
		return s.fail(err)
	}
	if err := validXid(xid); err != nil {
		return s.fail(err)
	}
	ctx, cancel := s.queryContext(ctx, nil)
	defer cancel()
	pc, err := s.pool.get(ctx, nil, false, accountAgent)
	if err != nil {
		return s.fail(err)
	}
	defer pc.Recycle()
	// Never killed (unkillable); ctx only stops the waiting in between.
	if err := unkillable(pc, func() error { return finishBranch(ctx, pc, xid, commit, branchWaitLimit) }); err != nil {
		return s.fail(err)
	}
	return nil
}

// finishBranch runs XA COMMIT (or XA ROLLBACK) of xid on pc and, when
// mysqld does not know the xid, finds out why. XAER_NOTA comes for a
// branch that is prepared but still attached to the connection that
// prepared it (MariaDB lists it in XA RECOVER but lets no other
// connection finish it until that one is gone): finishBranch waits up to
// wait for it to come free. A branch that XA RECOVER does not list is
// over: committed if its proof row is there, rolled back (or never
// prepared) if not.
func finishBranch(ctx context.Context, pc *PooledConn, xid *querypb.Xid, commit bool, wait time.Duration) error {
	verb := "ROLLBACK"
	if commit {
		verb = "COMMIT"
	}
	deadline := time.Now().Add(wait)
	pause := 2 * time.Millisecond
	for {
		err := pc.Exec("XA " + verb + " " + xidSQL(xid))
		if err == nil {
			if commit {
				return syncBranchCommit(pc, xid.Gtrid)
			}
			return nil
		}
		switch sqlerr.FromError(err).Num {
		case erXAERNota, erXARBRollback:
		default:
			return fmt.Errorf("XA %s: %w", verb, err)
		}
		listed, lerr := branchListed(pc, xid)
		if lerr != nil {
			return fmt.Errorf("XA RECOVER: %w", lerr)
		}
		if !listed {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return sqlerr.New(sqlerr.ERUnknown, "XA %s of distributed transaction %s: the branch is prepared but still held by another connection", verb, xid.Gtrid)
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
	committed, err := branchCommitted(pc, xid.Gtrid)
	if err != nil {
		return fmt.Errorf("read the proof of distributed transaction %s: %w", xid.Gtrid, err)
	}
	switch {
	case commit && !committed:
		return sqlerr.New(erXAERNota, "XA COMMIT of distributed transaction %s: the branch is neither prepared nor committed on this shard (rolled back, or lost with a mysqld that never replicated it)", xid.Gtrid)
	case !commit && committed:
		return sqlerr.New(erXAERNota, "XA ROLLBACK of distributed transaction %s: the branch committed already", xid.Gtrid)
	case commit:
		// Committed by an earlier call, maybe not durably yet.
		return syncBranchCommit(pc, xid.Gtrid)
	}
	return nil
}

// syncBranchCommit makes the commit of dtid's branch durable before it is
// reported. MariaDB 10.11 answers XA COMMIT of a prepared branch before
// InnoDB's commit record reaches disk (the binlog has it, but crash
// recovery does not redo an XA COMMIT from the binlog): killed with -9
// right after, mysqld comes back with the branch prepared again. Its
// record concluded meanwhile, a resolver would then roll it back while
// the other shards kept their parts. Measured on a plain mariadbd (8
// clients, kill -9 after 4 s): one in three runs had an acknowledged XA
// COMMIT prepared again after the restart; FLUSH ENGINE LOGS after XA
// COMMIT did not help. A transaction of our own that writes and commits
// after it does: with innodb_flush_log_at_trx_commit=1 its commit
// flushes the redo log up to its own records, which come after the XA
// COMMIT's. It touches the branch's own proof row (time_created moves by
// a nanosecond), so it waits for no one; the row is inserted again when
// it is missing (a branch prepared before proof rows existed).
func syncBranchCommit(pc *PooledConn, dtid string) error {
	q := fmt.Sprintf("INSERT INTO _mosaic.dt_branch (dtid, time_created) VALUES (%s, %d) ON DUPLICATE KEY UPDATE time_created = time_created + 1",
		hexLit(dtid), time.Now().UnixNano())
	if err := pc.Exec(q); err != nil {
		return fmt.Errorf("make the commit of distributed transaction %s durable: %w", dtid, err)
	}
	return nil
}

// branchListed reports whether XA RECOVER lists xid: the branch is
// prepared, attached to a connection or not.
func branchListed(pc *PooledConn, xid *querypb.Xid) (bool, error) {
	res, err := pc.Execute("XA RECOVER", 0)
	if err != nil {
		return false, err
	}
	for _, row := range res.Rows {
		x, err := parseRecoverRow(row)
		if err != nil {
			return false, err
		}
		if x != nil && x.Gtrid == xid.Gtrid && x.Bqual == xid.Bqual {
			return true, nil
		}
	}
	return false, nil
}

// branchCommitted reports whether dtid's branch committed on this shard:
// its proof row is visible.
func branchCommitted(pc *PooledConn, dtid string) (bool, error) {
	res, err := pc.Execute("SELECT 1 FROM _mosaic.dt_branch WHERE dtid = "+hexLit(dtid), 0)
	if err != nil {
		if noMetadataTable(err) {
			return false, nil
		}
		return false, err
	}
	return len(res.Rows) > 0, nil
}

// CommitPrepared implements querypb.QueryServer.
func (s *Service) CommitPrepared(ctx context.Context, req *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	leave, err := s.commitHold.enter(ctx)
	if err != nil {
		return nil, s.fail(err)
	}
	defer leave()
	return &querypb.CommitPreparedResponse{}, s.resolvePrepared(ctx, req.Target, req.Xid, true)
}

// RollbackPrepared implements querypb.QueryServer.
func (s *Service) RollbackPrepared(ctx context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	return &querypb.RollbackPreparedResponse{}, s.resolvePrepared(ctx, req.Target, req.Xid, false)
}

// CreateTransaction implements querypb.QueryServer.
func (s *Service) CreateTransaction(ctx context.Context, req *querypb.CreateTransactionRequest) (*querypb.CreateTransactionResponse, error) {
	if err := s.checkTarget(req.Target, false); err != nil {
		return nil, s.fail(err)
	}
	if req.Dtid == "" || len(req.Dtid) > 64 {
		return nil, s.fail(sqlerr.New(sqlerr.ERUnknown, "invalid distributed transaction id %q", req.Dtid))
	}
	insert := fmt.Sprintf("INSERT INTO _mosaic.dt_state (dtid, state, time_created, participants) VALUES (%s, 'PREPARE', %d, %s)",
		hexLit(req.Dtid), time.Now().UnixNano(), hexLit(formatParticipants(req.Participants)))
	err := s.withConn(ctx, nil, func(pc *PooledConn) error {
		err := pc.Exec(insert)
		if err == nil || !noMetadataTable(err) {
			return err
		}
		for _, q := range dtStateDDL {
			if err := pc.Exec(q); err != nil {
				return err
			}
		}
		return pc.Exec(insert)
	})
	if err != nil {
		return nil, s.fail(fmt.Errorf("create distributed transaction record: %w", err))
	}
	return &querypb.CreateTransactionResponse{}, nil
}

// StartCommit implements querypb.QueryServer: the commit point.
func (s *Service) StartCommit(ctx context.Context, req *querypb.StartCommitRequest) (*querypb.StartCommitResponse, error) {
	if err := s.checkTarget(req.Target, false); err != nil {
		return nil, s.fail(err)
	}
	leave, err := s.commitHold.enter(ctx)
	if err != nil {
		return nil, s.fail(err)
	}
	defer leave()
	update := fmt.Sprintf("UPDATE _mosaic.dt_state SET state = 'COMMIT' WHERE dtid = %s AND state = 'PREPARE'", hexLit(req.Dtid))
	decided := func(res *querypb.QueryResult) error {
		if res.RowsAffected != 1 {
			return sqlerr.New(sqlerr.ERErrorDuringCommit, "distributed transaction %s was rolled back before it could commit", req.Dtid)
		}
		return nil
	}
	if req.TransactionId == 0 {
		err := s.withConn(ctx, nil, func(pc *PooledConn) error {
			res, err := pc.Execute(update, 0)
			if err != nil {
				return err
			}
			return decided(res)
		})
		if err != nil {
			return nil, s.fail(err)
		}
		return &querypb.StartCommitResponse{}, nil
	}
	tc, err := s.txs.get(req.TransactionId)
	if err != nil {
		return nil, s.fail(err)
	}
	ctx, cancel := s.queryContext(ctx, nil)
	defer cancel()
	committed := false
	err = s.killer.run(ctx, tc.conn, func() error {
		// The record's lock wait must not outlast the caller's patience.
		if err := tc.conn.Exec(lockWaitSetting); err != nil {
			return err
		}
		tc.conn.settings = dirtySettings
		res, err := tc.conn.Execute(update, 0)
		if err == nil {
			err = decided(res)
		}
		if err != nil {
			return err
		}
		committed = true
		return tc.commit()
	})
	if err != nil {
		if !committed {
			s.txs.end(tc, "its distributed commit failed", true)
		} else {
			tc.conn.discard = true
			s.txs.end(tc, "its commit failed", false)
		}
		return nil, s.fail(err)
	}
	s.txs.end(tc, "it was committed", false)
	return &querypb.StartCommitResponse{}, nil
}

// SetRollback implements querypb.QueryServer.
func (s *Service) SetRollback(ctx context.Context, req *querypb.SetRollbackRequest) (*querypb.SetRollbackResponse, error) {
	if err := s.checkTarget(req.Target, false); err != nil {
		return nil, s.fail(err)
	}
	var md *querypb.TransactionMetadata
	err := s.withConn(ctx, []string{lockWaitSetting}, func(pc *PooledConn) error {
		err := pc.Exec(fmt.Sprintf("UPDATE _mosaic.dt_state SET state = 'ROLLBACK' WHERE dtid = %s AND state = 'PREPARE'", hexLit(req.Dtid)))
		if err != nil {
			if noMetadataTable(err) {
				md = &querypb.TransactionMetadata{Dtid: req.Dtid}
				return nil
			}
			return err
		}
		md, err = readRecord(pc, req.Dtid)
		return err
	})
	if err != nil {
		return nil, s.fail(fmt.Errorf("set distributed transaction %s to rollback: %w", req.Dtid, err))
	}
	return &querypb.SetRollbackResponse{State: md.State}, nil
}

// ConcludeTransaction implements querypb.QueryServer.
func (s *Service) ConcludeTransaction(ctx context.Context, req *querypb.ConcludeTransactionRequest) (*querypb.ConcludeTransactionResponse, error) {
	if err := s.checkTarget(req.Target, false); err != nil {
		return nil, s.fail(err)
	}
	leave, err := s.commitHold.enter(ctx)
	if err != nil {
		return nil, s.fail(err)
	}
	defer leave()
	err = s.withConn(ctx, nil, func(pc *PooledConn) error {
		err := pc.Exec(fmt.Sprintf("DELETE FROM _mosaic.dt_state WHERE dtid = %s", hexLit(req.Dtid)))
		if err != nil && noMetadataTable(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, s.fail(fmt.Errorf("conclude distributed transaction %s: %w", req.Dtid, err))
	}
	return &querypb.ConcludeTransactionResponse{}, nil
}

// ReadTransaction implements querypb.QueryServer.
func (s *Service) ReadTransaction(ctx context.Context, req *querypb.ReadTransactionRequest) (*querypb.ReadTransactionResponse, error) {
	if err := s.checkTarget(req.Target, false); err != nil {
		return nil, s.fail(err)
	}
	var md *querypb.TransactionMetadata
	err := s.withConn(ctx, nil, func(pc *PooledConn) error {
		var err error
		md, err = readRecord(pc, req.Dtid)
		return err
	})
	if err != nil {
		return nil, s.fail(err)
	}
	return &querypb.ReadTransactionResponse{Metadata: md}, nil
}

const recordColumns = "dtid, state, time_created, participants"

// readRecord reads one record; a missing one has state UNKNOWN.
func readRecord(pc *PooledConn, dtid string) (*querypb.TransactionMetadata, error) {
	res, err := pc.Execute("SELECT "+recordColumns+" FROM _mosaic.dt_state WHERE dtid = "+hexLit(dtid), 0)
	if err != nil {
		if noMetadataTable(err) {
			return &querypb.TransactionMetadata{Dtid: dtid}, nil
		}
		return nil, err
	}
	mds, err := parseRecords(res)
	if err != nil || len(mds) == 0 {
		return &querypb.TransactionMetadata{Dtid: dtid}, err
	}
	return mds[0], nil
}

func parseRecords(res *querypb.QueryResult) ([]*querypb.TransactionMetadata, error) {
	var out []*querypb.TransactionMetadata
	for _, row := range res.Rows {
		v, err := mysqlconn.RowValues(row, 4)
		if err != nil {
			return nil, err
		}
		created, _ := strconv.ParseInt(string(v[2]), 10, 64)
		out = append(out, &querypb.TransactionMetadata{
			Dtid:                string(v[0]),
			State:               parseState(string(v[1])),
			TimeCreatedUnixNano: created,
			Participants:        parseParticipants(string(v[3])),
		})
	}
	return out, nil
}

// UnresolvedTransactions implements querypb.QueryServer.
func (s *Service) UnresolvedTransactions(ctx context.Context, req *querypb.UnresolvedTransactionsRequest) (*querypb.UnresolvedTransactionsResponse, error) {
	if err := s.checkTarget(req.Target, false); err != nil {
		return nil, s.fail(err)
	}
	age := time.Duration(req.AbandonAgeSeconds) * time.Second
	now := time.Now()
	resp := &querypb.UnresolvedTransactionsResponse{}
	err := s.withConn(ctx, nil, func(pc *PooledConn) error {
		res, err := pc.Execute(fmt.Sprintf("SELECT %s FROM _mosaic.dt_state WHERE time_created < %d ORDER BY time_created",
			recordColumns, now.Add(-age).UnixNano()), 0)
		switch {
		case err == nil:
			if resp.Transactions, err = parseRecords(res); err != nil {
				return err
			}
		case !noMetadataTable(err):
			return err
		}
		// Proofs of branches old enough that no resolver asks about them.
		purge := fmt.Sprintf("DELETE FROM _mosaic.dt_branch WHERE time_created < %d LIMIT 10000", now.Add(-s.cfg.TwoPCProofRetention).UnixNano())
		if err := pc.Exec(purge); err != nil && !noMetadataTable(err) {
			return err
		}
		if res, err = pc.Execute("XA RECOVER", 0); err != nil {
			return err
		}
		var xids []*querypb.Xid
		var keys []string
		for _, row := range res.Rows {
			x, err := parseRecoverRow(row)
			if err != nil {
				return err
			}
			if x == nil || !strings.HasPrefix(x.Gtrid, DTIDPrefix) {
				continue
			}
			xids = append(xids, x)
			keys = append(keys, x.Gtrid+"\x00"+x.Bqual)
		}
		seen := s.twopc.firstSeen(keys, now)
		for i, x := range xids {
			if now.Sub(seen[keys[i]]) >= age {
				resp.Prepared = append(resp.Prepared, x)
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(fmt.Errorf("list unresolved distributed transactions: %w", err))
	}
	return resp, nil
}

// parseRecoverRow reads one XA RECOVER row: formatID, gtrid_length,
// bqual_length, data (gtrid then bqual).
func parseRecoverRow(row []byte) (*querypb.Xid, error) {
	v, err := mysqlconn.RowValues(row, 4)
	if err != nil {
		return nil, err
	}
	gl, err1 := strconv.Atoi(string(v[1]))
	bl, err2 := strconv.Atoi(string(v[2]))
	if err1 != nil || err2 != nil || gl < 0 || bl < 0 || gl+bl > len(v[3]) {
		return nil, nil
	}
	data := v[3]
	return &querypb.Xid{Gtrid: string(data[:gl]), Bqual: string(data[gl : gl+bl])}, nil
}
