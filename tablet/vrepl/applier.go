package vrepl

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// targetSetup prepares a target connection: values arrive in the engine's
// text form (TIMESTAMPs in UTC); a value the source holds is taken as it
// is (no strict mode, a 0 in an AUTO_INCREMENT column stays 0); foreign
// keys are the source's business (a REPLACE must not cascade).
var targetSetup = []string{
	"SET SESSION time_zone = '+00:00'",
	"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
	"SET SESSION foreign_key_checks = 0",
}

// applier writes to the target primary's mysqld on one connection.
type applier struct {
	conn    *mysqlconn.Conn
	db      string
	maxStmt int
	// weightCache remembers sort keys of values asked of mysqld.
	weightCache map[string][]byte
	// loadBuf is the file of the last LOAD DATA, kept for the next.
	loadBuf []byte
}

// dialTarget connects to the local mysqld as the target account.
func dialTarget(ctx context.Context, acc Accounts, db string, maxStmt int) (*applier, func(), error) {
	p := acc.Target
	p.DB = db
	c, err := mysqlconn.Dial(ctx, p)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the target mysqld: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	for _, q := range targetSetup {
		if err := c.Exec(q); err != nil {
			stop()
			c.Close()
			return nil, nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return &applier{conn: c, db: db, maxStmt: maxStmt}, func() { stop(); c.Close() }, nil
}

// inTx runs stmts in one transaction.
func (a *applier) inTx(stmts ...string) error {
	if err := a.conn.Exec("BEGIN"); err != nil {
		return err
	}
	for _, q := range stmts {
		if err := a.conn.Exec(q); err != nil {
			_ = a.conn.Exec("ROLLBACK")
			return err
		}
	}
	return a.conn.Exec("COMMIT")
}

// loadTx loads rows into t (loadRows) and runs stmts, in one
// transaction.
func (a *applier) loadTx(t *Table, rows [][]byte, stmts ...string) error {
	if err := a.conn.Exec("BEGIN"); err != nil {
		return err
	}
	if err := a.loadRows(t, rows); err != nil {
		_ = a.conn.Exec("ROLLBACK")
		return err
	}
	for _, q := range stmts {
		if err := a.conn.Exec(q); err != nil {
			_ = a.conn.Exec("ROLLBACK")
			return err
		}
	}
	return a.conn.Exec("COMMIT")
}

// insertStatements turn rows of a row stream (copied columns, then sort
// keys) into INSERTs of about maxStmt bytes each.
func (a *applier) insertStatements(t *Table, rows [][]byte) ([]string, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	head := "INSERT INTO " + quoteIdent(t.Name) + " (" + joinQuoted(t.copyColumns()) + ") VALUES "
	ncols := len(t.Copy) + len(t.weights)
	var out []string
	b := []byte(head)
	n := 0
	for _, raw := range rows {
		vals, err := mysqlconn.RowValues(raw, ncols)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t.Name, err)
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, '(')
		for j, i := range t.Copy {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendLiteral(b, &t.Cols[i], vals[j])
		}
		b = append(b, ')')
		n++
		if len(b) >= a.maxStmt {
			out = append(out, string(b))
			b, n = []byte(head), 0
		}
	}
	if n > 0 {
		out = append(out, string(b))
	}
	return out, nil
}

func joinQuoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ",")
}

// eventTable maps the columns of a table's binlog rows (named by a FIELDS
// event) onto the target's table.
type eventTable struct {
	t *Table
	// cols are the event's column names; at[i] is the index in t.Cols of
	// event column i.
	cols []string
	at   []int
	// pkAt are the event positions of the key columns; writeCols the event
	// positions of the columns a REPLACE writes (all but generated ones).
	pkAt      []int
	writeCols []int
	// lk, for a lookup rule, projects the owner's rows onto entries of
	// t, the lookup table (lookup.go); the fields above are unset.
	lk *lookupProj
}

func newEventTable(t *Table, cols []string) (*eventTable, error) {
	et := &eventTable{t: t, cols: cols, at: make([]int, len(cols))}
	seen := make([]bool, len(t.Cols))
	for i, c := range cols {
		j := t.colIndex(c)
		if j < 0 {
			return nil, fatalf("table %s: the source's binlog has column %s, which the target lacks: the schemas differ", t.Name, c)
		}
		et.at[i] = j
		seen[j] = true
		if !t.Cols[j].Generated {
			et.writeCols = append(et.writeCols, i)
		}
	}
	for j, c := range t.Cols {
		if !seen[j] && !c.Generated {
			return nil, fatalf("table %s: the source's binlog lacks column %s, which the target has: the schemas differ", t.Name, c.Name)
		}
	}
	for _, j := range t.PK {
		for i := range cols {
			if et.at[i] == j {
				et.pkAt = append(et.pkAt, i)
			}
		}
	}
	return et, nil
}

