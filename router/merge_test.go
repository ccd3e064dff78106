package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/recovered"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// genExec streams generated, sorted rows (k INT, s VARCHAR) for each shard:
// shard i of n gives k = i, i+n, i+2n, ... below rows[i] (-1: forever),
// in chunks of chunkRows. It counts the rows it handed to callbacks.
type genExec struct {
	shards     []string
	rows       map[string]int
	chunkRows  int
	failShard  string // this shard fails after its first chunk
	panicShard string // this shard panics after its first chunk

	produced atomic.Int64
	active   atomic.Int32
}

var genFields = []*querypb.Field{{Name: "k", Type: sqltypes.TypeLonglong}, {Name: "s", Type: sqltypes.TypeVarString, Charset: 45}}

func (g *genExec) Execute(context.Context, []ShardQuery) ([]*querypb.QueryResult, error) {
	return nil, errors.New("genExec: Execute not expected")
}

func (g *genExec) ExecuteAutocommit(context.Context, []ShardQuery) ([]*querypb.QueryResult, error) {
	return nil, errors.New("genExec: ExecuteAutocommit not expected")
}

func (g *genExec) Stream(ctx context.Context, qs []ShardQuery, cb func(int, *querypb.QueryResult) error) error {
	g.active.Add(1)
	defer g.active.Add(-1)
	for qi, q := range qs {
		idx := -1
		for i, s := range g.shards {
			if s == q.Shard {
				idx = i
			}
		}
		n, limit := len(g.shards), g.rows[q.Shard]
		if err := cb(qi, &querypb.QueryResult{Fields: genFields}); err != nil {
			return err
		}
		for k, sent := idx, 0; limit < 0 || k < limit; {
			if err := ctx.Err(); err != nil {
				return err
			}
			chunk := &querypb.QueryResult{}
			for len(chunk.Rows) < g.chunkRows && (limit < 0 || k < limit) {
				chunk.Rows = append(chunk.Rows, sqltypes.EncodeRow([][]byte{[]byte(strconv.Itoa(k)), []byte("v")}))
				k += n
			}
			if err := cb(qi, chunk); err != nil {
				return err
			}
			g.produced.Add(int64(len(chunk.Rows)))
			sent++
			if q.Shard == g.panicShard && sent == 1 {
				panic("shard " + q.Shard + " panicked")
			}
			if q.Shard == g.failShard && sent == 1 {
				return sqlerr.New(sqlerr.ERUnknown, "shard %s broke", q.Shard)
			}
		}
	}
	return nil
}

func mergeRoute(shards []string) *Route {
	return &Route{Opcode: Scatter, Keyspace: &Keyspace{Name: "ks", Shards: shards}, Query: textTemplate("select k, s from t order by k"),
		OrderBy: []orderKey{{col: 0}}}
}

