package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// fakeShards is a fake of every shard's tablet: each call is recorded as a
// line ("Execute -80 [_mosaic_stmt] update ..."), and answer decides what
// a call returns. A call that was cancelled while it ran is recorded with
// " (cancelled)".
type fakeShards struct {
	mu     sync.Mutex
	lines  []string
	answer func(shard, sql string) error
	// slow delays the calls of this shard, so that a sibling's error comes
	// while they run.
	slow string
}

func (f *fakeShards) record(line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, line)
}

func (f *fakeShards) taken() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.lines)
	slices.Sort(out)
	f.lines = nil
	return out
}

func (f *fakeShards) call(ctx context.Context, kind, shard, sql string, sps []string) error {
	if shard == f.slow {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	line := fmt.Sprintf("%s %s %v %s", kind, shard, sps, sql)
	if ctx.Err() != nil {
		line += " (cancelled)"
	}
	f.record(line)
	if f.answer != nil {
		return f.answer(shard, sql)
	}
	return nil
}

// fakeClient is one shard's querypb.QueryClient; the calls it does not
// implement panic (the embedded nil interface).
type fakeClient struct {
	querypb.QueryClient
	f     *fakeShards
	shard string
}

func (c fakeClient) Execute(ctx context.Context, in *querypb.ExecuteRequest, _ ...grpc.CallOption) (*querypb.ExecuteResponse, error) {
	if err := c.f.call(ctx, "Execute", c.shard, in.Sql, in.Savepoints); err != nil {
		return nil, err
	}
	return &querypb.ExecuteResponse{Result: &querypb.QueryResult{}}, nil
}

func (c fakeClient) Commit(ctx context.Context, in *querypb.CommitRequest, _ ...grpc.CallOption) (*querypb.CommitResponse, error) {
	return &querypb.CommitResponse{}, c.f.call(ctx, "Commit", c.shard, "", nil)
}

func (c fakeClient) Rollback(ctx context.Context, in *querypb.RollbackRequest, _ ...grpc.CallOption) (*querypb.RollbackResponse, error) {
	return &querypb.RollbackResponse{}, c.f.call(ctx, "Rollback", c.shard, "", nil)
}

// txSession returns a session in a transaction already open on the shards
// -80 and 80- of ks (in that order), and an executor for it.
func txSession(f *fakeShards) (*Session, *sessionExecutor) {
	s := NewSession(1, "root", TransactionModeMulti)
	s.beginTx(txCharacteristics{})
	for i, sh := range []string{"-80", "80-"} {
		k := shardKey{"ks", sh}
		s.addTx(&shardTx{key: k, target: primaryTarget(k), tablet: &tabletgw.TabletHealth{Client: fakeClient{f: f, shard: sh}}, txID: int64(i + 1), wrote: true})
	}
	return s, &sessionExecutor{gw: newGateway(fakeGateway{tabletgw.NewFanout()}, false), s: s}
}

// fakeGateway is a tablet gateway without tablets: per-shard calls run on
// a real Fanout, and Call, which only statements outside a transaction
// make, fails.
type fakeGateway struct{ *tabletgw.Fanout }

func (fakeGateway) Call(context.Context, *querypb.Target, func(*tabletgw.TabletHealth) error) error {
	return sqlerr.NotServing("fake gateway: no tablets")
}

func (fakeGateway) SwitchUnderway() bool { return false }

func (fakeGateway) AwaitSwitch(context.Context, string) (bool, error) { return false, nil }

func bothShards(sql string) []router.ShardQuery {
	return []router.ShardQuery{{Keyspace: "ks", Shard: "-80", SQL: sql}, {Keyspace: "ks", Shard: "80-", SQL: sql}}
}

var errOutOfRange = sqlerr.New(1264, "Out of range value for column 'bal' at row 1").GRPCStatus().Err()

func TestStatementUndoneOnEveryShard(t *testing.T) {
	f := &fakeShards{slow: "80-"}
	f.answer = func(shard, sql string) error {
		if shard == "-80" && strings.HasPrefix(sql, "update") {
			return errOutOfRange
		}
		return nil
	}
	s, e := txSession(f)
	s.setWriting(true)
	_, err := e.Execute(withStatement(context.Background()), bothShards("update acct set bal = 1"))
	if got := sqlerr.FromError(err); got.Num != 1264 || got.TxEnded {
		t.Fatalf("error %v, want the statement's 1264", err)
	}
	// Both shards got the savepoint with the statement; the slow shard's
	// call ran to its end although -80 failed first; the statement is
	// undone where it succeeded.
	want := []string{
		"Execute -80 [_mosaic_stmt] update acct set bal = 1",
		"Execute 80- [] ROLLBACK TO SAVEPOINT `_mosaic_stmt`",
		"Execute 80- [_mosaic_stmt] update acct set bal = 1",
	}
	if got := f.taken(); !slices.Equal(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.txLost() != nil {
		t.Fatalf("transaction lost: %v", s.txLost())
	}

	// When the undo fails, the transaction is lost.
	f.answer = func(shard, sql string) error {
		switch {
		case shard == "-80" && strings.HasPrefix(sql, "update"):
			return errOutOfRange
		case strings.HasPrefix(sql, "ROLLBACK TO"):
			return sqlerr.TxEndedError("transaction 2 ended").GRPCStatus().Err()
		}
		return nil
	}
	if _, err := e.Execute(withStatement(context.Background()), bothShards("update acct set bal = 2")); sqlerr.FromError(err).Num != 1264 {
		t.Fatalf("error %v, want 1264", err)
	}
	if lost := s.txLost(); lost == nil || !strings.Contains(lost.Error(), "could not be undone on ks/80-") {
		t.Fatalf("lost = %v, want the failed undo", lost)
	}
}

func TestStatementOnOneShardOrReadingHasNoSavepoint(t *testing.T) {
	f := &fakeShards{}
	s, e := txSession(f)
	s.setWriting(true)
	if _, err := e.Execute(withStatement(context.Background()), bothShards("update acct set bal = 1")[:1]); err != nil {
		t.Fatal(err)
	}
	s.setWriting(false)
	if _, err := e.Execute(withStatement(context.Background()), bothShards("select bal from acct")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Execute -80 [] select bal from acct",
		"Execute -80 [] update acct set bal = 1",
		"Execute 80- [] select bal from acct",
	}
	if got := f.taken(); !slices.Equal(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestShardTransactionInUnknownStateIsLost(t *testing.T) {
	f := &fakeShards{slow: "-80"}
	f.answer = func(shard, sql string) error {
		if shard == "80-" {
			return status.Error(codes.Unavailable, "connection reset")
		}
		return nil
	}
	s, e := txSession(f)
	_, err := e.Execute(withStatement(context.Background()), bothShards("select bal from acct"))
	if !sqlerr.IsTxEnded(err) || !strings.Contains(err.Error(), "the transaction on ks/80- is in an unknown state") {
		t.Fatalf("error %v, want the lost transaction", err)
	}
	if s.txLost() == nil {
		t.Fatal("transaction not marked lost")
	}
	// COMMIT commits nothing and rolls back every shard.
	f.taken()
	f.answer = nil
	g := &Gate{cfg: DefaultConfig(), gw: e.gw}
	err = g.commit(context.Background(), s)
	if e := sqlerr.FromError(err); e.Num != sqlerr.ERErrorDuringCommit || !strings.Contains(e.Message, "nothing was committed, the transaction was rolled back on every shard") {
		t.Fatalf("commit: %v", err)
	}
	if got, want := f.taken(), []string{"Rollback -80 [] ", "Rollback 80- [] "}; !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

func TestMultiCommitChecksEveryWriterFirst(t *testing.T) {
	// Every writer is checked, the first one too: the commits that follow
	// go out at once, so a lost transaction found by its own commit would
	// come too late.
	for _, lost := range []string{"-80", "80-"} {
		f := &fakeShards{}
		f.answer = func(shard, sql string) error {
			if shard == lost && sql == "SELECT 1" {
				return sqlerr.TxEndedError("transaction 2 ended: rolled back after being idle for more than 30s").GRPCStatus().Err()
			}
			return nil
		}
		s, e := txSession(f)
		g := &Gate{cfg: DefaultConfig(), gw: e.gw}
		err := g.commit(context.Background(), s)
		if e := sqlerr.FromError(err); e.Num != sqlerr.ERErrorDuringCommit || !strings.Contains(e.Message, "the transaction on ks/"+lost+" was lost") {
			t.Fatalf("commit: %v", err)
		}
		want := []string{"Execute -80 [] SELECT 1", "Execute 80- [] SELECT 1", "Rollback -80 [] ", "Rollback 80- [] "}
		if got := f.taken(); !slices.Equal(got, want) {
			t.Fatalf("calls %q, want %q", got, want)
		}
	}

	// A shard failing during the commit itself: the others committed,
	// and the error names them.
	f := &fakeShards{}
	f.answer = func(shard, sql string) error {
		if shard == "80-" && sql == "" {
			return status.Error(codes.Unavailable, "tablet gone")
		}
		return nil
	}
	s, e := txSession(f)
	g := &Gate{cfg: DefaultConfig(), gw: e.gw}
	err := g.commit(context.Background(), s)
	if e := sqlerr.FromError(err); e.Num != sqlerr.ERErrorDuringCommit || !strings.Contains(e.Message, "commit failed on ks/80- while ks/-80 committed; whether ks/80- committed is not known") {
		t.Fatalf("commit: %v", err)
	}

	// Every commit refused by its tablet: nothing was committed. One lost
	// in transit, or whose tablet lost mysqld's answer to it: its outcome
	// is not known, and the error does not say that nothing was committed.
	for _, c := range []struct {
		transit, answerLost bool
		want                string
	}{
		{false, false, "commit failed on ks/-80, ks/80-, nothing was committed, the transaction was rolled back"},
		{true, false, "commit failed on ks/-80, ks/80-; whether ks/80- committed is not known (the call failed in transit)"},
		{false, true, "commit failed on ks/-80, ks/80-; whether ks/80- committed is not known (the call failed in transit)"},
	} {
		f := &fakeShards{}
		f.answer = func(shard, sql string) error {
			if sql != "" {
				return nil
			}
			if shard == "80-" && c.transit {
				return status.Error(codes.Unavailable, "tablet gone")
			}
			if shard == "80-" && c.answerLost {
				return sqlerr.CommitOutcomeUnknown(sqlerr.New(sqlerr.ERServerGone, "read from mysqld: EOF"), "COMMIT").GRPCStatus().Err()
			}
			return sqlerr.TxEndedError("transaction ended: rolled back by mysqld").GRPCStatus().Err()
		}
		s, e := txSession(f)
		g := &Gate{cfg: DefaultConfig(), gw: e.gw}
		err := g.commit(context.Background(), s)
		if e := sqlerr.FromError(err); e.Num != sqlerr.ERErrorDuringCommit || !strings.Contains(e.Message, c.want) {
			t.Fatalf("commit: %v, want %q", err, c.want)
		}
	}
}

// TestMultiCommitAtOnce: the shards that wrote commit at the same time,
// not one after another (the first commit here returns only once the
// second has arrived).
func TestMultiCommitAtOnce(t *testing.T) {
	f := &fakeShards{}
	second := make(chan struct{})
	f.answer = func(shard, sql string) error {
		if sql != "" {
			return nil
		}
		if shard == "80-" {
			close(second)
			return nil
		}
		select {
		case <-second:
			return nil
		case <-time.After(5 * time.Second):
			return status.Error(codes.DeadlineExceeded, "the commit of 80- never came while -80's ran")
		}
	}
	s, e := txSession(f)
	g := &Gate{cfg: DefaultConfig(), gw: e.gw}
	if err := g.commit(context.Background(), s); err != nil {
		t.Fatalf("commit: %v", err)
	}
	want := []string{"Commit -80 [] ", "Commit 80- [] ", "Execute -80 [] SELECT 1", "Execute 80- [] SELECT 1"}
	if got := f.taken(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
}
