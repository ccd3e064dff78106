package vrepl

import (
	"context"
	"fmt"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
)

// The stream's in-memory status, read by Status and the waiters.

func (s *stream) setState(st streamState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rt.phase = st.phase
	s.rt.rowsCopied, s.rt.rowsTotal, s.rt.txns = st.rowsCopied, st.rowsTotal, st.txns
	s.rt.message = ""
	if len(st.copy) > 0 {
		s.rt.table = st.copy[0].name
	} else {
		s.rt.table = ""
	}
	s.movePosLocked(st.pos)
	s.m.setPhase(st.phase)
}

func (s *stream) movePosLocked(p Position) {
	if !p.Equal(s.rt.pos) || s.rt.pos.IsZero() != p.IsZero() {
		s.rt.pos = p
		close(s.moved)
		s.moved = make(chan struct{})
	}
}

func (s *stream) setError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rt.attempt++
	s.rt.phase = phaseError
	s.rt.message = err.Error()
	s.m.setPhase(phaseError)
}

func (s *stream) setTable(name string) {
	s.mu.Lock()
	s.rt.table = name
	s.mu.Unlock()
}

func (s *stream) setSourceTablet(a *topodatapb.TabletAlias) {
	s.mu.Lock()
	s.rt.sourceTablet = a
	s.mu.Unlock()
}

// sourceChoice picks the source tablet candidate: the first (a replica
// when there is one) until a failure moves the stream to the next.
func (s *stream) sourceChoice() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rt.attempt
}

// setPos records a position reached with nothing to apply; at is when the
// source committed it (zero: unknown).
func (s *stream) setPos(p Position, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.movePosLocked(p)
	if !at.IsZero() && at.After(s.rt.lagAt) {
		s.rt.lagAt = at
		s.m.lag.Set(time.Since(at).Seconds())
	}
}

// applied records applied transactions up to p, the last committed at at.
func (s *stream) applied(n int64, p Position, at time.Time) {
	s.mu.Lock()
	s.rt.txns += n
	s.mu.Unlock()
	s.setPos(p, at)
}

// heartbeat says the stream has applied everything the source had at at.
func (s *stream) heartbeat(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.After(s.rt.lagAt) {
		s.rt.lagAt = at
		s.m.lag.Set(time.Since(at).Seconds())
	}
}

// copied records a batch of n copied rows.
func (s *stream) copied(n int64, st streamState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.rt.rowsCopied = st.rowsCopied
	if s.rt.rateAt.IsZero() {
		s.rt.rateAt, s.rt.rateRows = now, st.rowsCopied-n
	}
	if d := now.Sub(s.rt.rateAt); d >= 2*time.Second {
		s.rt.rate = float64(st.rowsCopied-s.rt.rateRows) / d.Seconds()
		s.rt.rateAt, s.rt.rateRows = now, st.rowsCopied
	} else if s.rt.rate == 0 && d > 0 {
		s.rt.rate = float64(st.rowsCopied-s.rt.rateRows) / d.Seconds()
	}
}

// position returns the applied position and a channel closed when it
// moves.
func (s *stream) position() (Position, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rt.pos, s.moved
}

// status reports the stream.
func (s *stream) status(shard string) *vreplicationpb.StreamStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &vreplicationpb.StreamStatus{
		Workflow:            s.wf.Name,
		SourceShard:         s.source,
		TargetShard:         shard,
		Phase:               s.rt.phase,
		RowsCopied:          s.rt.rowsCopied,
		RowsTotal:           s.rt.rowsTotal,
		Table:               s.rt.table,
		Position:            s.rt.pos.String(),
		Message:             s.rt.message,
		Epoch:               s.wf.Epoch,
		SourceTablet:        s.rt.sourceTablet,
		TransactionsApplied: s.rt.txns,
	}
	if s.rt.phase == phaseCopying {
		st.RowsPerSecond = s.rt.rate
	}
	if s.rt.phase == phaseRunning {
		if s.rt.lagAt.IsZero() {
			st.LagSeconds = -1
		} else {
			st.LagSeconds = max(0, time.Since(s.rt.lagAt).Seconds())
		}
	}
	return st
}

// saveMessage stores why the stream stopped, for show after a restart.
func (s *stream) saveMessage(ctx context.Context, msg string) {
	if len(msg) > 4000 {
		msg = msg[:4000]
	}
	a, done, err := dialTarget(ctx, s.e.acc, s.e.db, 1<<20)
	if err != nil {
		return
	}
	defer done()
	if err := a.inTx(fmt.Sprintf("UPDATE _mosaic.vreplication SET message = %s WHERE %s", sqlString(msg), stateKey(s.wf.Name, s.source))); err != nil {
		s.log.Warn("cannot store the stream's error", "err", err)
	}
}
