package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// dtidPrefix starts every distributed transaction id; the tablets'
// resolver listing (queryservice.DTIDPrefix) recognizes Mosaic's XA
// branches by it.
const dtidPrefix = "mosaic-"

// TransactionMode says how a transaction that touched several shards
// commits (docs/transactions.md).
type TransactionMode int

const (
	// TransactionModeMulti commits shard by shard; a failure after some
	// shards committed leaves those committed and says which.
	TransactionModeMulti TransactionMode = iota
	// TransactionModeSingle refuses a statement that would bring a second
	// shard into a transaction.
	TransactionModeSingle
	// TransactionModeTwoPC commits atomically with two-phase commit.
	TransactionModeTwoPC
)

func (m TransactionMode) String() string {
	switch m {
	case TransactionModeSingle:
		return "single"
	case TransactionModeTwoPC:
		return "twopc"
	}
	return "multi"
}

// ParseTransactionMode parses "single", "multi" or "twopc" (any case).
func ParseTransactionMode(s string) (TransactionMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "single":
		return TransactionModeSingle, nil
	case "multi":
		return TransactionModeMulti, nil
	case "twopc":
		return TransactionModeTwoPC, nil
	}
	return 0, fmt.Errorf("unknown transaction mode %q (want single, multi or twopc)", s)
}

// txCharacteristics are what `SET TRANSACTION` and `START TRANSACTION`
// say about one transaction.
type txCharacteristics struct {
	// isolation is "READ COMMITTED" and the like; empty for the session's.
	isolation          string
	readOnly           bool
	consistentSnapshot bool
}

func (c txCharacteristics) zero() bool { return c == txCharacteristics{} }

// txState describes the open transaction.
type txState struct {
	mode TransactionMode
	opts *querypb.BeginOptions
	// dtid is the distributed transaction's id and tag its tag, given
	// when it first reaches a shard; begin is how it begins on a shard
	// (opts with the tag). In twopc mode dtid is the XA gtrid, and mm the
	// first shard of the transaction, the metadata manager that keeps the
	// decision.
	dtid  string
	tag   *querypb.TransactionTag
	begin *querypb.BeginOptions
	mm    shardKey
	hasMM bool
	// savepoints are the transaction's savepoint names, oldest first
	// (savepoint.go).
	savepoints []string
	// lost, once set, says why a shard transaction of it is gone or in an
	// unknown state: the transaction can only roll back (stmtatomic.go).
	lost error
}

// shardTx is the session's transaction on one shard: it stays on the
// tablet that began it.
type shardTx struct {
	key    shardKey
	target *querypb.Target
	tablet *tabletgw.TabletHealth
	txID   int64
	// wrote is set once a statement that may change data ran in it.
	wrote bool
	// xa is set for an XA branch of a twopc transaction.
	xa bool
}

// beginTx opens the session's transaction (statements join it lazily,
// shard by shard). chars are START TRANSACTION's characteristics; the
// one-shot ones of SET TRANSACTION apply too and are used up.
func (s *Session) beginTx(chars txCharacteristics) {
	c := s.nextTx
	s.nextTx = txCharacteristics{}
	if chars.isolation != "" {
		c.isolation = chars.isolation
	}
	c.readOnly = c.readOnly || chars.readOnly
	c.consistentSnapshot = chars.consistentSnapshot
	var opts *querypb.BeginOptions
	if !c.zero() {
		opts = &querypb.BeginOptions{Isolation: c.isolation, ReadOnly: c.readOnly, ConsistentSnapshot: c.consistentSnapshot}
	}
	s.InTransaction = true
	s.mu.Lock()
	s.tx = txState{mode: s.TxMode, opts: opts}
	s.mu.Unlock()
}

// beginBatchTx opens a transaction of its own for a statement that must be
// all or nothing across shards under autocommit (a bulk INSERT, bulk.go):
// in mode multi when the session's is single, which would refuse the
// second shard. The caller commits or rolls it back before answering.
func (s *Session) beginBatchTx() {
	s.beginTx(txCharacteristics{})
	s.mu.Lock()
	if s.tx.mode == TransactionModeSingle {
		s.tx.mode = TransactionModeMulti
	}
	s.mu.Unlock()
}

