package vrepl

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/sqlerr"

	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// Lookup backfill.
//
// A table rule with a LookupRule streams the rows of an owner table from
// the source shards, and the target writes, instead of the rows, their
// entries in the lookup table: (owner_from, owner_to) as (from, to). The
// source keeps the rows whose owner_from value maps, by the lookup
// table's own vindex, into the target's range (every row for an
// unsharded lookup keyspace), so each entry lands on the lookup shard a
// gate reads it from. The copy and the binlog follow the engine's usual
// cycle, except that binlog changes apply to every row whether or not
// the copy has reached it (the target has no schema of the owner to
// compare keys with); this is sound because each write below is
// idempotent and concerns the entry of one row: a change applied before
// the snapshot that holds its row leaves that snapshot's insert a no-op,
// and a row deleted before its snapshot is in no snapshot.
//
// The writes, in binlog order within a transaction:
//
//   - an owner row that appears (insert, or update into the range) puts
//     its entry: INSERT ... ON DUPLICATE KEY UPDATE, so an entry already
//     there (written by a gate that maintains the write_only vindex, or
//     by an earlier copy) is fine. A unique lookup then checks that the
//     entry of from names this row's to; if it names another, the
//     stream stops with a "not unique" error instead of overwriting it:
//     either two rows share the value (the backfill must fail), or the
//     value moved between rows faster than the stream follows (see
//     docs/vschema.md; the backfill fails safe).
//   - an owner row that goes (delete, or update out of the range)
//     deletes its entry, matched on both from and to, so an entry that a
//     gate gave to another row stays. A non-unique lookup keeps it: its
//     entry (from, to) is shared by every owner row with the same value
//     and sharding value, and one row's delete does not say whether
//     another remains; a stale entry costs a read one extra shard, a
//     missing one would lose a row.
//     Once the vindex serves, the workflow is told to keep entries
//     (keep_entries): the gates remove them, and a stream behind them
//     could remove one a gate has just written for a new row with the
//     same value and sharding value.
//   - an update that keeps (from, to) writes nothing; one that changes
//     either is the old row going and the new one appearing.
//   - a row with NULL in owner_from (or owner_to) has no entry.

// entry is one lookup table row: a from value and a to value, in the
// engine's text form.
type entry struct{ from, to []byte }

// lookupProj maps the rows of an owner table, whose columns a source
// names, to entries of its lookup table.
type lookupProj struct {
	rule *vreplicationpb.LookupRule
	// t is the lookup table; from and to its columns.
	t        *Table
	from, to *Column
	// fromAt and toAt are the positions of owner_from and owner_to in
	// the owner's rows.
	fromAt, toAt int
}

// newLookupProj builds the projection of rows whose columns are cols
// onto lookup table t.
func newLookupProj(r *vreplicationpb.LookupRule, t *Table, cols []string) (*lookupProj, error) {
	p := &lookupProj{rule: r, t: t, fromAt: -1, toAt: -1}
	for i, c := range cols {
		if strings.EqualFold(c, r.OwnerFrom) {
			p.fromAt = i
		}
		if strings.EqualFold(c, r.OwnerTo) {
			p.toAt = i
		}
	}
	if p.fromAt < 0 || p.toAt < 0 {
		return nil, fatalf("lookup %s: the owner's rows have columns %v, without %s or %s", r.Table, cols, r.OwnerFrom, r.OwnerTo)
	}
	fi, ti := t.colIndex(r.From), t.colIndex(r.To)
	if fi < 0 || ti < 0 {
		return nil, fatalf("lookup table %s has no column %s or %s", t.Name, r.From, r.To)
	}
	p.from, p.to = &t.Cols[fi], &t.Cols[ti]
	return p, nil
}

// entryOf returns the entry of an owner row; false when the row has
// none (NULL in either column).
func (p *lookupProj) entryOf(vals [][]byte) (entry, bool) {
	if vals == nil {
		return entry{}, false
	}
	e := entry{from: vals[p.fromAt], to: vals[p.toAt]}
	return e, e.from != nil && e.to != nil
}

// changeOps maps owner row changes, in order, to entry writes: rowOps
// whose vals are {from, to}.
func (p *lookupProj) changeOps(et *eventTable, changes [][2][][]byte) []rowOp {
	var ops []rowOp
	for _, ch := range changes {
		b, hasB := p.entryOf(ch[0])
		a, hasA := p.entryOf(ch[1])
		if hasB && hasA && string(b.from) == string(a.from) && string(b.to) == string(a.to) {
			continue
		}
		if hasB && p.rule.Unique && !p.rule.KeepEntries {
			ops = append(ops, rowOp{et: et, del: true, vals: [][]byte{b.from, b.to}})
		}
		if hasA {
			ops = append(ops, rowOp{et: et, vals: [][]byte{a.from, a.to}})
		}
	}
	return ops
}

