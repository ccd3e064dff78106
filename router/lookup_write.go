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
// one more shard. So every write keeps one rule: an entry is added
// before the row that needs it is written, and removed only after the
// row no longer needs it.
//
//   - Adding (INSERT, UPDATE to a new value): the entry is inserted
//     first (before), the owner statement runs, and when the entry is
//     written outside the client's transaction it is inserted again
//     (after), which undoes a concurrent removal that raced with this
//     statement.
//   - Removing (DELETE, UPDATE from an old value): after the owner
//     statement, the entry is deleted, then the owner rows are read
//     with a shared lock (waiting for any transaction that is writing
//     them) and every row that still has the value gets its entry back.
//     Inside a client transaction whose lookup writes are outside it
//     (consistent kinds, autocommit), removals are skipped: the row's
//     deletion is not committed yet, so the entry stays (stale, which is
//     safe).
//   - A unique lookup refuses a value whose entry names another row
//     (1062), checked right after the entry is inserted.
//
// The consistent kinds and autocommit lookups write with
// ExecuteAutocommit: each statement commits on its own, and no
// two-phase commit is needed. The plain kinds write with Execute: inside
// the client's transaction when it has one, so the entries commit or
// roll back with the rows.

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

func (m *lookupMaint) run(ctx context.Context, exec ShardExecutor, c *lookupChange, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	if len(qs) == 0 {
		return nil, nil
	}
	var res []*querypb.QueryResult
	var err error
	if c.cv.Lookup.readsOutside() {
		res, err = exec.ExecuteAutocommit(ctx, qs)
	} else {
		res, err = exec.Execute(ctx, qs)
	}
	if err != nil {
		return nil, err
	}
	return res, ensureCount(res, len(qs))
}

// before adds the entries the statement's rows will need, and checks
// unique lookups.
func (m *lookupMaint) before(ctx context.Context, exec ShardExecutor) error {
	for i, c := range m.changes {
		if err := m.insert(ctx, exec, c, c.add); err != nil {
			m.undo(ctx, exec, m.changes[:i+1])
			return err
		}
		if c.cv.Lookup.V.Unique {
			if err := m.checkUnique(ctx, exec, c); err != nil {
				m.undo(ctx, exec, m.changes[:i+1])
				return err
			}
		}
	}
	return nil
}

// after, once the owner statement ran, inserts the added entries again
// (when written outside the transaction) and removes the entries no row
// needs. Its error says the rows were written: the client must not take
// the statement for failed and retry it blindly.
func (m *lookupMaint) after(ctx context.Context, exec ShardExecutor) error {
	for _, c := range m.changes {
		var err error
		if !m.inside(c) {
			err = m.insertRetrying(ctx, exec, c, c.add)
		}
		if err == nil {
			err = m.removeGuarded(ctx, exec, c, c.remove)
		}
		if err != nil {
			e := sqlerr.FromError(err)
			return sqlerr.Wrap(e.Num, err, "the statement's rows were written, but maintaining lookup %s afterwards failed: %s", c.cv.Name, e.Message)
		}
	}
	return nil
}

