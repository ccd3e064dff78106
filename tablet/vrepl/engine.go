package vrepl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/topo"
)

// Dialer opens a VReplication client of a tablet; close releases it.
type Dialer func(ctx context.Context, t *topodatapb.Tablet) (client vreplicationpb.VReplicationClient, close func(), err error)

// EngineDeps are what the engine needs from its tablet.
type EngineDeps struct {
	Topo     *topo.Server
	Keyspace string
	Shard    string
	// DBName is the database holding the keyspace's tables.
	DBName   string
	Accounts Accounts
	Dial     Dialer
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// Engine runs the streams of the workflows whose target is this tablet's
// shard, while the tablet is its shard's primary.
type Engine struct {
	cfg     Config
	ts      *topo.Server
	ks      string
	shard   string
	kr      *topodatapb.KeyRange
	db      string
	acc     Accounts
	dial    Dialer
	log     *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	primary bool
	// records are the keyspace's workflow records; known once the watch
	// delivered them.
	records map[string]*vreplicationpb.Workflow
	known   bool
	running map[streamID]*runningStream
	// stopping are streams told to stop whose goroutine has not ended
	// yet: they may still apply what they received. Status reports them
	// as they are, so that a caller waiting for a workflow's streams to
	// stop (a traffic switch) sees them stopped only once they are.
	stopping map[streamID]*runningStream
	// paused workflows' streams stay stopped (VDiff holds them).
	paused map[string]int
	kick   chan struct{}
	// forget asks the next reconcile as primary to drop the stored state
	// of workflows that have no record any more.
	forget bool
	// runCtx is Run's context: streams live inside it.
	runCtx context.Context
	wg     sync.WaitGroup
}

type streamID struct{ workflow, source string }

type runningStream struct {
	s      *stream
	rec    *vreplicationpb.Workflow
	cancel context.CancelFunc
	done   chan struct{}
}

// NewEngine checks cfg and builds the engine; Run starts it.
func NewEngine(cfg Config, deps EngineDeps) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kr, err := keyrange.Parse(deps.Shard)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(deps.Registry)
	if err != nil {
		return nil, fmt.Errorf("register vreplication metrics: %w", err)
	}
	return &Engine{
		cfg: cfg, ts: deps.Topo, ks: deps.Keyspace, shard: deps.Shard, kr: kr, db: deps.DBName,
		acc: deps.Accounts, dial: deps.Dial, log: deps.Log.With("component", "vrepl"), metrics: m,
		running: map[streamID]*runningStream{}, stopping: map[streamID]*runningStream{}, paused: map[string]int{}, kick: make(chan struct{}, 1),
	}, nil
}

// SetPrimary says whether the tablet is its shard's writable primary now:
// streams run only then. It returns at once.
func (e *Engine) SetPrimary(primary bool) {
	e.mu.Lock()
	changed := e.primary != primary
	e.primary = primary
	if primary {
		e.forget = true
	}
	e.mu.Unlock()
	if changed {
		e.wake()
	}
}

func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Run follows the keyspace's workflow records and runs their streams
// until ctx ends; then it stops every stream and returns.
func (e *Engine) Run(ctx context.Context) {
	e.mu.Lock()
	e.runCtx = ctx
	e.mu.Unlock()
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		e.watchWorkflows(ctx)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		e.reconcile(ctx)
		select {
		case <-ctx.Done():
			watch.Wait()
			e.stopAll()
			return
		case <-e.kick:
		case <-tick.C:
			e.updateLag()
		}
	}
}

