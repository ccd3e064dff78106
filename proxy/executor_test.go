package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// The session engine's executor against a fake tablet gateway: which
// calls reach which shard, on which tablet type, in or out of the
// session's transaction, and what a traffic switch does to a statement.

// lineGateway is a fake tablet gateway whose every shard is one fake
// tablet that records each call as a line: "Execute ks/-80 REPLICA tx=0
// select 1". switching, when set, makes every statement find the
// keyspace switching its traffic.
type lineGateway struct {
	*tabletgw.Fanout
	mu        sync.Mutex
	lines     []string
	nextTx    int64
	switching bool
	// rows are what a stream of a shard returns, one chunk per row.
	rows [][]byte
}

func newLineGateway() *lineGateway { return &lineGateway{Fanout: tabletgw.NewFanout()} }

func (g *lineGateway) record(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lines = append(g.lines, fmt.Sprintf(format, args...))
}

// taken returns the lines so far, sorted (shards run in parallel), and
// forgets them.
func (g *lineGateway) taken() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := slices.Clone(g.lines)
	slices.Sort(out)
	g.lines = nil
	return out
}

func (g *lineGateway) Call(ctx context.Context, target *querypb.Target, fn func(*tabletgw.TabletHealth) error) error {
	return fn(&tabletgw.TabletHealth{Alias: target.Shard, Target: target, Client: lineTablet{g: g}})
}

func (g *lineGateway) SwitchUnderway() bool { return g.switching }

func (g *lineGateway) AwaitSwitch(ctx context.Context, ks string) (bool, error) {
	g.record("AwaitSwitch %s", ks)
	return g.switching, nil
}

// lineTablet is the fake tablet of every shard; the calls it does not
// implement panic (the embedded nil interface).
type lineTablet struct {
	querypb.QueryClient
	g *lineGateway
}

var _ querypb.QueryClient = lineTablet{}

func (lt lineTablet) line(kind string, t *querypb.Target, txID int64, sql string) {
	lt.g.record("%s %s/%s %s tx=%d %s", kind, t.GetKeyspace(), t.GetShard(), t.GetTabletType(), txID, sql)
}

func (lt lineTablet) Execute(_ context.Context, in *querypb.ExecuteRequest, _ ...grpc.CallOption) (*querypb.ExecuteResponse, error) {
	lt.line("Execute", in.Target, in.TransactionId, in.Sql)
	return &querypb.ExecuteResponse{Result: &querypb.QueryResult{RowsAffected: 1}}, nil
}

func (lt lineTablet) BeginExecute(_ context.Context, in *querypb.BeginExecuteRequest, _ ...grpc.CallOption) (*querypb.BeginExecuteResponse, error) {
	lt.g.mu.Lock()
	lt.g.nextTx++
	id := lt.g.nextTx
	lt.g.mu.Unlock()
	lt.line("BeginExecute", in.Target, 0, in.Sql)
	return &querypb.BeginExecuteResponse{TransactionId: id, Result: &querypb.QueryResult{RowsAffected: 1}}, nil
}

func (lt lineTablet) StreamExecute(_ context.Context, in *querypb.ExecuteRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[querypb.ExecuteResponse], error) {
	lt.line("StreamExecute", in.Target, in.TransactionId, in.Sql)
	st := &rowStream{}
	for _, r := range lt.g.rows {
		st.chunks = append(st.chunks, &querypb.ExecuteResponse{Result: &querypb.QueryResult{Rows: [][]byte{r}}})
	}
	return st, nil
}

// rowStream is a stream of canned chunks; the calls it does not implement
// panic.
type rowStream struct {
	grpc.ClientStream
	chunks []*querypb.ExecuteResponse
}

