package router

import (
	"context"
	"fmt"
	"sort"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// How a statement on an owner table maintains its lookup tables.
//
// An entry (from, to) says that an owner row whose primary vindex column
// is to has from in the looked-up column. A row is found by its lookup
// when its entry exists; an entry without its row only costs a look at
// one more shard. So every write keeps one rule: an entry is committed
// before the row that needs it, and removed only once no row needs it.
//
// Entries written outside the client's transaction (the consistent kinds
// and autocommit lookups always; every kind when the session is not in a
// transaction) are written in side transactions (SideTransactor), one per
// lookup shard, which hold the entries' row locks while the owner's rows
// are written:
//
//   - Adding (INSERT, UPDATE to a new value): the entries are inserted in
//     the side transactions first. The owner statement then runs: in the
//     client's transaction when there is one, otherwise in side
//     transactions of its own on the owner's shards. The lookup side
//     transactions commit first, then the owner's, so an entry is never
//     missing for a committed row. A statement that fails rolls back its
//     side transactions, and with them its entries.
//   - A unique lookup whose entry names another row (1062 as MariaDB's
//     unique index would) takes the entry over instead when that row does
//     not exist: the entry is locked, and a writer of that row must lock
//     it before writing the row, so the row's absence, read with a lock
//     that waits for its writers, is final.
//   - Removing (DELETE, UPDATE from an old value), once the owner
//     statement has committed: in a side transaction, the entries are
//     deleted, the owner rows that still have the value are read with a
//     shared lock (waiting for any transaction writing them), their
//     entries are inserted again, and it commits: a reader sees the entry
//     before or after, never gone. Inside a client transaction removals
//     are skipped (the rows' deletion is not committed yet); the entries
//     stay, stale, which is safe, and a unique lookup's stale entry is
//     taken over by the next row that wants it. A removal that fails
//     leaves stale entries too, so it does not fail the statement.
//
// The plain kinds inside a client transaction are written in it with
// Execute: entries commit or roll back with the rows.

// lookupEntry is one row of a lookup table.
type lookupEntry struct {
	from, to any
}

// lookupChange is what one statement does to one lookup table.
type lookupChange struct {
	cv *ColumnVindex
	// owner is the owner table; its primary vindex column holds to.
	owner       *Table
	add, remove []lookupEntry
}

// lookupMaint maintains the lookup tables of one execution of a
// statement on an owner table.
type lookupMaint struct {
	changes []*lookupChange
	// inTx says the client session is in a transaction.
	inTx        bool
	noBackslash bool
	// sides are the side transactions holding the added entries, by
	// lookup shard; owner runs the owner statement outside a client
	// transaction.
	sides *sideExec
	owner *sideExec
}

// sessionInTx reads InTransactionBind, which plans with lookup writes
// ask for (Plan.SessionBinds).
func sessionInTx(bv BindVars) bool {
	v, ok := bv[InTransactionBind]
	if !ok {
		return false
	}
	i, _, _, _ := sqltypes.ToInteger(v)
	return i != 0
}

// inside says the change is written inside the client's transaction.
func (m *lookupMaint) inside(c *lookupChange) bool {
	return m.inTx && !c.cv.Lookup.readsOutside()
}

// start readies m for exec: outside a client transaction, or with a
// lookup written outside it, exec must start side transactions.
func (m *lookupMaint) start(exec ShardExecutor) error {
	st, ok := exec.(SideTransactor)
	for _, c := range m.changes {
		if m.inside(c) {
			continue
		}
		if !ok {
			return sqlerr.NotSupported("writing lookup vindex %s here (no side transactions)", c.cv.Name)
		}
		m.sides = &sideExec{st: st, base: exec, readCommitted: true}
		if !m.inTx {
			m.owner = &sideExec{st: st, base: exec}
		}
		return nil
	}
	return nil
}

// ownerExec is the executor of the owner statement.
func (m *lookupMaint) ownerExec(exec ShardExecutor) ShardExecutor {
	if m.owner != nil {
		return m.owner
	}
	return exec
}

// runInside runs the statements of a change written in the client's
// transaction.
func (m *lookupMaint) runInside(ctx context.Context, exec ShardExecutor, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	if len(qs) == 0 {
		return nil, nil
	}
	res, err := exec.Execute(ctx, qs)
	if err != nil {
		return nil, err
	}
	return res, ensureCount(res, len(qs))
}

// before adds the entries the statement's rows will need, and checks
// unique lookups. On error nothing of it is left.
func (m *lookupMaint) before(ctx context.Context, exec ShardExecutor) error {
	if err := m.start(exec); err != nil {
		return err
	}
	for i, c := range m.changes {
		var err error
		if m.inside(c) {
			if err = m.insertInside(ctx, exec, c, c.add); err == nil && c.cv.Lookup.V.Unique {
				err = m.checkUnique(ctx, exec, c)
			}
		} else if err = m.insertSide(ctx, c, c.add); err == nil && c.cv.Lookup.V.Unique {
			err = m.claim(ctx, exec, c)
		}
		if err != nil {
			m.undo(ctx, exec, m.changes[:i+1])
			return err
		}
	}
	return nil
}

// after, once the owner statement ran, commits the side transactions
// (the entries', then the rows') and removes the entries no row needs.
// Its error says the rows may have been written: the client must not
// take the statement for failed and retry it blindly.
func (m *lookupMaint) after(ctx context.Context, exec ShardExecutor) error {
	if m.sides != nil {
		if err := m.sides.commit(ctx); err != nil {
			m.owner.rollback(ctx)
			if m.inTx {
				// The rows are in the client's transaction and some of
				// their entries may not be: the transaction must not
				// commit them, so it ends here.
				e := sqlerr.Wrap(sqlerr.FromError(err).Num, err, "committing the entries of the statement's lookup vindexes failed, so the transaction was rolled back: %s", sqlerr.FromError(err).Message)
				e.TxEnded = true
				return e
			}
			return fmt.Errorf("commit lookup entries: %w", err)
		}
	}
	if m.owner != nil {
		if err := m.owner.commit(ctx); err != nil {
			return sqlerr.Wrap(sqlerr.FromError(err).Num, err, "committing the statement's rows failed; whether all of them were written is not known: %s", sqlerr.FromError(err).Message)
		}
	}
	for _, c := range m.changes {
		if len(c.remove) == 0 {
			continue
		}
		if m.inside(c) {
			if err := m.removeInside(ctx, exec, c, c.remove); err != nil {
				e := sqlerr.FromError(err)
				return sqlerr.Wrap(e.Num, err, "the statement's rows were written, but maintaining lookup %s afterwards failed: %s", c.cv.Name, e.Message)
			}
			continue
		}
		if m.inTx {
			continue // not committed yet: the entries stay, stale
		}
		// A failure leaves stale entries, which are safe.
		_ = m.removeSide(ctx, exec, c, c.remove)
	}
	return nil
}

// undo takes back what before did, when the owner statement did not run
// or failed: the side transactions roll back; entries written in the
// client's transaction are removed in it, guarded.
func (m *lookupMaint) undo(ctx context.Context, exec ShardExecutor, changes []*lookupChange) {
	m.sides.rollback(ctx)
	m.owner.rollback(ctx)
	for _, c := range changes {
		if m.inside(c) {
			_ = m.removeInside(ctx, exec, c, c.add)
		}
	}
}

// byLookupShard groups entries by the shard of the lookup keyspace that
// holds their from value, in shard order.
func byLookupShard(ref *LookupRef, entries []lookupEntry) ([]string, map[string][]lookupEntry, error) {
	ks := ref.Keyspace
	out := map[string][]lookupEntry{}
	if len(ks.Shards) == 0 {
		return nil, nil, sqlerr.New(sqlerr.ERUnknown, "keyspace %s of lookup table %s has no serving shards", ks.Name, ref.V.TableName())
	}
	for _, e := range entries {
		if !ks.Sharded {
			out[ks.Shards[0]] = append(out[ks.Shards[0]], e)
			continue
		}
		ksid, ok := ref.Table.PrimaryVindex().Vindex.Map(e.from)
		if !ok {
			return nil, nil, sqlerr.New(sqlerr.ERWrongArguments, "lookup table %s: value %v cannot be mapped by vindex %s", ref.V.TableName(), e.from, ref.Table.PrimaryVindex().Name)
		}
		s, ok := ks.ShardForKeyspaceID(ksid)
		if !ok {
			return nil, nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds keyspace id %x", ks.Name, ksid)
		}
		out[s] = append(out[s], e)
	}
	shards := make([]string, 0, len(out))
	for s := range out {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	return shards, out, nil
}

// appendPairs appends (a, b), (a, b), ... of the entries.
func (m *lookupMaint) appendPairs(b []byte, entries []lookupEntry, swap bool) ([]byte, error) {
	for i, e := range entries {
		if i > 0 {
			b = append(b, ", "...)
		}
		x, y := e.from, e.to
		if swap {
			x, y = y, x
		}
		b = append(b, '(')
		var err error
		if b, err = sqltypes.AppendSQLIn(b, x, m.noBackslash); err != nil {
			return nil, err
		}
		b = append(b, ", "...)
		if b, err = sqltypes.AppendSQLIn(b, y, m.noBackslash); err != nil {
			return nil, err
		}
		b = append(b, ')')
	}
	return b, nil
}

// insertSQL returns, by lookup shard in shard order, the statements
// that insert entries; an entry that exists already is left as it is (and
// locked).
func (m *lookupMaint) insertSQL(c *lookupChange, entries []lookupEntry) ([]ShardQuery, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	v := c.cv.Lookup.V
	shards, by, err := byLookupShard(c.cv.Lookup, entries)
	if err != nil {
		return nil, err
	}
	qs := make([]ShardQuery, len(shards))
	for i, s := range shards {
		b := []byte("INSERT INTO " + quoteName(v.Table) + " (" + quoteName(v.From) + ", " + quoteName(v.To) + ") VALUES ")
		if b, err = m.appendPairs(b, by[s], false); err != nil {
			return nil, err
		}
		b = append(b, " ON DUPLICATE KEY UPDATE "+quoteName(v.To)+" = "+quoteName(v.To)...)
		qs[i] = ShardQuery{Keyspace: c.cv.Lookup.Keyspace.Name, Shard: s, SQL: string(b)}
	}
	return qs, nil
}

// deleteSQL returns, by lookup shard, the statements that delete entries.
func (m *lookupMaint) deleteSQL(c *lookupChange, entries []lookupEntry) ([]ShardQuery, map[string][]lookupEntry, error) {
	v := c.cv.Lookup.V
	shards, by, err := byLookupShard(c.cv.Lookup, entries)
	if err != nil {
		return nil, nil, err
	}
	qs := make([]ShardQuery, len(shards))
	for i, s := range shards {
		b := []byte("DELETE FROM " + quoteName(v.Table) + " WHERE (" + quoteName(v.From) + ", " + quoteName(v.To) + ") IN (")
		if b, err = m.appendPairs(b, by[s], false); err != nil {
			return nil, nil, err
		}
		qs[i] = ShardQuery{Keyspace: c.cv.Lookup.Keyspace.Name, Shard: s, SQL: string(append(b, ')'))}
	}
	return qs, by, nil
}

// insertSide inserts entries in the side transactions.
func (m *lookupMaint) insertSide(ctx context.Context, c *lookupChange, entries []lookupEntry) error {
	qs, err := m.insertSQL(c, entries)
	if err != nil {
		return err
	}
	if _, err := m.sides.Execute(ctx, qs); err != nil {
		return fmt.Errorf("write lookup table %s: %w", c.cv.Lookup.V.TableName(), err)
	}
	return nil
}

// insertInside inserts entries in the client's transaction.
func (m *lookupMaint) insertInside(ctx context.Context, exec ShardExecutor, c *lookupChange, entries []lookupEntry) error {
	qs, err := m.insertSQL(c, entries)
	if err != nil {
		return err
	}
	if _, err := m.runInside(ctx, exec, qs); err != nil {
		return fmt.Errorf("write lookup table %s: %w", c.cv.Lookup.V.TableName(), err)
	}
	return nil
}

// wanted maps each added value's text to its row's, and refuses a
// statement that gives one value to two rows.
func wanted(c *lookupChange) (map[string]string, []any, error) {
	want := map[string]string{}
	var vals []any
	for _, e := range c.add {
		f, _ := sqltypes.ToText(e.from)
		t, _ := sqltypes.ToText(e.to)
		if prev, ok := want[string(f)]; ok && prev != string(t) {
			return nil, nil, errDupLookup(c, e.from)
		}
		if _, ok := want[string(f)]; !ok {
			vals = append(vals, e.from)
		}
		want[string(f)] = string(t)
	}
	return want, vals, nil
}

// checkUnique refuses, with 1062, an added value whose entry names
// another row; for a lookup written in the client's transaction.
func (m *lookupMaint) checkUnique(ctx context.Context, exec ShardExecutor, c *lookupChange) error {
	if len(c.add) == 0 {
		return nil
	}
	want, vals, err := wanted(c)
	if err != nil {
		return err
	}
	qs, err := (&lookupStep{ref: c.cv.Lookup, noBackslash: m.noBackslash}).selects(vals, "")
	if err != nil {
		return err
	}
	res, err := m.runInside(ctx, exec, qs)
	if err != nil {
		return fmt.Errorf("read lookup table %s: %w", c.cv.Lookup.V.TableName(), err)
	}
	for _, r := range res {
		rows, err := decodeRows(r)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if len(row) != 2 {
				continue
			}
			if to, ok := want[string(row[0])]; ok && to != string(row[1]) {
				return errDupLookup(c, string(row[0]))
			}
		}
	}
	return nil
}

// claim makes the added values' entries name this statement's rows, in
// the side transactions, which hold them locked: an entry that names
// another row is refused with 1062 when that row exists, and taken over
// when it does not.
func (m *lookupMaint) claim(ctx context.Context, exec ShardExecutor, c *lookupChange) error {
	if len(c.add) == 0 {
		return nil
	}
	want, vals, err := wanted(c)
	if err != nil {
		return err
	}
	qs, err := (&lookupStep{ref: c.cv.Lookup, noBackslash: m.noBackslash}).selects(vals, " FOR UPDATE")
	if err != nil {
		return err
	}
	res, err := m.sides.Execute(ctx, qs)
	if err != nil {
		return fmt.Errorf("read lookup table %s: %w", c.cv.Lookup.V.TableName(), err)
	}
	var others []lookupEntry
	for _, r := range res {
		rows, err := decodeRows(r)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if len(row) != 2 || row[1] == nil {
				continue
			}
			if to, ok := want[string(row[0])]; ok && to != string(row[1]) {
				others = append(others, lookupEntry{from: string(row[0]), to: string(row[1])})
			}
		}
	}
	if len(others) == 0 {
		return nil
	}
	// Do the rows the entries name exist? Inside a client transaction the
	// read does not wait (NOWAIT): the transaction may hold those rows
	// itself, and a row it deleted may come back if it rolls back.
	how := readWaiting
	if m.inTx {
		how = readNoWait
	}
	exist, err := m.ownerRows(ctx, exec, c, others, how)
	if err != nil {
		if m.inTx && isLockError(err) {
			return errDupLookup(c, others[0].from)
		}
		return err
	}
	if len(exist) > 0 {
		return errDupLookup(c, exist[0].from)
	}
	v := c.cv.Lookup.V
	var ups []ShardQuery
	for _, e := range others {
		f, _ := sqltypes.ToText(e.from)
		shards, _, err := byLookupShard(c.cv.Lookup, []lookupEntry{e})
		if err != nil {
			return err
		}
		b := []byte("UPDATE " + quoteName(v.Table) + " SET " + quoteName(v.To) + " = ")
		if b, err = sqltypes.AppendSQLIn(b, want[string(f)], m.noBackslash); err != nil {
			return err
		}
		b = append(b, " WHERE ("+quoteName(v.From)+", "+quoteName(v.To)+") IN ("...)
		if b, err = m.appendPairs(b, []lookupEntry{e}, false); err != nil {
			return err
		}
		ups = append(ups, ShardQuery{Keyspace: c.cv.Lookup.Keyspace.Name, Shard: shards[0], SQL: string(append(b, ')'))})
	}
	if _, err := m.sides.Execute(ctx, ups); err != nil {
		return fmt.Errorf("take over stale entries of lookup table %s: %w", v.TableName(), err)
	}
	return nil
}