// watchWorkflows keeps e.records current, watching again after a failure.
func (e *Engine) watchWorkflows(ctx context.Context) {
	pause := 200 * time.Millisecond
	for ctx.Err() == nil {
		initial, events, err := e.ts.WatchWorkflows(ctx, e.ks)
		if err != nil {
			e.log.Warn("cannot watch workflow records; retrying", "err", err, "pause", pause)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return
			}
			pause = min(pause*2, 5*time.Second)
			continue
		}
		pause = 200 * time.Millisecond
		e.mu.Lock()
		e.records, e.known = initial, true
		e.mu.Unlock()
		e.wake()
		for ev := range events {
			if ev.Err != nil {
				break
			}
			e.mu.Lock()
			if ev.Workflow == nil {
				delete(e.records, ev.Name)
				// Its streams may not run here (stopped, frozen): their
				// stored state goes all the same.
				e.forget = true
			} else {
				e.records[ev.Name] = ev.Workflow
			}
			e.mu.Unlock()
			e.wake()
		}
	}
}

// wanted is a stream this tablet should run.
type wanted struct {
	rec    *vreplicationpb.Workflow
	source string
	kr     *topodatapb.KeyRange
	rules  []*vreplicationpb.TableRule
}

// desired lists the streams the records ask of this shard (whether or
// not they should run now).
func (e *Engine) desired(records map[string]*vreplicationpb.Workflow) map[streamID]wanted {
	out := map[streamID]wanted{}
	for _, rec := range records {
		if !slices.Contains(rec.TargetShards, e.shard) {
			continue
		}
		for _, w := range streamsOf(rec, e.kr) {
			out[streamID{rec.Name, w.source}] = w
		}
	}
	return out
}

// streamsOf returns the streams of rec into a target of range kr: one
// per source shard whose range meets kr (StreamMeets). Reference tables
// come from the first such source only.
func streamsOf(rec *vreplicationpb.Workflow, kr *topodatapb.KeyRange) []wanted {
	type src struct {
		name string
		kr   *topodatapb.KeyRange
	}
	var srcs []src
	for _, s := range rec.SourceShards {
		skr, err := keyrange.Parse(s)
		if err != nil || !StreamMeets(rec, skr, kr) {
			continue
		}
		srcs = append(srcs, src{s, skr})
	}
	sort.Slice(srcs, func(i, j int) bool { return keyrange.Less(srcs[i].kr, srcs[j].kr) })
	var out []wanted
	for i, s := range srcs {
		var rules []*vreplicationpb.TableRule
		for _, r := range rec.Tables {
			if r.Reference && i > 0 {
				continue
			}
			rules = append(rules, r)
		}
		out = append(out, wanted{rec: rec, source: s.name, kr: s.kr, rules: rules})
	}
	return out
}

// StreamMeets reports whether workflow rec streams from a source shard of
// range source into a target shard of range target. A reshard places rows
// by the same vindex on both sides, so only shards whose ranges meet
// share rows; a table move places them by the target keyspace's vindexes,
// which the source's shards do not follow, so every source feeds every
// target; so does a lookup backfill, whose entries are placed by the
// lookup table's vindex.
func StreamMeets(rec *vreplicationpb.Workflow, source, target *topodatapb.KeyRange) bool {
	if rec.Type == vreplicationpb.WorkflowType_MOVE_TABLES || rec.Type == vreplicationpb.WorkflowType_LOOKUP {
		return true
	}
	return keyrange.Intersect(source, target)
}

// sameStreams reports whether two versions of a workflow record ask for
// the same streams: what a traffic switch records of the traffic alone
// (switched types, the reverse workflow's name) restarts none.
func sameStreams(a, b *vreplicationpb.Workflow) bool {
	strip := func(wf *vreplicationpb.Workflow) *vreplicationpb.Workflow {
		c := proto.Clone(wf).(*vreplicationpb.Workflow)
		c.SwitchedTypes, c.Reverse = nil, ""
		return c
	}
	return proto.Equal(strip(a), strip(b))
}