// rowOp is one write of a change: a delete of a row's key (del) or a
// replace with a row's values; vals are in the event's column order.
type rowOp struct {
	et   *eventTable
	del  bool
	vals [][]byte
}

// opStatements turns ops into statements, one per run of ops of the same
// kind on the same table, in order.
func (a *applier) opStatements(ops []rowOp) []string {
	var out []string
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[j].et == ops[i].et && ops[j].del == ops[i].del {
			j++
		}
		run := ops[i:j]
		for len(run) > 0 {
			var stmt string
			var used int
			if run[0].del {
				stmt, used = a.deleteStatement(run)
			} else {
				stmt, used = a.replaceStatement(run)
			}
			out = append(out, stmt)
			run = run[used:]
		}
		i = j
	}
	return out
}

func (a *applier) replaceStatement(run []rowOp) (string, int) {
	et := run[0].et
	t := et.t
	names := make([]string, len(et.writeCols))
	for k, i := range et.writeCols {
		names[k] = et.cols[i]
	}
	b := []byte("REPLACE INTO " + quoteIdent(t.Name) + " (" + joinQuoted(names) + ") VALUES ")
	n := 0
	for _, op := range run {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, '(')
		for k, i := range et.writeCols {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendLiteral(b, &t.Cols[et.at[i]], op.vals[i])
		}
		b = append(b, ')')
		n++
		if len(b) >= a.maxStmt {
			break
		}
	}
	return string(b), n
}

func (a *applier) deleteStatement(run []rowOp) (string, int) {
	et := run[0].et
	t := et.t
	b := []byte("DELETE FROM " + quoteIdent(t.Name) + " WHERE ")
	single := len(et.pkAt) == 1
	if single {
		b = append(b, quoteIdent(t.Cols[t.PK[0]].Name)...)
		b = append(b, " IN ("...)
	}
	n := 0
	for _, op := range run {
		if n > 0 {
			if single {
				b = append(b, ',')
			} else {
				b = append(b, " OR "...)
			}
		}
		if single {
			b = appendLiteral(b, &t.Cols[t.PK[0]], op.vals[et.pkAt[0]])
		} else {
			b = append(b, '(')
			for k, i := range et.pkAt {
				if k > 0 {
					b = append(b, " AND "...)
				}
				c := &t.Cols[et.at[i]]
				b = append(b, quoteIdent(c.Name)...)
				b = append(b, '=')
				b = appendLiteral(b, c, op.vals[i])
			}
			b = append(b, ')')
		}
		n++
		if len(b) >= a.maxStmt {
			break
		}
	}
	if single {
		b = append(b, ')')
	}
	return string(b), n
}

// eventKey is the key of an event row, for comparison with a lastpk. The
// sort keys of character columns are asked of mysqld (the target has the
// same collation as the source).
func (a *applier) eventKey(et *eventTable, vals [][]byte) (pkKey, error) {
	t := et.t
	k := make(pkKey, len(t.PK))
	for n, i := range et.pkAt {
		v := vals[i]
		if t.order[n] != orderWeight {
			k[n] = v
			continue
		}
		c := &t.Cols[t.PK[n]]
		lit := appendLiteral(nil, c, v)
		expr := weightExpr(*c, string(lit)+" COLLATE "+quoteIdent(c.Collation))
		if w, ok := a.weightCache[expr]; ok {
			k[n] = w
			continue
		}
		res, err := a.conn.Execute("SELECT "+expr, 1)
		if err != nil {
			return nil, fmt.Errorf("sort key of %s: %w", c.Name, err)
		}
		row, err := mysqlconn.RowValues(res.Rows[0], 1)
		if err != nil {
			return nil, err
		}
		w := append([]byte(nil), row[0]...)
		if a.weightCache == nil || len(a.weightCache) > 10000 {
			a.weightCache = map[string][]byte{}
		}
		a.weightCache[expr] = w
		k[n] = w
	}
	return k, nil
}

// fatalError is an error a retry cannot fix: the stream stops until its
// workflow record changes.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func fatalf(format string, args ...any) error {
	return &fatalError{err: fmt.Errorf(format, args...)}
}
