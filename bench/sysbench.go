package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
)

// sysbenchMode is one of the sysbench-style workloads over sbtest tables.
type sysbenchMode int

const (
	modePointSelect sysbenchMode = iota
	modeReadOnly
	modeReadWrite
	modeInsert
	modeScatterAgg
)

var modeNames = map[sysbenchMode]string{
	modePointSelect: "point-select",
	modeReadOnly:    "read-only",
	modeReadWrite:   "read-write",
	modeInsert:      "insert",
	modeScatterAgg:  "scatter-agg",
}

// sysbench runs the statements of sysbench's OLTP scripts against tables
// sbtest1..N (id primary key, k indexed, c and pad filler), with ids
// drawn uniformly.
//
//   - point-select: SELECT c FROM sbtestN WHERE id = ?, one per event.
//   - read-only: a transaction of PointSelects point selects and four
//     range queries (plain, SUM, ORDER BY, DISTINCT over RangeSize ids).
//   - read-write: read-only plus an indexed UPDATE, a non-indexed UPDATE,
//     a DELETE and an INSERT of the deleted id.
//   - insert: one INSERT of a fresh random id per event.
//   - scatter-agg: aggregates over a range of the secondary index k, which
//     says nothing of the sharding column id: every shard answers.
type sysbench struct {
	opts WorkloadOptions
	mode sysbenchMode
	// nextID is the last id the insert workload used.
	nextID atomic.Int64
}

func (s *sysbench) Name() string { return modeNames[s.mode] }

func sbtable(i int) string { return fmt.Sprintf("sbtest%d", i) }

// Prepare creates sbtest1..N and fills them with ids 1..TableSize in
// batches of 1,000 rows.
func (s *sysbench) Prepare(ctx context.Context, db *sql.DB) error {
	rng := rand.New(rand.NewPCG(1, 2))
	for t := 1; t <= s.opts.Tables; t++ {
		name := sbtable(t)
		if err := exec(ctx, db,
			"DROP TABLE IF EXISTS "+name,
			"CREATE TABLE "+name+" (id INTEGER NOT NULL, k INTEGER DEFAULT '0' NOT NULL, "+
				"c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id))",
		); err != nil {
			return err
		}
		const batch = 1000
		var sb strings.Builder
		for lo := 1; lo <= s.opts.TableSize; lo += batch {
			sb.Reset()
			sb.WriteString("INSERT INTO " + name + " (id, k, c, pad) VALUES ")
			for id := lo; id < lo+batch && id <= s.opts.TableSize; id++ {
				if id > lo {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "(%d,%d,'%s','%s')", id, 1+rng.IntN(s.opts.TableSize), randString(rng, 120), randString(rng, 60))
			}
			if err := exec(ctx, db, sb.String()); err != nil {
				return fmt.Errorf("fill %s: %w", name, err)
			}
		}
		if err := exec(ctx, db, "CREATE INDEX k_1 ON "+name+" (k)"); err != nil {
			return err
		}
	}
	return nil
}

// Cleanup drops sbtest1..N.
func (s *sysbench) Cleanup(ctx context.Context, db *sql.DB) error {
	for t := 1; t <= s.opts.Tables; t++ {
		if err := exec(ctx, db, "DROP TABLE IF EXISTS "+sbtable(t)); err != nil {
			return err
		}
	}
	return nil
}

// Start finds the largest id in use, above which the insert workload
// inserts: runs one after another never collide.
func (s *sysbench) Start(ctx context.Context, db *sql.DB) error {
	if s.mode != modeInsert {
		return nil
	}
	top := int64(s.opts.TableSize)
	for t := 1; t <= s.opts.Tables; t++ {
		var m sql.NullInt64
		if err := db.QueryRowContext(ctx, "SELECT MAX(id) FROM "+sbtable(t)).Scan(&m); err != nil {
			return fmt.Errorf("largest id of %s: %w", sbtable(t), err)
		}
		top = max(top, m.Int64)
	}
	s.nextID.Store(top)
	return nil
}

func (s *sysbench) NewWorker(thread int, rng *rand.Rand) Worker {
	return &sysbenchWorker{s: s, rng: rng, stmts: make([]string, 0, s.opts.PointSelects+8)}
}

type sysbenchWorker struct {
	s     *sysbench
	rng   *rand.Rand
	stmts []string
	agg   int
}

func (w *sysbenchWorker) table() string { return sbtable(1 + w.rng.IntN(w.s.opts.Tables)) }

func (w *sysbenchWorker) id() int { return 1 + w.rng.IntN(w.s.opts.TableSize) }

func (w *sysbenchWorker) rangeStart() int {
	return 1 + w.rng.IntN(w.s.opts.TableSize-w.s.opts.RangeSize+1)
}

func (w *sysbenchWorker) Event(ctx context.Context, conn *sql.Conn) (int, error) {
	o := w.s.opts
	switch w.s.mode {
	case modePointSelect:
		return 1, readAll(ctx, conn, fmt.Sprintf("SELECT c FROM %s WHERE id = %d", w.table(), w.id()))
	case modeInsert:
		id := w.s.nextID.Add(1)
		_, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (id, k, c, pad) VALUES (%d, %d, '%s', '%s')",
			w.table(), id, w.id(), randString(w.rng, 120), randString(w.rng, 60)))
		return 1, err
	case modeScatterAgg:
		lo := w.rangeStart()
		hi := lo + o.RangeSize - 1
		w.agg++
		q := fmt.Sprintf("SELECT COUNT(*), SUM(k), MIN(id), MAX(id) FROM %s WHERE k BETWEEN %d AND %d", w.table(), lo, hi)
		if w.agg%2 == 0 {
			q = fmt.Sprintf("SELECT k, COUNT(*) AS n FROM %s WHERE k BETWEEN %d AND %d GROUP BY k ORDER BY k", w.table(), lo, hi)
		}
		return 1, readAll(ctx, conn, q)
	}
	st := w.stmts[:0]
	for range o.PointSelects {
		st = append(st, fmt.Sprintf("SELECT c FROM %s WHERE id = %d", w.table(), w.id()))
	}
	ranges := []string{
		"SELECT c FROM %s WHERE id BETWEEN %d AND %d",
		"SELECT SUM(k) FROM %s WHERE id BETWEEN %d AND %d",
		"SELECT c FROM %s WHERE id BETWEEN %d AND %d ORDER BY c",
		"SELECT DISTINCT c FROM %s WHERE id BETWEEN %d AND %d ORDER BY c",
	}
	for _, r := range ranges {
		lo := w.rangeStart()
		st = append(st, fmt.Sprintf(r, w.table(), lo, lo+o.RangeSize-1))
	}
	if w.s.mode == modeReadWrite {
		t := w.table()
		st = append(st,
			fmt.Sprintf("UPDATE %s SET k = k + 1 WHERE id = %d", t, w.id()),
			fmt.Sprintf("UPDATE %s SET c = '%s' WHERE id = %d", t, randString(w.rng, 120), w.id()))
		id := w.id()
		st = append(st,
			fmt.Sprintf("DELETE FROM %s WHERE id = %d", t, id),
			fmt.Sprintf("INSERT INTO %s (id, k, c, pad) VALUES (%d, %d, '%s', '%s')",
				t, id, w.id(), randString(w.rng, 120), randString(w.rng, 60)))
	}
	w.stmts = st
	return txn(ctx, conn, st)
}
