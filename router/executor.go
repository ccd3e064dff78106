package router

import (
	"context"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// ShardQuery is one statement for one shard of a keyspace.
type ShardQuery struct {
	Keyspace string
	Shard    string
	SQL      string
	// Lock says the statement calls user-level lock functions (GET_LOCK
	// and the like) and nothing else that keeps state: the executor runs
	// it on the session's lock session for the shard, a tablet
	// connection reserved for the session's locks, outside its
	// transaction.
	Lock bool
}

// ShardExecutor runs statements on shards on behalf of one client session.
// The proxy implements it: it chooses a tablet of the session's tablet type
// for each shard and, inside a transaction, uses the session's transaction
// on that shard (beginning one when the shard is new to the transaction).
type ShardExecutor interface {
	// Execute runs the queries, in parallel when there are several, and
	// returns one result per query in the same order. On failure it returns
	// an error (a *sqlerr.Error or one sqlerr.FromError understands) and the
	// results are undefined.
	Execute(ctx context.Context, queries []ShardQuery) ([]*querypb.QueryResult, error)

	// Stream runs the queries in parallel and hands each chunk of each
	// result to callback with the index of its query. The first chunk of
	// every query carries its fields. callback may be called from several
	// goroutines, but never concurrently for the same query index; an error
	// from callback stops every stream and is returned.
	//
	// Stream may be called from several goroutines at once, one shard
	// each: merging sorted streams, the router runs every shard's query in
	// a call of its own and blocks a call's callback until the other
	// shards catch up, so no call may wait for another.
	Stream(ctx context.Context, queries []ShardQuery, callback func(i int, chunk *querypb.QueryResult) error) error

	// ExecuteAutocommit runs the queries outside the session's transaction,
	// each committing on its own (for sequences and lookup vindexes).
	ExecuteAutocommit(ctx context.Context, queries []ShardQuery) ([]*querypb.QueryResult, error)
}

// Spawner may also be implemented by a ShardExecutor: Go runs fn on a
// goroutine of its choosing, such as a long-lived one whose stack has
// grown already. The router starts the goroutines of a merge through it.
type Spawner interface {
	Go(fn func())
}

// TabletTyper may also be implemented by a ShardExecutor: the tablet type
// its queries go to. A route that reads sends to the shards serving that
// type (KeyspaceInput.ReadShards); without it, to the primary's.
type TabletTyper interface {
	TabletType() topodatapb.TabletType
}

// servedType returns the tablet type whose serving shards a route of ks
// picks from when it runs on exec. Free when ks's reads are served by
// its primary's shards, as they are but during a reshard.
func servedType(exec ShardExecutor, ks *Keyspace) topodatapb.TabletType {
	if ks.reads == nil {
		return topodatapb.TabletType_PRIMARY
	}
	if t, ok := exec.(TabletTyper); ok {
		return t.TabletType()
	}
	return topodatapb.TabletType_PRIMARY
}

// spawn runs fn through exec's Spawner, or on a new goroutine.
func spawn(exec ShardExecutor, fn func()) {
	if s, ok := exec.(Spawner); ok {
		s.Go(fn)
		return
	}
	go fn()
}

// SideTransactor may also be implemented by a ShardExecutor. BeginSide
// starts a transaction on one shard (of the session's tablet type) outside
// the session's own, which the caller ends with Commit or Rollback. Lookup
// vindexes hold the row locks of their entries in such transactions while
// the owner's rows are written (lookup_write.go). readCommitted begins it
// at READ COMMITTED, which takes no gap locks; otherwise it has the
// session's isolation.
type SideTransactor interface {
	BeginSide(ctx context.Context, keyspace, shard string, readCommitted bool) (SideTx, error)
}

// SideTx is a transaction BeginSide started.
type SideTx interface {
	Execute(ctx context.Context, sql string) (*querypb.QueryResult, error)
	Commit(ctx context.Context) error
	// Rollback ends the transaction and undoes its writes. It reports no
	// error: a transaction it cannot reach is rolled back by its tablet
	// when the transaction's connection or time runs out.
	Rollback(ctx context.Context)
}