// isLockError says err is a lock that was not granted.
func isLockError(err error) bool {
	n := sqlerr.FromError(err).Num
	return n == sqlerr.ERLockWaitTimeout || n == sqlerr.ERDeadlock
}

// errDupLookup is MariaDB's error for a duplicate in a unique index; the
// key named is the lookup vindex.
func errDupLookup(c *lookupChange, from any) error {
	t, _ := sqltypes.ToText(from)
	return sqlerr.New(sqlerr.ERDupEntry, "Duplicate entry '%s' for key '%s'", t, c.cv.Name)
}

// removeSide deletes entries and puts back those whose owner row still
// has the value, in one side transaction per lookup shard, so that no
// reader sees a needed entry missing.
func (m *lookupMaint) removeSide(ctx context.Context, exec ShardExecutor, c *lookupChange, entries []lookupEntry) error {
	if len(entries) == 0 {
		return nil
	}
	st, _ := exec.(SideTransactor)
	side := &sideExec{st: st, base: exec, readCommitted: true}
	defer side.rollback(ctx)
	qs, _, err := m.deleteSQL(c, entries)
	if err != nil {
		return err
	}
	if _, err := side.Execute(ctx, qs); err != nil {
		return fmt.Errorf("delete from lookup table %s: %w", c.cv.Lookup.V.TableName(), err)
	}
	// Without waiting: a row locked by a client transaction that may wait
	// for this side transaction's locks would hold both until the lock
	// wait timeout. The entries then stay (stale, safe).
	back, err := m.ownerRows(ctx, exec, c, entries, readNoWait)
	if err != nil {
		return err
	}
	if qs, err = m.insertSQL(c, back); err != nil {
		return err
	}
	if _, err := side.Execute(ctx, qs); err != nil {
		return fmt.Errorf("write lookup table %s: %w", c.cv.Lookup.V.TableName(), err)
	}
	return side.commit(ctx)
}