// TestMergeStreamOrder: shards of very different lengths merge into one
// sorted stream (a short shard's end must not wait for the long ones).
func TestMergeStreamOrder(t *testing.T) {
	shards := []string{"-40", "40-80", "80-c0", "c0-"}
	g := &genExec{shards: shards, chunkRows: 7, rows: map[string]int{"-40": 5000, "40-80": 3, "80-c0": 0, "c0-": 2001}}
	var got []int
	fields := 0
	err := mergeRoute(shards).Stream(t.Context(), g, nil, func(c *querypb.QueryResult) error {
		if len(c.Fields) > 0 {
			fields++
		}
		rows, err := decodeRows(&querypb.QueryResult{Fields: genFields, Rows: c.Rows})
		if err != nil {
			return err
		}
		for _, r := range rows {
			k, _ := strconv.Atoi(string(r[0]))
			got = append(got, k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for k := 0; k < 5000; k++ {
		if s := k % 4; (s == 0) || (s == 1 && k < 3) || (s == 3 && k < 2001) {
			want = append(want, k)
		}
	}
	if fields != 1 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fields sent %d times; got %d rows, want %d; first %v", fields, len(got), len(want), got[:min(10, len(got))])
	}
}

// TestMergeStreamBoundedMemory: the merge never holds more than a few
// chunks per shard, however long the streams: the shards are never more
// than shards × (mergeChunksPerShard + 2) chunks ahead of the client.
func TestMergeStreamBoundedMemory(t *testing.T) {
	shards := []string{"-80", "80-"}
	const chunkRows = 10
	g := &genExec{shards: shards, chunkRows: chunkRows, rows: map[string]int{"-80": 200000, "80-": 200000}}
	var consumed, maxAhead int64
	err := mergeRoute(shards).Stream(t.Context(), g, nil, func(c *querypb.QueryResult) error {
		consumed += int64(len(c.Rows))
		maxAhead = max(maxAhead, g.produced.Load()-consumed)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if consumed != 200000 {
		t.Fatalf("merged %d rows", consumed)
	}
	bound := int64(len(shards)*(mergeChunksPerShard+2)*chunkRows + streamChunkRows)
	if maxAhead > bound {
		t.Fatalf("shards ran %d rows ahead of the client, bound %d", maxAhead, bound)
	}
}

// TestMergeStreamLimitStops: a LIMIT over endless shard streams returns its
// rows and stops every stream.
func TestMergeStreamLimitStops(t *testing.T) {
	shards := []string{"-80", "80-"}
	g := &genExec{shards: shards, chunkRows: 50, rows: map[string]int{"-80": -1, "80-": -1}}
	lim := &Limit{Input: mergeRoute(shards), Count: valueSource{isConst: true, val: int64(5)}, Offset: &valueSource{isConst: true, val: int64(1000)}}
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- lim.Stream(t.Context(), g, nil, func(c *querypb.QueryResult) error {
			for _, raw := range c.Rows {
				cells, _ := sqltypes.DecodeRow(raw, 2)
				got = append(got, string(cells[0]))
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("LIMIT over endless streams did not return")
	}
	if strings.Join(got, ",") != "1000,1001,1002,1003,1004" {
		t.Fatalf("got %v", got)
	}
	if n := g.active.Load(); n != 0 {
		t.Fatalf("%d shard streams still running", n)
	}
}

// TestMergeStreamShardError: a shard failing mid-stream fails the merge,
// and the other streams stop.
func TestMergeStreamShardError(t *testing.T) {
	shards := []string{"-80", "80-"}
	g := &genExec{shards: shards, chunkRows: 20, rows: map[string]int{"-80": -1, "80-": 100000}, failShard: "80-"}
	var mu sync.Mutex
	err := mergeRoute(shards).Stream(t.Context(), g, nil, func(*querypb.QueryResult) error {
		mu.Lock()
		defer mu.Unlock()
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "shard 80- broke") {
		t.Fatalf("err = %v", err)
	}
	if n := g.active.Load(); n != 0 {
		t.Fatalf("%d shard streams still running", n)
	}
}

// A shard stream that panics on its goroutine does not end the process:
// the merge stops the other streams, waits for them, and raises the panic
// again on the caller's goroutine (whose owner, the gate's connection,
// recovers it), instead of returning the rows it had as if complete.
func TestMergeStreamShardPanic(t *testing.T) {
	shards := []string{"-80", "80-"}
	g := &genExec{shards: shards, chunkRows: 20, rows: map[string]int{"-80": -1, "80-": 100000}, panicShard: "80-"}
	var err error
	p := recovered.Catch(func() {
		err = mergeRoute(shards).Stream(t.Context(), g, nil, func(*querypb.QueryResult) error { return nil })
	})
	if p == nil || p.Value != "shard 80- panicked" {
		t.Fatalf("merge returned %v and raised %v", err, p)
	}
	if !strings.Contains(string(p.Stack), "genExec).Stream") {
		t.Errorf("the raised panic lost the stack where it happened:\n%s", p.Stack)
	}
	if n := g.active.Load(); n != 0 {
		t.Fatalf("%d shard streams still running", n)
	}
}