// reconcile starts the streams that should run and stops the others.
func (e *Engine) reconcile(ctx context.Context) {
	e.mu.Lock()
	if !e.known {
		e.mu.Unlock()
		return
	}
	want := e.desired(e.records)
	var stop []*runningStream
	var stopIDs []streamID
	for id, rs := range e.running {
		w, ok := want[id]
		if !e.primary || !ok || w.rec.State != vreplicationpb.WorkflowState_RUNNING || e.paused[id.workflow] > 0 || !sameStreams(w.rec, rs.rec) {
			stop = append(stop, rs)
			stopIDs = append(stopIDs, id)
		}
	}
	for i, id := range stopIDs {
		delete(e.running, id)
		e.stopping[id] = stop[i]
	}
	e.mu.Unlock()
	for _, rs := range stop {
		rs.cancel()
	}
	for i, rs := range stop {
		<-rs.done
		e.stopped(stopIDs[i], rs)
		rs.s.m.forget()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.primary || ctx.Err() != nil {
		return
	}
	for id, w := range want {
		if _, ok := e.running[id]; ok || w.rec.State != vreplicationpb.WorkflowState_RUNNING || e.paused[id.workflow] > 0 {
			continue
		}
		s := newStream(e, w.rec, w.source, w.kr, w.rules)
		sctx, cancel := context.WithCancel(ctx)
		rs := &runningStream{s: s, rec: w.rec, cancel: cancel, done: make(chan struct{})}
		e.running[id] = rs
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer close(rs.done)
			s.run(sctx)
		}()
	}
	if len(stop) > 0 || e.forget {
		e.forget = false
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.forgetDeleted(ctx)
		}()
	}
}

// forgetDeleted drops the stored state of workflows that have no record
// any more.
func (e *Engine) forgetDeleted(ctx context.Context) {
	e.mu.Lock()
	records := maps(e.records)
	primary := e.primary
	e.mu.Unlock()
	if !primary {
		return
	}
	a, done, err := dialTarget(ctx, e.acc, e.db, 1<<20)
	if err != nil {
		return
	}
	defer done()
	res, err := a.conn.Execute("SELECT DISTINCT workflow FROM _mosaic.vreplication", 0)
	if err != nil {
		return
	}
	for _, raw := range res.Rows {
		vals, err := rowValues(raw, 1)
		if err != nil {
			continue
		}
		name := string(vals[0])
		if _, ok := records[name]; ok {
			continue
		}
		if err := a.inTx(deleteStateStatements(name)...); err != nil {
			e.log.Warn("cannot forget a deleted workflow's streams", "workflow", name, "err", err)
			continue
		}
		e.log.Info("workflow deleted; its streams' state is gone", "workflow", name)
	}
}