// beginImplicit opens the session's transaction when autocommit is off;
// with autocommit on, a statement that uses tables is a transaction of its
// own and uses up a pending SET TRANSACTION, as in MariaDB.
func (s *Session) beginImplicit(usesTables bool) {
	if s.InTransaction {
		return
	}
	if !s.Autocommit {
		s.beginTx(txCharacteristics{})
		return
	}
	if usesTables {
		s.nextTx = txCharacteristics{}
	}
}

// checkShards refuses, in single mode, a statement that would bring a
// second shard into the transaction. Nothing has run when it fails: the
// transaction is unchanged and usable.
func (s *Session) checkShards(keys []shardKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx.mode != TransactionModeSingle {
		return nil
	}
	var have, want shardKey
	n := 0
	for _, k := range s.txOrder {
		have, n = k, n+1
	}
	for _, k := range keys {
		if _, ok := s.shardTx[k]; ok {
			continue
		}
		if n == 0 {
			have, n = k, 1
			continue
		}
		if k != have {
			want = k
			break
		}
	}
	if want == (shardKey{}) {
		return nil
	}
	return sqlerr.NotSupported("a transaction across shards in transaction_mode 'single': the transaction is on %s and the statement needs %s (ROLLBACK, or use SET transaction_mode = 'multi' or 'twopc' before the transaction)", have, want)
}

// beginOptionsFor returns how the transaction begins on a shard new to it.
// The first shard gives the transaction its id and tag (every shard
// transaction carries the tag, for the deadlock detector: deadlock.go).
// In twopc mode the first shard is the metadata manager (a plain
// transaction) and every other shard an XA branch.
func (s *Session) beginOptionsFor(key shardKey) (*querypb.BeginOptions, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx.begin == nil {
		s.tagLocked()
		o := &querypb.BeginOptions{Tag: s.tx.tag}
		if s.tx.opts != nil {
			o.Isolation, o.ReadOnly, o.ConsistentSnapshot = s.tx.opts.Isolation, s.tx.opts.ReadOnly, s.tx.opts.ConsistentSnapshot
		}
		s.tx.begin = o
	}
	if s.tx.mode != TransactionModeTwoPC {
		return s.tx.begin, false, nil
	}
	if !s.tx.hasMM {
		s.tx.mm, s.tx.hasMM = key, true
	}
	if key == s.tx.mm {
		return s.tx.begin, false, nil
	}
	bqual := s.tx.mm.String()
	if len(bqual) > 64 {
		return nil, false, sqlerr.NotSupported("twopc transactions whose first shard's name %q is longer than 64 bytes", bqual)
	}
	o := &querypb.BeginOptions{Xid: &querypb.Xid{Gtrid: s.tx.dtid, Bqual: bqual}, Tag: s.tx.tag}
	if s.tx.opts != nil {
		o.Isolation, o.ReadOnly = s.tx.opts.Isolation, s.tx.opts.ReadOnly
	}
	return o, true, nil
}

// tagLocked gives the transaction its id and tag if it has none yet.
func (s *Session) tagLocked() *querypb.TransactionTag {
	if s.tx.tag == nil {
		s.tx.dtid = newDTID()
		s.tx.tag = &querypb.TransactionTag{Dtid: s.tx.dtid, StartUnixNano: time.Now().UnixNano()}
	}
	return s.tx.tag
}

// txTag returns the transaction's tag, giving it one if it has none yet.
func (s *Session) txTag() *querypb.TransactionTag {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tagLocked()
}

// newDTID returns a fresh distributed transaction id.
func newDTID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return dtidPrefix + hex.EncodeToString(b[:])
}

func (s *Session) getTx(k shardKey) *shardTx {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shardTx[k]
}

// addTx records a shard transaction that began; ran says that the running
// statement then ran in it.
func (s *Session) addTx(tx *shardTx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.shardTx[tx.key]; !ok {
		s.txOrder = append(s.txOrder, tx.key)
	}
	s.shardTx[tx.key] = tx
}

// ran records that the running statement ran in tx, successfully: a
// failed one was undone by mysqld and wrote nothing.
func (s *Session) ran(tx *shardTx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx.wrote = tx.wrote || s.writing
}

// openTxs returns the open shard transactions in the order they began.
func (s *Session) openTxs() []*shardTx {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*shardTx, 0, len(s.txOrder))
	for _, k := range s.txOrder {
		out = append(out, s.shardTx[k])
	}
	return out
}

