package router

import (
	"container/heap"
	"context"
	"sync"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/recovered"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// mergeChunksPerShard bounds the chunks of one shard waiting to be merged.
// With the one being merged and the one its stream holds, a merge keeps
// at most shards × (mergeChunksPerShard + 2) chunks in memory, whatever
// the size of the result.
const mergeChunksPerShard = 2

// mergeStream runs the queries, each shard's result sorted by keys, and
// hands callback their k-way merge in chunks, as the rows arrive: it
// streams a result of any size in bounded memory. Each query runs in its
// own exec.Stream call, so that the end of one shard's stream is known
// while the others go on; rows of equal keys come in query order.
//
// An error from callback (errStopStream from a Limit that has its rows)
// stops every stream and is returned.
func mergeStream(ctx context.Context, exec ShardExecutor, qs []ShardQuery, keys []orderKey, callback func(*querypb.QueryResult) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cursors := make([]*mergeCursor, len(qs))
	var wg sync.WaitGroup
	for i, q := range qs {
		c := &mergeCursor{idx: i, ch: make(chan *querypb.QueryResult, mergeChunksPerShard)}
		cursors[i] = c
		wg.Add(1)
		spawn(exec, func() {
			defer wg.Done()
			defer close(c.ch)
			// A panic here would end the process: it ends the merge
			// instead and is raised again below, once every stream
			// has returned.
			if p := recovered.Catch(func() {
				c.err = exec.Stream(ctx, []ShardQuery{q}, func(_ int, chunk *querypb.QueryResult) error {
					select {
					case c.ch <- chunk:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
			}); p != nil {
				c.err, c.panic = p, p
			}
		})
	}
	err := runMerge(ctx, cursors, keys, callback)
	cancel()
	wg.Wait()
	for _, c := range cursors {
		recovered.Raise(c.panic)
	}
	return err
}

// runMerge merges the cursors' rows into callback.
func runMerge(ctx context.Context, cursors []*mergeCursor, keys []orderKey, callback func(*querypb.QueryResult) error) error {
	// The first chunk of every stream carries its fields: wait for them
	// all, then order each shard's first row.
	var fields []*querypb.Field
	for _, c := range cursors {
		if err := c.fetch(ctx); err != nil {
			return err
		}
		if fields == nil && len(c.fields) > 0 {
			fields = c.fields
		}
	}
	if fields == nil {
		// No shard sent fields: an empty result without columns.
		return nil
	}
	cmp, err := rowComparator(fields, keys)
	if err != nil {
		return err
	}
	h := &mergeHeap{cmp: cmp}
	for _, c := range cursors {
		ok, err := c.next(ctx, len(fields))
		if err != nil {
			return err
		}
		if ok {
			h.items = append(h.items, c)
		}
	}
	heap.Init(h)
	out := &querypb.QueryResult{Fields: fields}
	size := 0
	flush := func() error {
		if len(out.Rows) == 0 && out.Fields == nil {
			return nil
		}
		chunk := out
		out, size = &querypb.QueryResult{}, 0
		return callback(chunk)
	}
	for h.Len() > 0 {
		c := h.items[0]
		raw := c.raw[c.pos-1]
		out.Rows = append(out.Rows, raw)
		size += len(raw)
		if len(out.Rows) >= streamChunkRows || size >= streamChunkBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		ok, err := c.next(ctx, len(fields))
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return flush()
}

// streamChunkBytes bounds the row bytes of one merged chunk.
const streamChunkBytes = 64 << 10

// mergeCursor reads one shard's stream.
type mergeCursor struct {
	idx int
	ch  chan *querypb.QueryResult
	err error // the stream's error, read once ch is closed
	// panic is what the stream's goroutine recovered, raised again by
	// mergeStream on its caller's goroutine.
	panic *recovered.Panic

	fields []*querypb.Field
	// first is the first chunk, fetched to learn the fields.
	first *querypb.QueryResult
	raw   [][]byte   // rows of the current chunk
	rows  [][][]byte // decoded, same indexes
	pos   int        // rows[pos-1] is the current row
}

// fetch reads the stream's first chunk (for its fields).
func (c *mergeCursor) fetch(ctx context.Context) error {
	chunk, err := c.recv(ctx)
	if err != nil || chunk == nil {
		return err
	}
	c.fields, c.first = chunk.Fields, chunk
	return nil
}

// recv returns the next chunk, nil at the end of the stream.
func (c *mergeCursor) recv(ctx context.Context) (*querypb.QueryResult, error) {
	select {
	case chunk, ok := <-c.ch:
		if !ok {
			return nil, c.err // nil at the end of a complete stream
		}
		return chunk, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// next advances to the next row; false at the end of the stream.
func (c *mergeCursor) next(ctx context.Context, nfields int) (bool, error) {
	for c.pos >= len(c.raw) {
		var chunk *querypb.QueryResult
		if c.first != nil {
			chunk, c.first = c.first, nil
		} else {
			var err error
			if chunk, err = c.recv(ctx); err != nil {
				return false, err
			}
			if chunk == nil {
				return false, nil
			}
		}
		c.raw, c.rows, c.pos = chunk.Rows, make([][][]byte, len(chunk.Rows)), 0
		for i, r := range chunk.Rows {
			cells, err := sqltypes.DecodeRow(r, nfields)
			if err != nil {
				return false, sqlerr.Wrap(sqlerr.ERUnknown, err, "decode shard row: %v", err)
			}
			c.rows[i] = cells
		}
	}
	c.pos++
	return true, nil
}

// mergeHeap orders cursors by their current rows, then by shard order.
type mergeHeap struct {
	items []*mergeCursor
	cmp   func(a, b [][]byte) int
}

func (h *mergeHeap) Len() int { return len(h.items) }

func (h *mergeHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if c := h.cmp(a.rows[a.pos-1], b.rows[b.pos-1]); c != 0 {
		return c < 0
	}
	return a.idx < b.idx
}

func (h *mergeHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }

func (h *mergeHeap) Push(x any) { h.items = append(h.items, x.(*mergeCursor)) }

func (h *mergeHeap) Pop() any {
	n := len(h.items)
	x := h.items[n-1]
	h.items = h.items[:n-1]
	return x
}