// rowEntries are the entries of copied rows (raw text-protocol rows that
// may end with sort keys).
func (p *lookupProj) rowEntries(et *eventTable, rows [][]byte) ([]rowOp, error) {
	var ops []rowOp
	for _, raw := range rows {
		vals, err := mysqlconn.RowValues(raw, countValues(raw))
		if err != nil {
			return nil, fmt.Errorf("lookup %s: %w", p.t.Name, err)
		}
		if max(p.fromAt, p.toAt) >= len(vals) {
			return nil, fmt.Errorf("lookup %s: a row has %d values", p.t.Name, len(vals))
		}
		if e, ok := p.entryOf(vals); ok {
			ops = append(ops, rowOp{et: et, vals: [][]byte{e.from, e.to}})
		}
	}
	return ops, nil
}

// pair appends (from, to) as literals.
func (p *lookupProj) pair(b []byte, vals [][]byte) []byte {
	b = append(b, '(')
	b = appendLiteral(b, p.from, vals[0])
	b = append(b, ',')
	b = appendLiteral(b, p.to, vals[1])
	return append(b, ')')
}

// putStatement inserts the entries of a run of puts, those already there
// left as they are; it returns the statement and how many ops it holds
// (up to maxStmt bytes).
func (p *lookupProj) putStatement(run []rowOp, maxStmt int) (string, int) {
	from := quoteIdent(p.from.Name)
	b := []byte("INSERT INTO " + quoteIdent(p.t.Name) + " (" + from + "," + quoteIdent(p.to.Name) + ") VALUES ")
	n := 0
	for _, op := range run {
		if n > 0 {
			b = append(b, ',')
		}
		b = p.pair(b, op.vals)
		n++
		if len(b) >= maxStmt {
			break
		}
	}
	b = append(b, " ON DUPLICATE KEY UPDATE "+from+" = "+from...)
	return string(b), n
}

// deleteStatement deletes the entries of a run of deletes, each matched on
// both columns. The conditions are ORed equalities, which mysqld reads as
// key ranges (a row-constructor IN can make a DELETE scan, and lock,
// the whole table).
func (p *lookupProj) deleteStatement(run []rowOp, maxStmt int) (string, int) {
	from, to := quoteIdent(p.from.Name), quoteIdent(p.to.Name)
	b := []byte("DELETE FROM " + quoteIdent(p.t.Name) + " WHERE ")
	n := 0
	for _, op := range run {
		if n > 0 {
			b = append(b, " OR "...)
		}
		b = append(b, "("+from+" = "...)
		b = appendLiteral(b, p.from, op.vals[0])
		b = append(b, " AND "+to+" = "...)
		b = appendLiteral(b, p.to, op.vals[1])
		b = append(b, ')')
		n++
		if len(b) >= maxStmt {
			break
		}
	}
	return string(b), n
}

// checkQuery counts the entries among run's that are in the table, as
// they are (from and to): a unique lookup's puts all are, unless a from
// value's entry names another to.
func (p *lookupProj) checkQuery(run []rowOp) (string, int) {
	seen := map[string]bool{}
	b := []byte("SELECT COUNT(*) FROM " + quoteIdent(p.t.Name) + " WHERE (" + quoteIdent(p.from.Name) + "," + quoteIdent(p.to.Name) + ") IN (")
	for _, op := range run {
		k := string(op.vals[0]) + "\x00" + string(op.vals[1])
		if seen[k] {
			continue
		}
		if len(seen) > 0 {
			b = append(b, ',')
		}
		seen[k] = true
		b = p.pair(b, op.vals)
	}
	return string(append(b, ')')), len(seen)
}

// applyEntries writes a run of entry ops of one kind in the open
// transaction; a unique lookup's puts are checked (see the top of this
// file).
func (a *applier) applyEntries(p *lookupProj, run []rowOp) error {
	for len(run) > 0 {
		var q string
		var n int
		if run[0].del {
			q, n = p.deleteStatement(run, a.maxStmt)
		} else {
			q, n = p.putStatement(run, a.maxStmt)
		}
		if err := a.conn.Exec(q); err != nil {
			return fmt.Errorf("lookup %s: %w", p.t.Name, err)
		}
		if !run[0].del && p.rule.Unique {
			if err := a.checkUnique(p, run[:n]); err != nil {
				return err
			}
		}
		run = run[n:]
	}
	return nil
}