// removeInside deletes entries in the client's transaction, then puts
// back those whose owner row still has the value.
func (m *lookupMaint) removeInside(ctx context.Context, exec ShardExecutor, c *lookupChange, entries []lookupEntry) error {
	if len(entries) == 0 {
		return nil
	}
	qs, _, err := m.deleteSQL(c, entries)
	if err != nil {
		return err
	}
	if _, err := m.runInside(ctx, exec, qs); err != nil {
		return fmt.Errorf("delete from lookup table %s: %w", c.cv.Lookup.V.TableName(), err)
	}
	back, err := m.ownerRows(ctx, exec, c, entries, readInTx)
	if err != nil {
		return err
	}
	return m.insertInside(ctx, exec, c, back)
}

// How ownerRows reads.
const (
	// readInTx reads in the client's transaction, for a change written in
	// it.
	readInTx = iota
	// readWaiting reads outside it, waiting for the row locks it meets.
	readWaiting
	// readNoWait reads outside it and fails on a row lock (NOWAIT).
	readNoWait
)

// ownerRows reads, with a shared lock, the owner rows that have the
// entries' values, and returns their entries.
func (m *lookupMaint) ownerRows(ctx context.Context, exec ShardExecutor, c *lookupChange, entries []lookupEntry, how int) ([]lookupEntry, error) {
	var err error
	pv := c.owner.PrimaryVindex()
	ks := c.owner.Keyspace
	perShard := map[string][]lookupEntry{}
	for _, e := range entries {
		ksid, ok := pv.Vindex.Map(e.to)
		if !ok {
			for _, s := range ks.Shards {
				perShard[s] = append(perShard[s], e)
			}
			continue
		}
		s, ok := ks.ShardForKeyspaceID(ksid)
		if !ok {
			return nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds keyspace id %x", ks.Name, ksid)
		}
		perShard[s] = append(perShard[s], e)
	}
	owners := make([]string, 0, len(perShard))
	for s := range perShard {
		owners = append(owners, s)
	}
	sort.Strings(owners)
	lock := " LOCK IN SHARE MODE"
	if how == readNoWait {
		lock += " NOWAIT"
	}
	qs := make([]ShardQuery, len(owners))
	for i, s := range owners {
		b := []byte("SELECT " + quoteName(c.cv.Column) + ", " + quoteName(pv.Column) + " FROM " + quoteName(c.owner.Name) +
			" WHERE (" + quoteName(c.cv.Column) + ", " + quoteName(pv.Column) + ") IN (")
		if b, err = m.appendPairs(b, perShard[s], false); err != nil {
			return nil, err
		}
		qs[i] = ShardQuery{Keyspace: ks.Name, Shard: s, SQL: string(append(b, ")"+lock...))}
	}
	var res []*querypb.QueryResult
	if how == readInTx {
		res, err = m.runInside(ctx, exec, qs)
	} else {
		if res, err = exec.ExecuteAutocommit(ctx, qs); err == nil {
			err = ensureCount(res, len(qs))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read owner table %s: %w", c.owner.Name, err)
	}
	var out []lookupEntry
	for _, r := range res {
		rows, err := decodeRows(r)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if len(row) == 2 && row[0] != nil && row[1] != nil {
				out = append(out, lookupEntry{from: string(row[0]), to: string(row[1])})
			}
		}
	}
	return out, nil
}