func (s *rowStream) Recv() (*querypb.ExecuteResponse, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func shardQueries(sql string, shards ...string) []router.ShardQuery {
	var qs []router.ShardQuery
	for _, sh := range shards {
		qs = append(qs, router.ShardQuery{Keyspace: "ks", Shard: sh, SQL: sql})
	}
	return qs
}

func checkLines(t *testing.T, g *lineGateway, want ...string) {
	t.Helper()
	if got := g.taken(); !slices.Equal(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Outside a transaction each shard's query is one Execute on the
// session's tablet type; inside, the first query of a shard begins the
// shard's transaction with it, and the next ones run in it.
func TestExecutorTransactions(t *testing.T) {
	g := newLineGateway()
	s := NewSession(1, "app", TransactionModeMulti)
	s.TabletType = topodatapb.TabletType_REPLICA
	e := &sessionExecutor{gw: newGateway(g, false), s: s}
	ctx := withStatement(t.Context())

	res, err := e.Execute(ctx, shardQueries("select 1", "-80", "80-"))
	if err != nil || len(res) != 2 {
		t.Fatalf("execute: %v, %d results", err, len(res))
	}
	checkLines(t, g, "Execute ks/-80 REPLICA tx=0 select 1", "Execute ks/80- REPLICA tx=0 select 1")

	s.TabletType = topodatapb.TabletType_PRIMARY
	s.beginTx(txCharacteristics{})
	if _, err := e.Execute(ctx, shardQueries("update t set a = 1", "-80")); err != nil {
		t.Fatal(err)
	}
	checkLines(t, g, "BeginExecute ks/-80 PRIMARY tx=0 update t set a = 1")
	if _, err := e.Execute(ctx, shardQueries("update t set a = 2", "-80", "80-")); err != nil {
		t.Fatal(err)
	}
	checkLines(t, g,
		"BeginExecute ks/80- PRIMARY tx=0 update t set a = 2",
		"Execute ks/-80 PRIMARY tx=1 update t set a = 2")
	if s.getTx(shardKey{"ks", "-80"}) == nil || s.getTx(shardKey{"ks", "80-"}) == nil {
		t.Fatal("the shards' transactions are not the session's")
	}
	// Autocommit queries stay outside the transaction.
	if _, err := e.ExecuteAutocommit(ctx, shardQueries("select 2", "-80")); err != nil {
		t.Fatal(err)
	}
	checkLines(t, g, "Execute ks/-80 PRIMARY tx=0 select 2")
}

// A statement that reads streams each shard's result to the callback,
// chunk by chunk.
func TestExecutorStream(t *testing.T) {
	g := newLineGateway()
	g.rows = [][]byte{[]byte("r1"), []byte("r2")}
	s := NewSession(1, "app", TransactionModeMulti)
	e := &sessionExecutor{gw: newGateway(g, false), s: s}
	var mu sync.Mutex
	got := map[int]int{}
	err := e.Stream(withStatement(t.Context()), shardQueries("select a from t", "-80", "80-"), func(i int, r *querypb.QueryResult) error {
		mu.Lock()
		got[i] += len(r.Rows)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 2 || got[1] != 2 {
		t.Fatalf("rows per shard %v, want 2 each", got)
	}
	checkLines(t, g, "StreamExecute ks/-80 PRIMARY tx=0 select a from t", "StreamExecute ks/80- PRIMARY tx=0 select a from t")
}

// While its keyspace switches its traffic, a primary statement waits in
// the gateway before anything is sent, then comes back ErrSwitched to be
// planned again; a replica read, and a statement of a transaction that
// already runs on the keyspace, are not held.
func TestExecutorSwitch(t *testing.T) {
	g := newLineGateway()
	g.switching = true
	s := NewSession(1, "app", TransactionModeMulti)
	e := &sessionExecutor{gw: newGateway(g, false), s: s}
	ctx := withStatement(t.Context())

	_, err := e.Execute(ctx, shardQueries("update t set a = 1", "-80", "80-"))
	if !errors.Is(err, tabletgw.ErrSwitched) || !switchedAgain(err, 0) {
		t.Fatalf("statement of a switching keyspace: %v, want ErrSwitched", err)
	}
	checkLines(t, g, "AwaitSwitch ks")

	s.TabletType = topodatapb.TabletType_REPLICA
	if _, err := e.Execute(ctx, shardQueries("select 1", "-80")); err != nil {
		t.Fatal(err)
	}
	checkLines(t, g, "Execute ks/-80 REPLICA tx=0 select 1")

	s.TabletType = topodatapb.TabletType_PRIMARY
	g.switching = false
	s.beginTx(txCharacteristics{})
	if _, err := e.Execute(ctx, shardQueries("update t set a = 1", "-80")); err != nil {
		t.Fatal(err)
	}
	checkLines(t, g, "BeginExecute ks/-80 PRIMARY tx=0 update t set a = 1")
	g.switching = true
	if _, err := e.Execute(ctx, shardQueries("update t set a = 2", "-80")); err != nil {
		t.Fatal(err)
	}
	checkLines(t, g, "Execute ks/-80 PRIMARY tx=1 update t set a = 2")

	// A shard that refuses a query because its keyspace switched while it
	// was sent: none of the statement ran, so it is planned again.
	e2 := &sessionExecutor{gw: newGateway(refusingGateway{g}, false), s: NewSession(2, "app", TransactionModeMulti)}
	if _, err := e2.Execute(ctx, shardQueries("update t set a = 3", "-80")); !errors.Is(err, tabletgw.ErrSwitched) {
		t.Fatalf("statement refused by a fenced source: %v, want ErrSwitched", err)
	}
}

// refusingGateway answers every call ErrSwitched, as the gateway does for
// a primary fenced by its keyspace's switch; no switch shows before.
type refusingGateway struct{ *lineGateway }

func (refusingGateway) Call(context.Context, *querypb.Target, func(*tabletgw.TabletHealth) error) error {
	return tabletgw.ErrSwitched
}

func (refusingGateway) SwitchUnderway() bool { return false }

func (refusingGateway) AwaitSwitch(context.Context, string) (bool, error) { return true, nil }

// movedGateway answers every call as a source does for a table that
// MoveTables moved away: refused before running, with table_moved.
type movedGateway struct{ *lineGateway }

func (movedGateway) Call(context.Context, *querypb.Target, func(*tabletgw.TabletHealth) error) error {
	e := sqlerr.New(sqlerr.ERUnknown, "table customer was moved to another keyspace (MoveTables)")
	e.TableMoved = true
	return e
}

func (movedGateway) SwitchUnderway() bool { return false }

// A statement a source refused for naming a moved table did not run: it
// is planned again (after a pause for the routing rules), unless part of
// it ran on another shard, or the session names its shard.
func TestExecutorTableMoved(t *testing.T) {
	g := movedGateway{newLineGateway()}
	ctx := withStatement(t.Context())
	e := &sessionExecutor{gw: newGateway(g, false), s: NewSession(1, "app", TransactionModeMulti)}
	_, err := e.Execute(ctx, shardQueries("update customer set a = 1", "0"))
	if !errors.Is(err, tabletgw.ErrSwitched) || !switchedAgain(err, 0) {
		t.Fatalf("statement on a moved table: %v, want ErrSwitched", err)
	}
	// The session names its shard: the refusal is the answer.
	s := NewSession(2, "app", TransactionModeMulti)
	s.Shard = "0"
	e = &sessionExecutor{gw: newGateway(g, false), s: s}
	if _, err := e.Execute(ctx, shardQueries("update customer set a = 1", "0")); !tableMoved(err) {
		t.Fatalf("shard-targeted statement on a moved table: %v, want the refusal", err)
	}
	// Part of the statement may have run elsewhere: the refusal is the
	// answer.
	e = &sessionExecutor{gw: newGateway(g, false), s: NewSession(3, "app", TransactionModeMulti)}
	e.ran.Store(true)
	if _, err := e.Execute(ctx, shardQueries("update customer set a = 1", "0")); !tableMoved(err) || errors.Is(err, tabletgw.ErrSwitched) {
		t.Fatalf("statement that ran in part: %v, want the refusal", err)
	}
}
