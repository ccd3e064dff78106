package deadlock

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// Report is what one tablet answered to LockWaits.
type Report struct {
	// Shard is "keyspace/shard"; Tablet the tablet's alias.
	Shard, Tablet string
	// ReadUnixNano is when the tablet read the waits from mysqld.
	ReadUnixNano int64
	Waits        []*querypb.LockWait
}

// nodeID names a transaction in the wait-for graph: the gate's
// distributed transaction id for a tagged one (the same on every shard),
// else mysqld's transaction id on its shard.
type nodeID string

func txNode(shard string, tx *querypb.LockWaitTx) nodeID {
	if d := tx.GetTag().GetDtid(); d != "" {
		return nodeID(d)
	}
	return nodeID(fmt.Sprintf("%s:trx-%d", shard, tx.GetTrxId()))
}

// edge is one wait: waiter waits for blocker on shard.
type edge struct {
	waiter, blocker nodeID
	shard, tablet   string
	wait            *querypb.LockWait
}

// edgeKey identifies a wait across reads: the same waiting statement of
// the same mysqld transaction, for the same lock, behind the same
// transaction's lock.
type edgeKey struct {
	tablet                string
	waiterTrx, blockerTrx uint64
	requested, blocking   string
	transactionID         int64
	statement             uint64
}

func (e edge) key() edgeKey {
	w := e.wait
	return edgeKey{
		tablet: e.tablet, waiterTrx: w.Waiter.GetTrxId(), blockerTrx: w.Blocker.GetTrxId(),
		requested: w.RequestedLock, blocking: w.BlockingLock,
		transactionID: w.Waiter.GetTransactionId(), statement: w.Waiter.GetStatement(),
	}
}

// Graph is the wait-for graph of every shard: an edge for each wait, the
// transactions as nodes. Waits on different shards meet at a transaction
// through its tag. Build it with NewGraph; it is not changed after.
type Graph struct {
	edges []edge
	// out lists each node's edges (indexes into edges), in the order of
	// their blockers' names, so that searches are deterministic.
	out map[nodeID][]int
	// start is when each tagged transaction began, by its gate's clock.
	start map[nodeID]int64
	// reads is when each tablet's waits were read.
	reads map[string]int64
}

// NewGraph joins the reports of every tablet into one graph.
func NewGraph(reports []Report) *Graph {
	g := &Graph{out: map[nodeID][]int{}, start: map[nodeID]int64{}, reads: map[string]int64{}}
	for _, r := range reports {
		g.reads[r.Tablet] = r.ReadUnixNano
		for _, w := range r.Waits {
			if w.GetWaiter() == nil || w.GetBlocker() == nil {
				continue
			}
			e := edge{waiter: txNode(r.Shard, w.Waiter), blocker: txNode(r.Shard, w.Blocker), shard: r.Shard, tablet: r.Tablet, wait: w}
			if e.waiter == e.blocker {
				continue
			}
			for _, tx := range []*querypb.LockWaitTx{w.Waiter, w.Blocker} {
				if t := tx.GetTag(); t.GetDtid() != "" {
					g.start[nodeID(t.Dtid)] = t.StartUnixNano
				}
			}
			g.edges = append(g.edges, e)
		}
	}
	for i, e := range g.edges {
		g.out[e.waiter] = append(g.out[e.waiter], i)
	}
	for _, idx := range g.out {
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(g.edges[a].blocker, g.edges[b].blocker) })
	}
	return g
}

// Confirm returns the graph of the waits of fresh, later reads of the
// same tablets, that g shows too: the same statement still waiting for
// the same lock behind the same transaction. A wait on a tablet whose
// fresh read is not later than g's is dropped.
//
// When every fresh read began after every read of g (the caller asks for
// them after g's came back), each wait of a cycle of the result went on
// without a break from its first read to its second, so at the moment of
// the earliest second read every wait of the cycle existed at once: it
// was a deadlock then, and a deadlock lasts until one of its
// transactions is aborted.
func (g *Graph) Confirm(fresh []Report) *Graph {
	seen := map[edgeKey]bool{}
	for _, e := range g.edges {
		seen[e.key()] = true
	}
	var out []Report
	for _, r := range fresh {
		if r.ReadUnixNano <= g.reads[r.Tablet] {
			continue
		}
		k := Report{Shard: r.Shard, Tablet: r.Tablet, ReadUnixNano: r.ReadUnixNano}
		for _, w := range r.Waits {
			e := edge{waiter: txNode(r.Shard, w.GetWaiter()), blocker: txNode(r.Shard, w.GetBlocker()), shard: r.Shard, tablet: r.Tablet, wait: w}
			if w.GetWaiter() != nil && w.GetBlocker() != nil && seen[e.key()] {
				k.Waits = append(k.Waits, w)
			}
		}
		out = append(out, k)
	}
	return NewGraph(out)
}

// Abort names the waiting statement of a victim on one tablet.
type Abort struct {
	Shard, Tablet string
	Request       *querypb.AbortDeadlockVictimRequest
}

// Deadlock is a cycle of waits across shards and the transaction chosen
// to break it.
type Deadlock struct {
	// Victim is the distributed transaction id of the victim.
	Victim string
	// Cycle is the waits of the cycle, in order, starting with one of the
	// victim's.
	Cycle []string
	// Shards is how many shards the cycle spans; Tablets are the tablets
	// that reported its waits, sorted.
	Shards  int
	Tablets []string
	// Aborts are the victim's waiting statements, one per tablet it waits
	// on, sorted by tablet.
	Aborts []Abort
	// NewestWaitMs is how long the cycle's youngest wait had lasted at
	// the read: the deadlock is at most that old.
	NewestWaitMs int64
}