// sideExec runs each statement in a side transaction of its shard,
// started on first use; ExecuteAutocommit goes to base.
type sideExec struct {
	st   SideTransactor
	base ShardExecutor
	// readCommitted begins the transactions at READ COMMITTED (lookup
	// tables: no gap locks, which would make writers of different entries
	// wait on each other).
	readCommitted bool
	txs           map[[2]string]SideTx
	// order is the shards in the order their transactions began.
	order [][2]string
}

func (s *sideExec) Execute(ctx context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	out := make([]*querypb.QueryResult, len(qs))
	for i, q := range qs {
		if q.Lock {
			return nil, sqlerr.NotSupported("lock functions in a statement that writes lookup vindexes")
		}
		k := [2]string{q.Keyspace, q.Shard}
		tx := s.txs[k]
		if tx == nil {
			var err error
			if tx, err = s.st.BeginSide(ctx, q.Keyspace, q.Shard, s.readCommitted); err != nil {
				return nil, err
			}
			if s.txs == nil {
				s.txs = map[[2]string]SideTx{}
			}
			s.txs[k] = tx
			s.order = append(s.order, k)
		}
		r, err := tx.Execute(ctx, q.SQL)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

func (s *sideExec) ExecuteAutocommit(ctx context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	return s.base.ExecuteAutocommit(ctx, qs)
}

func (s *sideExec) Stream(ctx context.Context, qs []ShardQuery, callback func(int, *querypb.QueryResult) error) error {
	res, err := s.Execute(ctx, qs)
	if err != nil {
		return err
	}
	for i, r := range res {
		if err := callback(i, r); err != nil {
			return err
		}
	}
	return nil
}

// commit commits the transactions in the order they began. After a
// failure the rest are rolled back.
func (s *sideExec) commit(ctx context.Context) error {
	if s == nil {
		return nil
	}
	for i, k := range s.order {
		if err := s.txs[k].Commit(ctx); err != nil {
			delete(s.txs, k)
			s.order = s.order[i+1:]
			s.rollback(ctx)
			return err
		}
		delete(s.txs, k)
	}
	s.order = nil
	return nil
}

// rollback rolls back the transactions still open.
func (s *sideExec) rollback(ctx context.Context) {
	if s == nil {
		return
	}
	for _, k := range s.order {
		if tx := s.txs[k]; tx != nil {
			tx.Rollback(ctx)
		}
	}
	s.txs, s.order = nil, nil
}

// describeLookupWrite describes the maintenance of one lookup, for
// EXPLAIN and golden tests.
func describeLookupWrite(cv *ColumnVindex) map[string]any {
	v := cv.Lookup.V
	writes := "in the transaction"
	if cv.Lookup.readsOutside() {
		writes = "autocommit, ordered"
	}
	return map[string]any{"vindex": cv.Name, "type": v.Type(), "column": cv.Column, "table": v.TableName(), "writes": writes}
}
