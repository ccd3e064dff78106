package tablet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

// The primary lease. A primary holds its shard's lease in topo for as long
// as it takes writes: it takes it before read-only goes off and gives it
// back after read-only is on again. When the lease is lost (topo
// unreachable for 3/4 of its ttl, or someone deleted it) the tablet stops
// serving at once and turns read-only: by then nobody else can have
// taken the lease yet, so two tablets never take writes at once.

// acquireLease takes the shard's primary lease for term, waiting up to
// PrimaryLeaseWait for a previous holder's to go. A lease of this tablet
// itself (an earlier run, or an earlier term) is broken at once: this
// process owns the tablet's ports, so that holder is gone.
func (a *Agent) acquireLease(ctx context.Context, term int64) error {
	a.mu.Lock()
	held, heldTerm := a.lease, a.leaseTerm
	a.mu.Unlock()
	if held != nil && heldTerm == term {
		select {
		case <-held.Lost():
		default:
			return nil
		}
	}
	a.releaseLease(ctx)
	rec := &topodatapb.PrimaryLease{Alias: a.alias, PrimaryTermStartUnixNano: term, AcquiredUnixNano: time.Now().UnixNano()}
	deadline := time.Now().Add(a.cfg.PrimaryLeaseWait)
	for {
		l, err := a.ts.AcquirePrimaryLease(ctx, a.cfg.Keyspace, a.cfg.Shard, rec, a.cfg.PrimaryLeaseTTL)
		if err == nil {
			a.mu.Lock()
			a.lease, a.leaseTerm = l, term
			a.mu.Unlock()
			a.bg.Add(1)
			go func() {
				defer a.bg.Done()
				<-l.Lost()
				a.onLeaseLost(l)
			}()
			return nil
		}
		if !errors.Is(err, topo.ErrNodeExists) {
			return fmt.Errorf("take the primary lease: %w", err)
		}
		cur, v, gerr := a.ts.GetPrimaryLease(ctx, a.cfg.Keyspace, a.cfg.Shard)
		switch {
		case errors.Is(gerr, topo.ErrNoNode):
			continue // just released
		case gerr != nil:
			return fmt.Errorf("read the primary lease: %w", gerr)
		case proto.Equal(cur.Alias, a.alias):
			a.log.Info("breaking a primary lease of this tablet's earlier run", "term", cur.PrimaryTermStartUnixNano)
			if err := a.ts.BreakPrimaryLease(ctx, a.cfg.Keyspace, a.cfg.Shard, v); err != nil && !errors.Is(err, topo.ErrBadVersion) {
				return err
			}
			continue
		}
		if time.Now().After(deadline) {
			return status.Errorf(codes.FailedPrecondition, "the primary lease of %s/%s is held by %s (term %d)",
				a.cfg.Keyspace, a.cfg.Shard, topo.AliasString(cur.Alias), cur.PrimaryTermStartUnixNano)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// releaseLease gives the primary lease back, if held. Callers have made
// the tablet read-only first.
func (a *Agent) releaseLease(ctx context.Context) {
	a.mu.Lock()
	l := a.lease
	a.lease, a.leaseTerm = nil, 0
	a.mu.Unlock()
	if l == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := l.Release(rctx); err != nil {
		a.log.Warn("cannot release the primary lease; it will expire", "err", err)
	}
}

// onLeaseLost fences the tablet when the lease it holds is lost.
func (a *Agent) onLeaseLost(l topo.Lease) {
	a.mu.Lock()
	mine := a.lease == l
	if mine {
		a.lease, a.leaseTerm = nil, 0
	}
	a.mu.Unlock()
	if mine {
		a.fence("lost the primary lease")
	}
}