// endTx ends the session's transaction and returns its shard transactions
// in the order they began, for the caller to commit or roll back.
func (s *Session) endTx() ([]*shardTx, txState) {
	s.InTransaction = false
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*shardTx, 0, len(s.txOrder))
	for _, k := range s.txOrder {
		out = append(out, s.shardTx[k])
	}
	st := s.tx
	s.shardTx = map[shardKey]*shardTx{}
	s.txOrder = nil
	s.tx = txState{}
	return out, st
}

// Rollback rolls back every shard transaction.
func (s *Session) Rollback(ctx context.Context) error {
	txs, _ := s.endTx()
	return rollbackAll(ctx, txs)
}

func rollbackAll(ctx context.Context, txs []*shardTx) error {
	var first error
	for _, tx := range txs {
		if _, err := tx.tablet.Client.Rollback(ctx, &querypb.RollbackRequest{Target: tx.target, TransactionId: tx.txID}); err != nil && first == nil {
			if sqlerr.IsTxEnded(err) {
				continue // nothing left to roll back
			}
			first = sqlerr.FromError(err)
		}
	}
	return first
}

// commit ends the session's transaction with a commit: shard by shard, or
// with two-phase commit in twopc mode when several shards wrote. A
// transaction with a lost shard transaction is rolled back instead, and
// COMMIT fails.
func (g *Gate) commit(ctx context.Context, s *Session) error {
	lost := s.txLost()
	txs, st := s.endTx()
	if lost != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.TabletWait+5*time.Second)
		defer cancel()
		rollbackAll(rctx, txs)
		return commitLostError(shardKey{}, lost)
	}
	if g.log != nil && g.log.Enabled(ctx, slog.LevelDebug) {
		shards := make([]string, len(txs))
		for i, tx := range txs {
			shards[i] = fmt.Sprintf("%s(wrote=%v xa=%v)", tx.key, tx.wrote, tx.xa)
		}
		g.log.Debug("commit", "conn", s.ConnID, "dtid", st.dtid, "mode", st.mode.String(), "shards", strings.Join(shards, " "))
	}
	// A read-only transaction has nothing to commit atomically.
	var err error
	if st.mode == TransactionModeTwoPC && !st.opts.GetReadOnly() && countWriters(txs) > 1 {
		err = g.commitTwoPC(ctx, st, txs)
	} else {
		err = g.commitShards(ctx, txs)
	}
	if g.log != nil {
		g.log.Debug("commit ended", "conn", s.ConnID, "dtid", st.dtid, "err", err)
	}
	return err
}

// commitShards commits a transaction shard by shard (modes multi and
// single, and twopc when at most one shard wrote). Shards that only read
// commit first: their commit changes nothing, and one whose transaction
// is gone stops the commit before anything is committed. When several
// shards wrote, every one of them is asked first, at once, whether its
// transaction is still there, so that a transaction lost before COMMIT
// (its tablet restarted, rolled back for idling) rolls everything back
// instead of committing the others; then they all commit at once. After
// the check only a shard failing during the commit itself leaves some
// shards committed, and the error names them.
func (g *Gate) commitShards(ctx context.Context, txs []*shardTx) error {
	var readers, writers []*shardTx
	for _, tx := range txs {
		if tx.wrote {
			writers = append(writers, tx)
		} else {
			readers = append(readers, tx)
		}
	}
	if len(writers) == 0 {
		return commitInOrder(ctx, readers)
	}
	abort := func(key shardKey, cause error, rest []*shardTx) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.TabletWait+5*time.Second)
		defer cancel()
		rollbackAll(rctx, rest)
		return commitLostError(key, cause)
	}
	for i, tx := range readers {
		if _, err := tx.tablet.Client.Commit(ctx, &querypb.CommitRequest{Target: tx.target, TransactionId: tx.txID}); err != nil {
			return abort(tx.key, err, append(slices.Clone(readers[i+1:]), writers...))
		}
	}
	if len(writers) == 1 {
		return commitInOrder(ctx, writers)
	}
	if !g.cfg.BenchNoCommitCheck {
		if key, err := g.checkAlive(ctx, writers); err != nil {
			return abort(key, err, writers)
		}
	}
	return g.commitAtOnce(ctx, writers)
}

// checkAlive asks every shard transaction, at once, whether it is still
// open, and returns the first that is not.
func (g *Gate) checkAlive(ctx context.Context, txs []*shardTx) (shardKey, error) {
	errs := make([]error, len(txs))
	g.gw.All(ctx, len(txs), func(ctx context.Context, i int) {
		tx := txs[i]
		_, err := tx.tablet.Client.Execute(ctx, &querypb.ExecuteRequest{Target: tx.target, Sql: "SELECT 1", TransactionId: tx.txID})
		errs[i] = err
	})
	for i, err := range errs {
		if err != nil {
			return txs[i].key, err
		}
	}
	return shardKey{}, nil
}

