package proxy

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// Deadlocks, as the gate sees them (docs/transactions.md, "Deadlocks
// across shards"). A deadlock on one shard is found by its mysqld, whose
// victim's statement fails with 1213; a deadlock across shards is found by
// the deadlock detector (package tablet/deadlock, in `mosaic failover`),
// which has the victim's tablet interrupt its waiting statement: that
// statement fails with the same 1213, carrying the cycle. Either way the
// shard transaction is gone (TxEnded), and afterError rolls back the rest
// of the client's transaction on every other shard, as MariaDB rolls back
// a whole transaction. For the detector to join the waits of several
// shards, every shard transaction carries the transaction's tag
// (beginOptionsFor).
//
// deadlockLog counts the deadlocks the gate's sessions were victims of
// and keeps the latest for the status page.

// recentDeadlocks is how many victims the status page lists.
const recentDeadlocks = 20

// DeadlockVictim is a transaction of one of the gate's sessions that was
// rolled back as the victim of a deadlock.
type DeadlockVictim struct {
	Time     time.Time
	ConnID   uint32
	User     string
	Keyspace string
	// Dtid is the distributed transaction's id (its tag on every shard);
	// empty for a statement outside a transaction.
	Dtid string
	// Cycle is the deadlock the detector found across shards; empty for a
	// deadlock one mysqld found by itself.
	Cycle string
}

// CrossShard reports whether the deadlock spanned shards.
func (v DeadlockVictim) CrossShard() bool { return v.Cycle != "" }

type deadlockLog struct {
	shard, crossShard prometheus.Counter

	mu     sync.Mutex
	recent []DeadlockVictim // oldest first
}

func newDeadlockLog(reg prometheus.Registerer) *deadlockLog {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mosaic_gate_deadlock_victims_total",
		Help: "Transactions of the gate's sessions rolled back as deadlock victims (1213), by where the deadlock was found: shard (by one mysqld) or cross_shard (by the deadlock detector).",
	}, []string{"kind"})
	reg.MustRegister(c)
	return &deadlockLog{shard: c.WithLabelValues("shard"), crossShard: c.WithLabelValues("cross_shard")}
}

// note records err when it is a deadlock's.
func (l *deadlockLog) note(cc *clientConn, err error) {
	e := sqlerr.FromError(err)
	if e == nil || e.Num != sqlerr.ERDeadlock {
		return
	}
	s := cc.s
	v := DeadlockVictim{Time: time.Now(), ConnID: s.ConnID, User: s.User, Keyspace: s.Keyspace, Cycle: e.Deadlock}
	s.mu.Lock()
	v.Dtid = s.tx.dtid
	s.mu.Unlock()
	if v.CrossShard() {
		l.crossShard.Inc()
		cc.log.Info("transaction rolled back as the victim of a deadlock across shards", "dtid", v.Dtid, "cycle", v.Cycle)
	} else {
		l.shard.Inc()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recent) == recentDeadlocks {
		l.recent = append(l.recent[:0], l.recent[1:]...)
	}
	l.recent = append(l.recent, v)
}

// RecentDeadlocks returns the latest deadlock victims among the gate's
// sessions, newest first.
func (g *Gate) RecentDeadlocks() []DeadlockVictim {
	l := g.deadlocks
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]DeadlockVictim, len(l.recent))
	for i, v := range l.recent {
		out[len(out)-1-i] = v
	}
	return out
}