// String describes the cycle: "A waits for B on ks/-80; B waits for A on
// ks/80-".
func (d Deadlock) String() string { return strings.Join(d.Cycle, "; ") }

// searchBudget bounds the edges one cycle search may follow: graphs are
// small (the transactions waiting at one moment), but a pathological one
// must not stall the detector.
const searchBudget = 100000

// Deadlocks finds the deadlocks no single mysqld can see and chooses
// their victims, the same way for the same graph: take the first cycle
// that spans two shards or more and has a transaction of a gate in it
// (in the order of node names), abort its youngest such transaction (the
// one whose gate began it last; a tie goes to the greater id), take the
// victim out of the graph, and look again. A cycle within one shard is
// left to its mysqld, which breaks it at once. A transaction without a
// gate's tag (an autocommit statement, a client of mysqld's own) may be
// in a cycle but is never chosen; such a transaction waits and holds
// locks on one shard only, so every cycle across shards has a tagged one.
func (g *Graph) Deadlocks() []Deadlock {
	removed := map[nodeID]bool{}
	var out []Deadlock
	for {
		cycle := g.findCycle(removed)
		if cycle == nil {
			return out
		}
		victim := nodeID("")
		for _, i := range cycle {
			n := g.edges[i].waiter
			s, ok := g.start[n]
			if !ok {
				continue
			}
			if victim == "" || s > g.start[victim] || (s == g.start[victim] && n > victim) {
				victim = n
			}
		}
		removed[victim] = true
		out = append(out, g.deadlock(victim, cycle))
	}
}

// deadlock describes cycle (edge indexes) with victim.
func (g *Graph) deadlock(victim nodeID, cycle []int) Deadlock {
	// Start the description at one of the victim's waits.
	first := 0
	for k, i := range cycle {
		if g.edges[i].waiter == victim {
			first = k
			break
		}
	}
	d := Deadlock{Victim: string(victim), NewestWaitMs: -1}
	shards := map[string]bool{}
	for k := range cycle {
		e := g.edges[cycle[(first+k)%len(cycle)]]
		d.Cycle = append(d.Cycle, fmt.Sprintf("%s waits for %s on %s", e.waiter, e.blocker, e.shard))
		shards[e.shard] = true
		if !slices.Contains(d.Tablets, e.tablet) {
			d.Tablets = append(d.Tablets, e.tablet)
		}
		if d.NewestWaitMs < 0 || e.wait.WaitedMs < d.NewestWaitMs {
			d.NewestWaitMs = e.wait.WaitedMs
		}
	}
	d.Shards = len(shards)
	slices.Sort(d.Tablets)
	desc := d.String()
	// Every statement the victim waits in, on any tablet: a statement
	// that reached several shards waits on each, and all of it must end.
	byTablet := map[string]bool{}
	for _, e := range g.edges {
		w := e.wait.Waiter
		if e.waiter != victim || w.GetTransactionId() == 0 || byTablet[e.tablet] {
			continue
		}
		byTablet[e.tablet] = true
		d.Aborts = append(d.Aborts, Abort{Shard: e.shard, Tablet: e.tablet, Request: &querypb.AbortDeadlockVictimRequest{
			TransactionId: w.TransactionId, Statement: w.Statement, TrxId: w.TrxId, RequestedLock: e.wait.RequestedLock, Cycle: desc,
			ReadUnixNano: g.reads[e.tablet],
		}})
	}
	slices.SortFunc(d.Aborts, func(a, b Abort) int { return cmp.Compare(a.Tablet, b.Tablet) })
	return d
}

// findCycle returns the first simple cycle (as edge indexes) that spans
// two shards or more and has a tagged transaction, among the nodes not
// removed; nil when there is none. Cycles are searched from each node in
// name order, through nodes after it only (each cycle is found from its
// least node), following edges in the order of their blockers.
func (g *Graph) findCycle(removed map[nodeID]bool) []int {
	nodes := make([]nodeID, 0, len(g.out))
	for n := range g.out {
		if !removed[n] {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	budget := searchBudget
	for _, s := range nodes {
		onPath := map[nodeID]bool{s: true}
		var path []int
		shards := map[string]int{}
		var dfs func(n nodeID) []int
		dfs = func(n nodeID) []int {
			for _, i := range g.out[n] {
				if budget--; budget < 0 {
					return nil
				}
				e := g.edges[i]
				b := e.blocker
				if removed[b] || b < s {
					continue
				}
				if b == s {
					shards[e.shard]++
					ok := len(shards) >= 2 && g.tagged(append(path, i))
					if shards[e.shard]--; shards[e.shard] == 0 {
						delete(shards, e.shard)
					}
					if ok {
						return append(slices.Clone(path), i)
					}
					continue
				}
				if onPath[b] {
					continue
				}
				onPath[b] = true
				path = append(path, i)
				shards[e.shard]++
				if c := dfs(b); c != nil {
					return c
				}
				if shards[e.shard]--; shards[e.shard] == 0 {
					delete(shards, e.shard)
				}
				path = path[:len(path)-1]
				onPath[b] = false
			}
			return nil
		}
		if c := dfs(s); c != nil {
			return c
		}
		if budget < 0 {
			return nil
		}
	}
	return nil
}

// tagged reports whether a transaction of a gate waits in the cycle.
func (g *Graph) tagged(cycle []int) bool {
	for _, i := range cycle {
		if _, ok := g.start[g.edges[i].waiter]; ok {
			return true
		}
	}
	return false
}