// undo removes the entries before added, when the owner statement did
// not run or failed. Its own errors leave stale entries, which are safe.
func (m *lookupMaint) undo(ctx context.Context, exec ShardExecutor, changes []*lookupChange) {
	for _, c := range changes {
		_ = m.removeGuarded(ctx, exec, c, c.add)
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

// insert writes entries; an entry that exists already is left as it is.
func (m *lookupMaint) insert(ctx context.Context, exec ShardExecutor, c *lookupChange, entries []lookupEntry) error {
	if len(entries) == 0 {
		return nil
	}
	v := c.cv.Lookup.V
	shards, by, err := byLookupShard(c.cv.Lookup, entries)
	if err != nil {
		return err
	}
	qs := make([]ShardQuery, len(shards))
	for i, s := range shards {
		b := []byte("INSERT INTO " + quoteName(v.Table) + " (" + quoteName(v.From) + ", " + quoteName(v.To) + ") VALUES ")
		if b, err = m.appendPairs(b, by[s], false); err != nil {
			return err
		}
		b = append(b, " ON DUPLICATE KEY UPDATE "+quoteName(v.To)+" = "+quoteName(v.To)...)
		qs[i] = ShardQuery{Keyspace: c.cv.Lookup.Keyspace.Name, Shard: s, SQL: string(b)}
	}
	if _, err := m.run(ctx, exec, c, qs); err != nil {
		return fmt.Errorf("write lookup table %s: %w", v.TableName(), err)
	}
	return nil
}

// checkUnique refuses, with 1062, an added value whose entry names
// another row.
func (m *lookupMaint) checkUnique(ctx context.Context, exec ShardExecutor, c *lookupChange) error {
	if len(c.add) == 0 {
		return nil
	}
	want := map[string]string{}
	var vals []any
	for _, e := range c.add {
		f, _ := sqltypes.ToText(e.from)
		t, _ := sqltypes.ToText(e.to)
		if prev, ok := want[string(f)]; ok && prev != string(t) {
			return errDupLookup(c, e.from)
		}
		want[string(f)] = string(t)
		vals = append(vals, e.from)
	}
	step := &lookupStep{ref: c.cv.Lookup, noBackslash: m.noBackslash}
	byShard, err := lookupShardsOf(c.cv.Lookup, vals)
	if err != nil {
		return err
	}
	var qs []ShardQuery
	for s, vs := range byShard {
		sql, err := step.selectSQL(vs)
		if err != nil {
			return err
		}
		qs = append(qs, ShardQuery{Keyspace: c.cv.Lookup.Keyspace.Name, Shard: s, SQL: sql})
	}
	res, err := m.run(ctx, exec, c, qs)
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

// errDupLookup is MariaDB's error for a duplicate in a unique index; the
// key named is the lookup vindex.
func errDupLookup(c *lookupChange, from any) error {
	t, _ := sqltypes.ToText(from)
	return sqlerr.New(sqlerr.ERDupEntry, "Duplicate entry '%s' for key '%s'", t, c.cv.Name)
}

// removeGuarded deletes entries, then puts back those whose owner row
// still has the value, read with a shared lock. Inside a client
// transaction whose lookup writes are outside it, it does nothing.
func (m *lookupMaint) removeGuarded(ctx context.Context, exec ShardExecutor, c *lookupChange, entries []lookupEntry) error {
	if len(entries) == 0 || m.inTx && !m.inside(c) {
		return nil
	}
	v := c.cv.Lookup.V
	shards, by, err := byLookupShard(c.cv.Lookup, entries)
	if err != nil {
		return err
	}
	qs := make([]ShardQuery, len(shards))
	for i, s := range shards {
		b := []byte("DELETE FROM " + quoteName(v.Table) + " WHERE (" + quoteName(v.From) + ", " + quoteName(v.To) + ") IN (")
		if b, err = m.appendPairs(b, by[s], false); err != nil {
			return err
		}
		qs[i] = ShardQuery{Keyspace: c.cv.Lookup.Keyspace.Name, Shard: s, SQL: string(append(b, ')'))}
	}
	if _, err := m.run(ctx, exec, c, qs); err != nil {
		return fmt.Errorf("delete from lookup table %s: %w", v.TableName(), err)
	}
	back, err := m.stillNeeded(ctx, exec, c, entries)
	if err == nil {
		err = m.insertRetrying(ctx, exec, c, back)
	}
	if err != nil && !m.inside(c) {
		// The entries are deleted and whether a row still needs them is
		// not known (the owner read failed, a deadlock say): put them all
		// back. A stale entry costs a look at one more shard; a missing
		// one hides a row. (Inside the client's transaction the failure
		// rolls the deletion back with the rest.)
		if ierr := m.insertRetrying(ctx, exec, c, entries); ierr != nil {
			return fmt.Errorf("%w; and putting the entries back failed, so rows with these values may not be found by lookup %s until they are written again: %v", err, c.cv.Name, ierr)
		}
	}
	return err
}

// insertRetrying is insert, tried again after a deadlock or a lock wait
// timeout (an autocommit write that lost to another): entries that must
// be there are worth a few tries.
func (m *lookupMaint) insertRetrying(ctx context.Context, exec ShardExecutor, c *lookupChange, entries []lookupEntry) error {
	var err error
	for try := 0; try < 3; try++ {
		if err = m.insert(ctx, exec, c, entries); err == nil || m.inside(c) {
			return err
		}
		if n := sqlerr.FromError(err).Num; n != sqlerr.ERDeadlock && n != sqlerr.ERLockWaitTimeout {
			return err
		}
	}
	return err
}

// stillNeeded reads, with a shared lock that waits for the transactions
// writing them, the owner rows that still have the entries' values, and
// returns their entries.
func (m *lookupMaint) stillNeeded(ctx context.Context, exec ShardExecutor, c *lookupChange, entries []lookupEntry) ([]lookupEntry, error) {
	var err error
	// Which owner rows still have their value?
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
	qs := make([]ShardQuery, len(owners))
	for i, s := range owners {
		b := []byte("SELECT " + quoteName(c.cv.Column) + ", " + quoteName(pv.Column) + " FROM " + quoteName(c.owner.Name) +
			" WHERE (" + quoteName(c.cv.Column) + ", " + quoteName(pv.Column) + ") IN (")
		if b, err = m.appendPairs(b, perShard[s], false); err != nil {
			return nil, err
		}
		qs[i] = ShardQuery{Keyspace: ks.Name, Shard: s, SQL: string(append(b, ") LOCK IN SHARE MODE"...))}
	}
	res, err := m.run(ctx, exec, c, qs)
	if err != nil {
		return nil, fmt.Errorf("read owner table %s: %w", c.owner.Name, err)
	}
	var back []lookupEntry
	for _, r := range res {
		rows, err := decodeRows(r)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if len(row) == 2 && row[0] != nil && row[1] != nil {
				back = append(back, lookupEntry{from: string(row[0]), to: string(row[1])})
			}
		}
	}
	return back, nil
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
