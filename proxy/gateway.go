package proxy

import (
	"context"
	"sync"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
)

// tabletGateway is what the session engine asks of the tablet gateway:
// *tabletgw.Gateway, or a fake in unit tests.
type tabletGateway interface {
	// Call runs fn on a serving tablet of target, and again on another
	// while the tablet refuses it before running it; primary requests
	// wait in the gateway's buffer while the shard has no primary. It
	// returns fn's last error, or the gateway's when no tablet serves.
	Call(ctx context.Context, target *querypb.Target, fn func(th *tabletgw.TabletHealth) error) error
	// Go runs fn on a fan-out worker. fn must not panic.
	Go(fn func())
	// Parallel calls fn(ctx, i) for every i < n at once; the first error
	// cancels the others and is returned once all have returned.
	Parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error
	// All calls fn(ctx, i) for every i < n at once, each to its end.
	All(ctx context.Context, n int, fn func(ctx context.Context, i int))
	// SwitchUnderway reports, cheaply, whether any keyspace switches its
	// primary traffic now.
	SwitchUnderway() bool
	// AwaitSwitch holds the caller while ks's primary traffic switches:
	// false at once when it does not, true once the switch ended, or an
	// error (window passed, buffer full, ctx ended).
	AwaitSwitch(ctx context.Context, ks string) (bool, error)
}

var _ tabletGateway = (*tabletgw.Gateway)(nil)

// gateway is the session engine's side of the tablet gateway: the gateway
// and what the engine keeps beside it for all of the gate's sessions.
type gateway struct {
	tabletGateway
	// locks are the lock sessions of every client session, for the
	// heartbeat (locksession.go).
	locks *lockRegistry
	// smallReqs pools executeSmall's requests (smallresult.go).
	smallReqs sync.Pool
	// noStmtSavepoint is Config.BenchNoStatementSavepoint.
	noStmtSavepoint bool
}

func newGateway(tg tabletGateway, noStmtSavepoint bool) *gateway {
	return &gateway{tabletGateway: tg, locks: newLockRegistry(), noStmtSavepoint: noStmtSavepoint}
}
