package proxy

// The session engine's side of a keyspace's traffic switch: a statement
// about to send queries to a switching keyspace waits in the gateway
// (tabletgw's switch buffer) and is planned again once the switch ends,
// unless some of its queries ran already.

import (
	"context"
	"errors"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// TabletType implements router.TabletTyper: routes pick the shards that
// serve the session's tablet type.
func (e *sessionExecutor) TabletType() topodatapb.TabletType { return e.s.TabletType }

// awaitSwitch holds a statement about to send qs while a keyspace of qs
// switches its primary traffic, and then returns tabletgw.ErrSwitched so that it
// is planned again, or a plain error when some of its queries ran
// already. It returns nil at once when nothing switches.
func (e *sessionExecutor) awaitSwitch(ctx context.Context, qs []router.ShardQuery) error {
	if !e.gw.SwitchUnderway() || e.s.TabletType != topodatapb.TabletType_PRIMARY || e.s.Shard != "" {
		// Not held: replica reads, and sessions that name their shard
		// (`USE ks:-80`), which the serving graph does not route.
		return nil
	}
	for i, q := range qs {
		if i > 0 && q.Keyspace == qs[i-1].Keyspace {
			continue
		}
		if e.inTx() && e.s.hasTxIn(q.Keyspace) {
			// It finishes on the sources, which let it.
			continue
		}
		waited, err := e.gw.AwaitSwitch(ctx, q.Keyspace)
		if err != nil {
			return err
		}
		if waited {
			return e.switched(q.Keyspace)
		}
	}
	return nil
}

// switched is the error of a statement whose keyspace ks switched before
// one of its queries could run: tabletgw.ErrSwitched when none ran yet.
func (e *sessionExecutor) switched(ks string) error {
	if e.ran.Load() {
		return sqlerr.New(sqlerr.ERUnknown, "keyspace %s switched its traffic to other shards while the statement ran; part of it ran, so it was not run again", ks)
	}
	if e.inTx() && e.s.hasTxIn(ks) {
		return sqlerr.New(sqlerr.ERUnknown, "keyspace %s switched its traffic to other shards during the transaction: roll it back and run it again", ks)
	}
	return tabletgw.ErrSwitched
}

// switchedAfter turns err, when a shard's query came back tabletgw.ErrSwitched (a
// fenced source refused it), into the statement's error once all of its
// queries are back: when none ran, the statement waits for the switch to
// end, then is planned again.
func (e *sessionExecutor) switchedAfter(ctx context.Context, err error, ks string) error {
	if tableMoved(err) {
		return e.movedAfter(ctx, err)
	}
	if !errors.Is(err, tabletgw.ErrSwitched) {
		return err
	}
	if e.s.Shard != "" {
		return sqlerr.NotServing("shard %s of keyspace %s takes no statements now: the keyspace is switching its traffic, or switched it away from the shard", e.s.Shard, ks)
	}
	if e.ran.Load() || e.inTx() && e.s.hasTxIn(ks) {
		return e.switched(ks)
	}
	if _, werr := e.gw.AwaitSwitch(ctx, ks); werr != nil {
		return werr
	}
	return tabletgw.ErrSwitched
}

// movedBackoff is how long a statement refused for naming a table that
// MoveTables moved away waits for the gate's routing rules to follow
// before it is planned again (switchedAgain: a few times at most).
const movedBackoff = 250 * time.Millisecond

// tableMoved says err is a tablet's refusal of a statement that names a
// table MoveTables moved away from its keyspace; the statement did not
// run there.
func tableMoved(err error) bool {
	var se *sqlerr.Error
	return errors.As(err, &se) && se.TableMoved
}

// movedAfter turns a tablet's refusal of a moved table into
// tabletgw.ErrSwitched, after a pause for the routing rules the switch
// committed to reach this gate, so that the statement is planned again
// with them: the rules change in the same commit as the refusal, and the
// gate learns of it by its watch, a moment later. When part of the
// statement ran elsewhere, or the session names its shard, the refusal
// is the answer.
func (e *sessionExecutor) movedAfter(ctx context.Context, err error) error {
	if e.ran.Load() || e.s.Shard != "" {
		return err
	}
	select {
	case <-time.After(movedBackoff):
	case <-ctx.Done():
		return err
	}
	return tabletgw.ErrSwitched
}

// noteRanInTx is noteRan for the n queries of a statement inside the
// transaction: when one came back refused and there were others, they
// may have run (and been undone by the statement's savepoint, or not).
func (e *sessionExecutor) noteRanInTx(n int, err error) {
	if n > 1 {
		e.ran.Store(true)
		return
	}
	e.noteRan(err)
}

// noteRan records that a query of the statement may have run: it did
// not come back refused before running.
func (e *sessionExecutor) noteRan(err error) {
	if err == nil || !sqlerr.IsRetryable(err) && !errors.Is(err, tabletgw.ErrSwitched) && !tableMoved(err) {
		e.ran.Store(true)
	}
}

// hasTxIn reports whether the session's transaction runs on a shard of
// keyspace ks.
func (s *Session) hasTxIn(ks string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.txOrder {
		if k.keyspace == ks && s.shardTx[k] != nil {
			return true
		}
	}
	return false
}

// switchedAgain reports whether a statement that ended with err on its
// attempt-th run (from 0) is to be planned and run again: it stopped
// before any of its queries ran because a keyspace switched its traffic.
// A few times at most: each switch ends a buffering.
func switchedAgain(err error, attempt int) bool {
	return err != nil && attempt < 3 && errors.Is(err, tabletgw.ErrSwitched)
}