func countWriters(txs []*shardTx) int {
	n := 0
	for _, tx := range txs {
		if tx.wrote {
			n++
		}
	}
	return n
}

// commitAtOnce commits every shard transaction at once. When some fail,
// the error names the shards that committed, those whose tablet refused
// the commit (mysqld refused it, or the transaction was gone: nothing of
// it was committed there) and those whose call failed in transit or whose
// tablet lost mysqld's answer (sqlerr.IsOutcomeUnknown), whose outcome is
// not known.
func (g *Gate) commitAtOnce(ctx context.Context, txs []*shardTx) error {
	errs := make([]error, len(txs))
	g.gw.All(ctx, len(txs), func(ctx context.Context, i int) {
		tx := txs[i]
		_, errs[i] = tx.tablet.Client.Commit(ctx, &querypb.CommitRequest{Target: tx.target, TransactionId: tx.txID})
	})
	var committed, failed, unknown []string
	var first *sqlerr.Error
	for i, err := range errs {
		switch {
		case err == nil:
			committed = append(committed, txs[i].key.String())
			continue
		case sqlerr.IsOutcomeUnknown(err):
			// The tablet lost mysqld's answer to the commit.
			unknown = append(unknown, txs[i].key.String())
		case answeredByTablet(err):
			failed = append(failed, txs[i].key.String())
		default:
			unknown = append(unknown, txs[i].key.String())
		}
		if first == nil {
			first = sqlerr.FromError(err)
		}
	}
	if first == nil {
		return nil
	}
	if len(committed) == 0 && len(unknown) == 0 {
		return sqlerr.Wrap(sqlerr.ERErrorDuringCommit, first, "commit failed on %s, nothing was committed, the transaction was rolled back: %s", strings.Join(failed, ", "), first.Message)
	}
	msg := "commit failed on " + strings.Join(append(slices.Clone(failed), unknown...), ", ")
	if len(committed) > 0 {
		msg += " while " + strings.Join(committed, ", ") + " committed"
	}
	if len(unknown) > 0 {
		msg += "; whether " + strings.Join(unknown, ", ") + " committed is not known (the call failed in transit)"
	}
	return sqlerr.Wrap(sqlerr.ERErrorDuringCommit, first, "%s: %s", msg, first.Message)
}

// answeredByTablet reports whether err is the tablet's own answer (a
// MySQL error it sent), rather than a call that failed on its way there
// or back.
func answeredByTablet(err error) bool {
	var e *sqlerr.Error
	if errors.As(err, &e) {
		return true
	}
	if st, ok := status.FromError(err); ok {
		for _, d := range st.Details() {
			if _, ok := d.(*querypb.MySQLError); ok {
				return true
			}
		}
	}
	return false
}

// commitInOrder commits every shard transaction in order. When a commit
// fails after others succeeded the error names what was committed; what
// was not committed yet is rolled back.
func commitInOrder(ctx context.Context, txs []*shardTx) error {
	var committed []string
	for i, tx := range txs {
		_, err := tx.tablet.Client.Commit(ctx, &querypb.CommitRequest{Target: tx.target, TransactionId: tx.txID})
		if err != nil {
			rollbackAll(ctx, txs[i+1:])
			e := sqlerr.FromError(err)
			if len(committed) == 0 {
				if len(txs) > 1 {
					return sqlerr.Wrap(sqlerr.ERErrorDuringCommit, e, "commit failed on %s, nothing was committed, the transaction was rolled back: %s", tx.key, e.Message)
				}
				return e
			}
			var rolledBack []string
			for _, r := range txs[i+1:] {
				rolledBack = append(rolledBack, r.key.String())
			}
			msg := fmt.Sprintf("commit failed on %s after %s committed", tx.key, strings.Join(committed, ", "))
			if len(rolledBack) > 0 {
				msg += "; " + strings.Join(rolledBack, ", ") + " rolled back"
			}
			return sqlerr.Wrap(sqlerr.ERErrorDuringCommit, e, "%s: %s", msg, e.Message)
		}
		committed = append(committed, tx.key.String())
	}
	return nil
}
