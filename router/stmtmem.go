package router

import (
	"context"
	"sync/atomic"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// A statement's operators hold rows in the gate when they cannot stream
// them: a join keeps its right side, GROUP BY its groups, DISTINCT and
// UNION the keys they have seen, a sort or a derived table every row. The
// statement memory limit bounds what one statement holds so at once: past
// it the statement fails with error 1290, as MariaDB's
// max_session_mem_used does, and the gate goes on serving everyone else.
// Rows that stream to the client (a scatter SELECT, a merge of sorted
// shard streams) are not held and not counted.
//
// The count is of live rows: a route's result when it arrives, an
// operator's output when it is built, less the inputs an operator has
// consumed into a copy of its own. It counts the encoded rows and a
// fixed cost per row and per cell for the structures around them, so it
// is close to, not exactly, what the Go heap holds.

type memLimitKey struct{}

type stmtMemoryKey struct{}

// WithStatementMemory returns a context under which every plan executed
// holds at most limit bytes of rows in the gate; 0 means no limit.
func WithStatementMemory(ctx context.Context, limit int64) context.Context {
	return context.WithValue(ctx, memLimitKey{}, limit)
}

// stmtMemory is one statement's count of the rows its operators hold.
type stmtMemory struct {
	limit int64
	used  atomic.Int64
}

// beginStatement attaches a fresh count for one plan's execution when ctx
// carries a limit and no count yet.
func beginStatement(ctx context.Context) context.Context {
	limit, _ := ctx.Value(memLimitKey{}).(int64)
	if limit <= 0 || ctx.Value(stmtMemoryKey{}) != nil {
		return ctx
	}
	return context.WithValue(ctx, stmtMemoryKey{}, &stmtMemory{limit: limit})
}

// statementMemory returns the statement's count, or nil when there is no
// limit (every method of a nil *stmtMemory does nothing).
func statementMemory(ctx context.Context) *stmtMemory {
	m, _ := ctx.Value(stmtMemoryKey{}).(*stmtMemory)
	return m
}

// Per-row and per-cell costs beside the encoded bytes: the row's slice
// header, and a decoded cell's slice header.
const (
	rowOverhead  = 24
	cellOverhead = 24
	// mapEntryOverhead is a set entry's cost beside its key's bytes.
	mapEntryOverhead = 48
	// aggregatorOverhead is one aggregate's state in one group.
	aggregatorOverhead = 160
)

// resultSize is what a result's rows cost the gate to hold.
func resultSize(res *querypb.QueryResult) int64 {
	if res == nil {
		return 0
	}
	n := int64(len(res.Rows)) * (rowOverhead + int64(len(res.Fields))*cellOverhead)
	for _, r := range res.Rows {
		n += int64(len(r))
	}
	return n
}

// charge counts n more bytes held, or fails the statement when that
// passes the limit (and counts nothing).
func (m *stmtMemory) charge(n int64) error {
	if m == nil || n <= 0 {
		return nil
	}
	if m.used.Add(n) > m.limit {
		m.used.Add(-n)
		return sqlerr.New(sqlerr.EROptionPreventsStatement,
			"The gate is running with the --max-memory-per-statement=%d option so it cannot execute this statement: "+
				"it would hold more rows than that in the gate to join, group, sort or deduplicate them across shards", m.limit)
	}
	return nil
}

// hold charges what res costs and returns that amount.
func (m *stmtMemory) hold(res *querypb.QueryResult) (int64, error) {
	if m == nil {
		return 0, nil
	}
	n := resultSize(res)
	return n, m.charge(n)
}

// release gives back n bytes charged before.
func (m *stmtMemory) release(n int64) {
	if m != nil && n > 0 {
		m.used.Add(-n)
	}
}

// swap gives back what input cost and charges output in its place: for
// an operator that has consumed its input into an output of its own.
func (m *stmtMemory) swap(input, output *querypb.QueryResult) error {
	if m == nil {
		return nil
	}
	m.release(resultSize(input))
	_, err := m.hold(output)
	return err
}
