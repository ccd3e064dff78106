package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// Workload is a benchmark: the tables it needs and the events its load
// threads run. Implementations are safe for concurrent use; per-thread
// state lives in the Worker.
type Workload interface {
	// Name is the workload's command-line name, e.g. "point-select".
	Name() string
	// Prepare creates the workload's tables and fills them, replacing
	// tables of the same names.
	Prepare(ctx context.Context, db *sql.DB) error
	// Cleanup drops the workload's tables.
	Cleanup(ctx context.Context, db *sql.DB) error
	// NewWorker returns the state of one load thread; rng is the thread's
	// own random source.
	NewWorker(thread int, rng *rand.Rand) Worker
}

// Worker runs a workload's events for one load thread.
type Worker interface {
	// Event runs one event (a statement, or a transaction of several) on
	// conn and returns how many statements it sent, also when it fails.
	// A failed transaction has been rolled back, or the connection is
	// broken (database/sql then replaces it).
	Event(ctx context.Context, conn *sql.Conn) (queries int, err error)
}

// WorkloadOptions size the workloads.
type WorkloadOptions struct {
	// Tables is the number of sysbench tables (sbtest1..N).
	Tables int
	// TableSize is the number of rows of each sysbench table.
	TableSize int
	// RangeSize is the width of the range queries.
	RangeSize int
	// PointSelects is the number of point selects of a read-only or
	// read-write transaction.
	PointSelects int
	// Warehouses is the number of tpcc-lite warehouses.
	Warehouses int
	// Items is the number of tpcc-lite items (and stock rows per warehouse).
	Items int
}

// DefaultWorkloadOptions returns sysbench's defaults (one table of 10,000
// rows, ranges of 100, 10 point selects per transaction) and a tpcc-lite
// of 4 warehouses and 1,000 items.
func DefaultWorkloadOptions() WorkloadOptions {
	return WorkloadOptions{Tables: 1, TableSize: 10000, RangeSize: 100, PointSelects: 10, Warehouses: 4, Items: 1000}
}

// Validate checks the options.
func (o WorkloadOptions) Validate() error {
	switch {
	case o.Tables < 1:
		return fmt.Errorf("tables %d: need at least 1", o.Tables)
	case o.TableSize < 1:
		return fmt.Errorf("table size %d: need at least 1", o.TableSize)
	case o.RangeSize < 1 || o.RangeSize > o.TableSize:
		return fmt.Errorf("range size %d: need 1 to the table size", o.RangeSize)
	case o.PointSelects < 0:
		return fmt.Errorf("point selects %d: must not be negative", o.PointSelects)
	case o.Warehouses < 1:
		return fmt.Errorf("warehouses %d: need at least 1", o.Warehouses)
	case o.Items < 1:
		return fmt.Errorf("items %d: need at least 1", o.Items)
	}
	return nil
}

// workloadMakers are the workloads by name.
func workloadMakers() map[string]func(WorkloadOptions) Workload {
	return map[string]func(WorkloadOptions) Workload{
		"point-select": func(o WorkloadOptions) Workload { return &sysbench{opts: o, mode: modePointSelect} },
		"read-only":    func(o WorkloadOptions) Workload { return &sysbench{opts: o, mode: modeReadOnly} },
		"read-write":   func(o WorkloadOptions) Workload { return &sysbench{opts: o, mode: modeReadWrite} },
		"insert":       func(o WorkloadOptions) Workload { return &sysbench{opts: o, mode: modeInsert} },
		"scatter-agg":  func(o WorkloadOptions) Workload { return &sysbench{opts: o, mode: modeScatterAgg} },
		"tpcc-lite":    func(o WorkloadOptions) Workload { return &tpcc{opts: o} },
	}
}

// WorkloadNames lists the workloads, sorted.
func WorkloadNames() []string {
	var out []string
	for n := range workloadMakers() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NewWorkload returns the named workload.
func NewWorkload(name string, opts WorkloadOptions) (Workload, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	mk, ok := workloadMakers()[name]
	if !ok {
		return nil, fmt.Errorf("unknown workload %q (want one of %s)", name, strings.Join(WorkloadNames(), ", "))
	}
	return mk(opts), nil
}

// exec runs statements in order, stopping at the first error.
func exec(ctx context.Context, db *sql.DB, stmts ...string) error {
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", abbreviate(s), err)
		}
	}
	return nil
}

// abbreviate shortens a statement for an error message.
func abbreviate(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// readAll runs a query on conn and reads (and drops) every row.
func readAll(ctx context.Context, conn *sql.Conn, q string) error {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

// txn runs stmts between BEGIN and COMMIT, counting each statement sent.
// A failure rolls back. Statements starting with "SELECT" are read as
// queries, the others executed.
func txn(ctx context.Context, conn *sql.Conn, stmts []string) (int, error) {
	n := 1
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return n, err
	}
	for _, s := range stmts {
		n++
		var err error
		if strings.HasPrefix(s, "SELECT") {
			err = readAll(ctx, conn, s)
		} else {
			_, err = conn.ExecContext(ctx, s)
		}
		if err != nil {
			n++
			// The rollback's own failure says nothing more than err.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			return n, fmt.Errorf("%s: %w", abbreviate(s), err)
		}
	}
	n++
	_, err := conn.ExecContext(ctx, "COMMIT")
	return n, err
}

// randString returns n random characters in sysbench's style: groups of
// digits separated by dashes.
func randString(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		if i%12 == 11 {
			b[i] = '-'
		} else {
			b[i] = byte('0' + rng.IntN(10))
		}
	}
	return string(b)
}

// Starter is a Workload that looks at the database before a run's load
// threads start (Run calls Start once per run).
type Starter interface {
	Start(ctx context.Context, db *sql.DB) error
}