// checkUnique checks that every put of run has its entry.
func (a *applier) checkUnique(p *lookupProj, run []rowOp) error {
	q, want := p.checkQuery(run)
	res, err := a.conn.Execute(q, 1)
	if err != nil {
		return fmt.Errorf("lookup %s: check entries: %w", p.t.Name, err)
	}
	if vals, err := mysqlconn.RowValues(res.Rows[0], 1); err == nil && string(vals[0]) == fmt.Sprint(want) {
		return nil
	}
	// Some entry names another row (or two values differ only as the
	// collation ignores): look at each.
	for _, op := range run {
		f := appendLiteral(nil, p.from, op.vals[0])
		res, err := a.conn.Execute("SELECT "+quoteIdent(p.to.Name)+" = "+string(appendLiteral(nil, p.to, op.vals[1]))+", "+quoteIdent(p.to.Name)+" FROM "+quoteIdent(p.t.Name)+" WHERE "+quoteIdent(p.from.Name)+" = "+string(f), 1)
		if err != nil {
			return fmt.Errorf("lookup %s: check entry: %w", p.t.Name, err)
		}
		if len(res.Rows) == 0 {
			return fmt.Errorf("lookup %s: the entry of %s %s is missing right after its insert", p.t.Name, p.from.Name, f)
		}
		vals, err := mysqlconn.RowValues(res.Rows[0], 2)
		if err != nil {
			return err
		}
		if string(vals[0]) != "1" {
			return fatalf("lookup %s: value %s of %s is in a row with %s %s, and its entry names %s %s: not unique (or the value moved between rows faster than the backfill followed)",
				p.t.Name, f, p.rule.OwnerFrom, p.rule.OwnerTo, appendLiteral(nil, p.to, op.vals[1]), p.rule.OwnerTo, appendLiteral(nil, p.to, vals[1]))
		}
	}
	return nil
}

// applyOps writes ops in the open transaction, in order: rows as
// opStatements gives them, entries as applyEntries does.
func (a *applier) applyOps(ops []rowOp) error {
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[j].et == ops[i].et && ops[j].del == ops[i].del {
			j++
		}
		run := ops[i:j]
		if p := run[0].et.lk; p != nil {
			if err := a.applyEntries(p, run); err != nil {
				return err
			}
		} else {
			for _, q := range a.opStatements(run) {
				if err := a.conn.Exec(q); err != nil {
					return err
				}
			}
		}
		i = j
	}
	return nil
}

// txDo runs fn in one transaction, rolled back if fn fails. A deadlock
// or lock wait timeout runs it again a few times (fn must write the same
// again): a lookup stream writes entries that gates lock in their side
// transactions, and one chosen as a deadlock's victim should not wait
// out the stream's retry pause.
func (a *applier) txDo(fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := a.txOnce(fn)
		var se *sqlerr.Error
		if err != nil && errors.As(err, &se) && (se.Num == sqlerr.ERDeadlock || se.Num == sqlerr.ERLockWaitTimeout) && attempt < 10 {
			time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
			continue
		}
		return err
	}
}

func (a *applier) txOnce(fn func() error) error {
	if err := a.conn.Exec("BEGIN"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		_ = a.conn.Exec("ROLLBACK")
		return err
	}
	return a.conn.Exec("COMMIT")
}

// lookupRule returns the lookup rule of the stream's table name, or nil.
func (s *stream) lookupRule(name string) *vreplicationpb.LookupRule {
	for _, r := range s.rules {
		if strings.EqualFold(r.Name, name) {
			return r.Lookup
		}
	}
	return nil
}

// targetTables loads the tables the stream writes, keyed by rule name:
// a lookup rule's is its lookup table.
func (s *stream) targetTables(c Executor) (map[string]*Table, error) {
	var names []string
	for _, r := range s.rules {
		if r.Lookup != nil {
			names = append(names, r.Lookup.Table)
		} else {
			names = append(names, r.Name)
		}
	}
	loaded, err := loadTables(c, s.e.db, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Table, len(s.rules))
	for i, r := range s.rules {
		out[r.Name] = loaded[names[i]]
	}
	return out, nil
}

// lookupChangeOps decodes the owner row changes of a lookup's event
// table and maps them to entry writes.
func lookupChangeOps(et *eventTable, changes []*vreplicationpb.RowChange) ([]rowOp, error) {
	rows := make([][2][][]byte, 0, len(changes))
	n := len(et.cols)
	for _, ch := range changes {
		var r [2][][]byte
		var err error
		if ch.Before != nil {
			if r[0], err = mysqlconn.RowValues(ch.Before, n); err != nil {
				return nil, fmt.Errorf("table %s: %w", et.t.Name, err)
			}
		}
		if ch.After != nil {
			if r[1], err = mysqlconn.RowValues(ch.After, n); err != nil {
				return nil, fmt.Errorf("table %s: %w", et.t.Name, err)
			}
		}
		rows = append(rows, r)
	}
	return et.lk.changeOps(et, rows), nil
}