func maps(m map[string]*vreplicationpb.Workflow) map[string]*vreplicationpb.Workflow {
	out := make(map[string]*vreplicationpb.Workflow, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// stopped forgets stream id, told to stop, once its goroutine ended.
func (e *Engine) stopped(id streamID, rs *runningStream) {
	e.mu.Lock()
	if e.stopping[id] == rs {
		delete(e.stopping, id)
	}
	e.mu.Unlock()
}

// stopAll stops every stream and waits for them.
func (e *Engine) stopAll() {
	e.mu.Lock()
	running := e.running
	e.running = map[streamID]*runningStream{}
	e.mu.Unlock()
	for _, rs := range running {
		rs.cancel()
	}
	for _, rs := range running {
		<-rs.done
	}
	e.wg.Wait()
}

// updateLag refreshes the lag gauges of running streams.
func (e *Engine) updateLag() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rs := range e.running {
		rs.s.mu.Lock()
		if rs.s.rt.phase == phaseRunning && !rs.s.rt.lagAt.IsZero() {
			rs.s.m.lag.Set(time.Since(rs.s.rt.lagAt).Seconds())
		}
		rs.s.mu.Unlock()
	}
}

// Status reports the streams of workflow (every workflow when empty) on
// this tablet: the running ones as they are, the others as stored.
func (e *Engine) Status(ctx context.Context, workflow string) ([]*vreplicationpb.StreamStatus, error) {
	e.mu.Lock()
	primary := e.primary
	records := maps(e.records)
	live := map[streamID]*vreplicationpb.StreamStatus{}
	for _, streams := range []map[streamID]*runningStream{e.stopping, e.running} {
		for id, rs := range streams {
			if workflow == "" || id.workflow == workflow {
				live[id] = rs.s.status(e.shard)
			}
		}
	}
	e.mu.Unlock()
	if !primary {
		return nil, status.Errorf(codes.FailedPrecondition, "tablet is not the primary of %s/%s: streams run on the primary", e.ks, e.shard)
	}
	a, done, err := dialTarget(ctx, e.acc, e.db, 1<<20)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	defer done()
	q := "SELECT workflow, source_shard, epoch, pos, phase, rows_copied, rows_total, transactions, message FROM _mosaic.vreplication"
	if workflow != "" {
		q += " WHERE workflow = " + sqlString(workflow)
	}
	res, err := a.conn.Execute(q+" ORDER BY workflow, source_shard", 0)
	if err != nil {
		return nil, err
	}
	var out []*vreplicationpb.StreamStatus
	seen := map[streamID]bool{}
	for _, raw := range res.Rows {
		v, err := rowValues(raw, 9)
		if err != nil {
			return nil, err
		}
		id := streamID{string(v[0]), string(v[1])}
		seen[id] = true
		if st, ok := live[id]; ok {
			out = append(out, st)
			continue
		}
		st := &vreplicationpb.StreamStatus{Workflow: id.workflow, SourceShard: id.source, TargetShard: e.shard,
			Phase: string(v[4]), Position: string(v[3]), Message: string(v[8])}
		fmt.Sscan(string(v[2]), &st.Epoch)
		fmt.Sscan(string(v[5]), &st.RowsCopied)
		fmt.Sscan(string(v[6]), &st.RowsTotal)
		fmt.Sscan(string(v[7]), &st.TransactionsApplied)
		switch rec := records[id.workflow]; {
		case rec == nil:
			st.Message = "workflow record deleted"
			st.Phase = phaseStopped
		case rec.State == vreplicationpb.WorkflowState_STOPPED:
			st.Phase = phaseStopped
		case rec.State == vreplicationpb.WorkflowState_FROZEN:
			st.Phase = phaseFrozen
		default:
			if st.Message == "" {
				st.Message = "not running on this tablet yet"
			}
		}
		st.LagSeconds = -1
		out = append(out, st)
	}
	for id, st := range live {
		if !seen[id] {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Workflow != out[j].Workflow {
			return out[i].Workflow < out[j].Workflow
		}
		return out[i].SourceShard < out[j].SourceShard
	})
	return out, nil
}

// Running reports the streams running here now, without reading mysqld
// (for status pages).
func (e *Engine) Running() []*vreplicationpb.StreamStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*vreplicationpb.StreamStatus
	for _, rs := range e.running {
		out = append(out, rs.s.status(e.shard))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Workflow != out[j].Workflow {
			return out[i].Workflow < out[j].Workflow
		}
		return out[i].SourceShard < out[j].SourceShard
	})
	return out
}

// WaitForPosition waits until the running stream of workflow from source
// has applied pos, ctx ends (its error) or the stream stops running.
func (e *Engine) WaitForPosition(ctx context.Context, workflow, source string, pos Position) (Position, error) {
	for {
		e.mu.Lock()
		rs := e.running[streamID{workflow, source}]
		e.mu.Unlock()
		if rs == nil {
			return Position{}, status.Errorf(codes.FailedPrecondition, "no stream of workflow %s from %s runs on %s/%s", workflow, source, e.ks, e.shard)
		}
		cur, moved := rs.s.position()
		if cur.AtLeast(pos) {
			return cur, nil
		}
		select {
		case <-moved:
		case <-rs.done:
		case <-ctx.Done():
			return cur, status.Errorf(codes.DeadlineExceeded, "stream %s from %s is at %s, not yet at %s: %v", workflow, source, cur, pos, ctx.Err())
		}
	}
}

// errNoSource says no tablet of a source shard could be reached.
var errNoSource = errors.New("no tablet of the source shard answers")
