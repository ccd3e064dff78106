package queryservice

import (
	"context"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// SetOpenTxOnly stops serving new work, with reason, but lets the
// statements, commits and rollbacks of the transactions already open
// through: the fence of a traffic switch (the shard record disables the
// tablet type's query service). Everything else is refused with a
// retryable error. Drain then waits for the open work to end.
func (s *Service) SetOpenTxOnly(t topodatapb.TabletType, reason string) {
	s.state.Store(&servingState{tabletType: t, openTxOnly: true, reason: reason})
}

// Drain waits for the work the service took before SetOpenTxOnly (or
// SetServing false): statements outside transactions and open
// transactions. Transactions still open after grace are rolled back,
// except those running a statement or a commit, which are waited for
// (their query timeout bounds them): a write is never cut in the middle
// of its commit. Reserved connections (lock sessions) end at once, with
// why. It returns how many transactions it rolled back, once nothing is
// left, or ctx's error. A position read after it covers every write the
// service acknowledged.
func (s *Service) Drain(ctx context.Context, grace time.Duration, why string) (rolledBack int, err error) {
	s.reserved.endAll(why)
	deadline := time.Now().Add(grace)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.inflight.Load() > 0 || s.txs.count() > 0 {
		if !time.Now().Before(deadline) {
			ended, _ := s.txs.endIdle(why)
			rolledBack += ended
		}
		select {
		case <-ctx.Done():
			return rolledBack, ctx.Err()
		case <-t.C:
		}
	}
	return rolledBack, nil
}

// RollbackIdleTransactions rolls back the open transactions that are not
// running a statement now, with why, and returns how many.
func (s *Service) RollbackIdleTransactions(why string) int {
	n, _ := s.txs.endIdle(why)
	return n
}

// OpenTxOnly reports whether the service serves only the transactions
// already open (SetOpenTxOnly).
func (s *Service) OpenTxOnly() bool {
	st := s.state.Load()
	return !st.serving && st.openTxOnly
}
