package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
	"github.com/mosaicdb/mosaic/topo"
)

// Traffic switches of a reshard workflow.
//
// A workflow's forward streams (sources -> targets) feed the targets
// while the sources take writes; once primary traffic is on the targets,
// the reverse workflow's streams (targets -> sources, record
// <name>_reverse, made by the first switch) feed the sources instead, so
// that going back loses nothing. Exactly one of the two runs: the other
// is FROZEN. Each switch of primary traffic:
//
//  1. checks that the streams feeding the new side run and lag less than
//     MaxLag (else it refuses, changing nothing);
//  2. fences the old side (topo.BeginSwitch: the keyspace's switching
//     flag, on which gates hold its primary statements, and the old
//     primaries' query service disabled, in one commit);
//  3. asks each old primary to apply the fence at once (RefreshState),
//     which returns once drained with its GTID position: every write it
//     acknowledged is at or before it;
//  4. waits until every stream feeding the new side has applied exactly
//     up to those positions (CatchUpTimeout), then stops them: their
//     workflow is STOPPED, and the new primaries report the streams
//     stopped (stopFeed), so that none is left following the old side
//     once the other workflow applies the new side's writes there;
//  5. reads the new primaries' GTID positions: everything there up to
//     them is the old side's data, so the streams the other way start
//     from them;
//  6. in one topo commit (topo.SwitchServedShards with the workflow
//     records in SwitchRequest.Also, all under version checks): the
//     keyspace's primary traffic moves, every cell's serving graph with
//     it, the new primaries' query service is on, the switching flag is
//     off, the feeding workflow is FROZEN and the other one RUNNING from
//     the positions of step 5 (a new epoch: its streams start there
//     without a copy). Gates pick up the new graph and release what they
//     held onto the new shards.
//
// A failure at steps 3 to 6 cancels the switch (topo.CancelSwitch: the
// flag goes, the old primaries serve again) and the error says so; the
// records are as before (the feeding workflow runs again). Reads
// (REPLICA, RDONLY) move with step 6 alone, after the check of step 1
// when the new side is fed by streams.

// TrafficRequest asks for a traffic switch of a workflow.
type TrafficRequest struct {
	Keyspace, Workflow string
	// TabletTypes to move; empty: every type not moved yet (switch), or
	// every type moved (reverse), reads first.
	TabletTypes []topodatapb.TabletType
	// MaxLag: the streams that feed the shards taking traffic must lag
	// less than this (0: DefaultMaxLag).
	MaxLag time.Duration
	// CatchUpTimeout bounds the wait for the streams to reach the fenced
	// primaries' positions (0: DefaultCatchUpTimeout). Gates hold writes
	// meanwhile: keep it under their --buffer-window.
	CatchUpTimeout time.Duration
	// DrainTimeout bounds the fenced primaries' wait for their open
	// transactions (0: the tablets' --query-service-drain-timeout).
	DrainTimeout time.Duration
}

// Defaults of TrafficRequest.
const (
	DefaultMaxLag         = 2 * time.Second
	DefaultCatchUpTimeout = 5 * time.Second
)

// SwitchStep is one traffic move a switch made.
type SwitchStep struct {
	TabletTypes []topodatapb.TabletType
	From, To    []string
	// FromKeyspace and ToKeyspace are set by a table move: the keyspaces
	// of From and To.
	FromKeyspace, ToKeyspace string
	// For PRIMARY: Fence is the fence's topo commit (gates hold writes
	// from when it lands), Drain the wait for the old primaries to apply
	// it, CatchUp the wait for the streams, Stop the wait for them to
	// stop (stopFeed), Commit the switch's topo commit (gates release
	// writes once they see it); Pause is from the start of the fence to
	// the end of the commit, what gates held writes for at most (plus
	// their watch's delay).
	Fence, Drain, CatchUp, Stop, Commit, Pause time.Duration
	// Positions are the fenced primaries' positions (PRIMARY only).
	Positions map[string]string
	// Reverse names the workflow that now feeds the old side.
	Reverse string
}

// ErrRolledBack marks a switch that failed after it fenced the sources
// and was cancelled: traffic is where it was.
var ErrRolledBack = errors.New("the switch was rolled back: traffic stays where it was")

// SwitchTraffic moves the workflow's traffic to its target shards: the
// given tablet types, reads before primary. It returns the steps made;
// on error the steps before the failed one stand.
func (m *Manager) SwitchTraffic(ctx context.Context, req TrafficRequest) ([]SwitchStep, error) {
	return m.moveTraffic(ctx, req, true)
}

// ReverseTraffic moves the workflow's traffic back to its source shards,
// whose reverse streams have kept them in step since the switch.
func (m *Manager) ReverseTraffic(ctx context.Context, req TrafficRequest) ([]SwitchStep, error) {
	return m.moveTraffic(ctx, req, false)
}

func (m *Manager) moveTraffic(ctx context.Context, req TrafficRequest, toTargets bool) ([]SwitchStep, error) {
	if req.MaxLag <= 0 {
		req.MaxLag = DefaultMaxLag
	}
	if req.CatchUpTimeout <= 0 {
		req.CatchUpTimeout = DefaultCatchUpTimeout
	}
	wf, _, err := m.getWorkflow(ctx, req.Keyspace, req.Workflow)
	if err != nil {
		return nil, err
	}
	if wf.IsReverse {
		return nil, fmt.Errorf("workflow %s is the reverse of %s: switch or reverse the traffic of %s", wf.Name, wf.Reverse, wf.Reverse)
	}
	switch wf.Type {
	case vreplicationpb.WorkflowType_RESHARD:
	case vreplicationpb.WorkflowType_MOVE_TABLES:
		return m.moveTablesTraffic(ctx, req, wf, toTargets)
	default:
		return nil, fmt.Errorf("workflow %s is a %v: it has no traffic to switch", wf.Name, wf.Type)
	}
	types, err := trafficTypes(wf, req.TabletTypes, toTargets)
	if err != nil {
		return nil, err
	}
	var steps []SwitchStep
	// Reads first, together; then primary.
	var reads []topodatapb.TabletType
	for _, tt := range types {
		if tt != topodatapb.TabletType_PRIMARY {
			reads = append(reads, tt)
		}
	}
	if len(reads) > 0 {
		st, err := m.moveReads(ctx, req, reads, toTargets)
		if err != nil {
			return steps, err
		}
		steps = append(steps, st)
	}
	if slices.Contains(types, topodatapb.TabletType_PRIMARY) {
		st, err := m.movePrimary(ctx, req, toTargets)
		if err != nil {
			return steps, err
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// trafficTypes checks the tablet types asked for against what the
// workflow has moved, and fills in the default.
func trafficTypes(wf *vreplicationpb.Workflow, asked []topodatapb.TabletType, toTargets bool) ([]topodatapb.TabletType, error) {
	moved := func(tt topodatapb.TabletType) bool { return slices.Contains(wf.SwitchedTypes, tt) }
	order := []topodatapb.TabletType{topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY, topodatapb.TabletType_PRIMARY}
	var out []topodatapb.TabletType
	if len(asked) == 0 {
		for _, tt := range order {
			if moved(tt) != toTargets {
				out = append(out, tt)
			}
		}
		if len(out) == 0 {
			if toTargets {
				return nil, fmt.Errorf("workflow %s: every tablet type's traffic is on the target shards already (complete it, or reverse-traffic)", wf.Name)
			}
			return nil, fmt.Errorf("workflow %s: no traffic has been switched to the target shards", wf.Name)
		}
		return out, nil
	}
	for _, tt := range order {
		if !slices.Contains(asked, tt) {
			continue
		}
		if moved(tt) == toTargets {
			where := "source"
			if toTargets {
				where = "target"
			}
			return nil, fmt.Errorf("workflow %s: %s traffic is on the %s shards already", wf.Name, topo.TabletTypeString(tt), where)
		}
		out = append(out, tt)
	}
	for _, tt := range asked {
		if !slices.Contains(order, tt) {
			return nil, fmt.Errorf("tablet type %s has no traffic to switch (primary, replica, rdonly)", topo.TabletTypeString(tt))
		}
	}
	return out, nil
}

// sides returns the shards traffic leaves and those it goes to.
func sides(wf *vreplicationpb.Workflow, toTargets bool) (from, to []string) {
	if toTargets {
		return wf.SourceShards, wf.TargetShards
	}
	return wf.TargetShards, wf.SourceShards
}

func reverseName(wf *vreplicationpb.Workflow) string {
	if wf.Reverse != "" {
		return wf.Reverse
	}
	return wf.Name + "_reverse"
}

// getWorkflow reads a workflow record, with a clear error when missing.
func (m *Manager) getWorkflow(ctx context.Context, ks, name string) (*vreplicationpb.Workflow, topo.Version, error) {
	wf, v, err := m.ts.GetWorkflow(ctx, ks, name)
	if errors.Is(err, topo.ErrNoNode) {
		return nil, 0, fmt.Errorf("workflow %s not found in keyspace %s: %w", name, ks, err)
	}
	return wf, v, err
}

// feeding returns the workflow whose streams bring the data into the
// side traffic goes to (the forward one toward the targets, the reverse
// one toward the sources), or nil when there is none yet.
func (m *Manager) feeding(ctx context.Context, fwd *vreplicationpb.Workflow, toTargets bool) (*vreplicationpb.Workflow, error) {
	if toTargets {
		return fwd, nil
	}
	rev, _, err := m.ts.GetWorkflow(ctx, fwd.SourceKeyspace, reverseName(fwd))
	if errors.Is(err, topo.ErrNoNode) {
		return nil, nil
	}
	return rev, err
}

// readyWait is how long checkStreams gives streams to be ready: one that
// has just (re)started knows its lag at its source's next event or
// heartbeat.
const readyWait = 3 * time.Second

// checkStreams refuses when a stream of wf does not run or lags maxLag
// or more (for readyWait).
func (m *Manager) checkStreams(ctx context.Context, wf *vreplicationpb.Workflow, maxLag time.Duration) error {
	deadline := time.Now().Add(readyWait)
	for {
		r, err := m.Show(ctx, wf.TargetKeyspace, wf.Name)
		if err != nil {
			return err
		}
		ok, why := r.Caught(maxLag.Seconds())
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("workflow %s is not ready for a switch (%s): streams must run with a lag under %v; nothing changed", wf.Name, why, maxLag)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// moveReads moves the read traffic of types in one commit, with the
// workflow record's switched types.
func (m *Manager) moveReads(ctx context.Context, req TrafficRequest, types []topodatapb.TabletType, toTargets bool) (SwitchStep, error) {
	wf, wv, err := m.getWorkflow(ctx, req.Keyspace, req.Workflow)
	if err != nil {
		return SwitchStep{}, err
	}
	from, to := sides(wf, toTargets)
	step := SwitchStep{TabletTypes: types, From: from, To: to}
	ks, kv, err := m.ts.GetKeyspaceVersion(ctx, wf.TargetKeyspace)
	if err != nil {
		return step, err
	}
	// The side that takes reads is current when it takes writes too;
	// else its streams must keep it so.
	if !containsAll(topo.ServedShards(ks, topodatapb.TabletType_PRIMARY), to) {
		feed, err := m.feeding(ctx, wf, toTargets)
		if err != nil {
			return step, err
		}
		if feed == nil {
			return step, fmt.Errorf("workflow %s: nothing keeps the source shards in step: no reverse workflow", wf.Name)
		}
		if err := m.checkStreams(ctx, feed, req.MaxLag); err != nil {
			return step, err
		}
	}
	// The message stays: a changed message restarts the streams (see
	// Start), and reads moving must not.
	next := proto.Clone(wf).(*vreplicationpb.Workflow)
	next.SwitchedTypes = withTypes(next.SwitchedTypes, types, toTargets)
	op, err := topo.WorkflowOp(wf.TargetKeyspace, next, wv)
	if err != nil {
		return step, err
	}
	start := time.Now()
	_, err = m.ts.SwitchServedShards(ctx, topo.SwitchRequest{Keyspace: wf.TargetKeyspace, TabletTypes: types, From: from, To: to, KeyspaceVersion: kv, Also: []topo.Op{op}})
	step.Commit = time.Since(start)
	if err != nil {
		return step, fmt.Errorf("%s traffic stays on %s: %w", typeList(types), keyrange.Names(from), err)
	}
	m.Log.Info("read traffic switched", "keyspace", wf.TargetKeyspace, "workflow", wf.Name, "types", typeList(types), "to", to)
	return step, nil
}

// movePrimary moves primary traffic (see the steps above).
func (m *Manager) movePrimary(ctx context.Context, req TrafficRequest, toTargets bool) (SwitchStep, error) {
	primary := []topodatapb.TabletType{topodatapb.TabletType_PRIMARY}
	fwd, fv, err := m.getWorkflow(ctx, req.Keyspace, req.Workflow)
	if err != nil {
		return SwitchStep{}, err
	}
	from, to := sides(fwd, toTargets)
	step := SwitchStep{TabletTypes: primary, From: from, To: to, Reverse: reverseName(fwd)}
	ksName := fwd.TargetKeyspace
	ks, kv, err := m.ts.GetKeyspaceVersion(ctx, ksName)
	if err != nil {
		return step, err
	}
	if sw := ks.GetSwitching(); sw != nil {
		return step, fmt.Errorf("keyspace %s has a traffic switch under way since %s (%s): wait for it, or end it with `mosaicctl keyspace cancel-switch %s`",
			ksName, time.Unix(0, sw.StartedUnixNano).UTC().Format(time.RFC3339), sw.Reason, ksName)
	}
	// The workflow feeding the new side and the one that will feed the
	// old side once the switch is made.
	rev, rv, err := m.ts.GetWorkflow(ctx, fwd.SourceKeyspace, step.Reverse)
	switch {
	case errors.Is(err, topo.ErrNoNode):
		rev, rv = nil, 0
	case err != nil:
		return step, err
	case !rev.IsReverse || rev.Reverse != fwd.Name:
		return step, fmt.Errorf("workflow %s exists and is not the reverse of %s: the reverse workflow needs its name", step.Reverse, fwd.Name)
	}
	feed, back, feedV, backV := fwd, rev, fv, rv
	if !toTargets {
		if rev == nil {
			return step, fmt.Errorf("workflow %s: no reverse workflow keeps the sources in step", fwd.Name)
		}
		feed, back, feedV, backV = rev, fwd, rv, fv
	}
	if err := m.checkStreams(ctx, feed, req.MaxLag); err != nil {
		return step, err
	}
	// Every call of the steps below goes to a client opened now, so that
	// none of them dials while writes are held.
	clients, err := m.dialPrimaries(ctx, ksName, append(slices.Clone(from), to...))
	if err != nil {
		return step, fmt.Errorf("primary traffic stays on %s, nothing changed: %w", keyrange.Names(from), err)
	}
	defer clients.close()

	// The fence.
	reason := fmt.Sprintf("reshard %s.%s: primary traffic %s -> %s", ksName, fwd.Name, keyrange.Names(from), keyrange.Names(to))
	start := time.Now()
	kv, err = m.ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: ksName, TabletTypes: primary, Fence: from, KeyspaceVersion: kv, Reason: reason, StartedUnixNano: start.UnixNano()})
	if err != nil {
		return step, fmt.Errorf("primary traffic stays on %s, nothing changed: %w", keyrange.Names(from), err)
	}
	step.Fence = time.Since(start)
	m.Log.Info("sources fenced; gates hold the keyspace's writes", "keyspace", ksName, "workflow", fwd.Name, "fenced", from)
	stoppedV := topo.Version(0) // the feed's record, once stopFeed stopped it
	fail := func(what string, cause error) (SwitchStep, error) {
		step.Pause = time.Since(start)
		err := m.rollback(ctx, ksName, from, what, cause)
		if stoppedV != 0 {
			if rerr := m.restartFeed(ctx, feed, stoppedV); rerr != nil {
				err = fmt.Errorf("%w; and %w", err, rerr)
			}
		}
		return step, err
	}

	// Drain: every write the old primaries acknowledged is at or before
	// their positions.
	t := time.Now()
	step.Positions, err = m.drain(ctx, clients, from, req.DrainTimeout)
	if err != nil {
		return fail("draining the fenced primaries", err)
	}
	step.Drain = time.Since(t)

	// Catch-up to exactly those positions.
	t = time.Now()
	if err := m.catchUp(ctx, clients, feed, to, step.Positions, req.CatchUpTimeout); err != nil {
		return fail("catching up with the fenced primaries", err)
	}
	step.CatchUp = time.Since(t)

	// The streams that caught up stop before the targets take writes.
	t = time.Now()
	stoppedV, err = m.stopFeed(ctx, clients, feed, feedV, to, req.CatchUpTimeout)
	if err != nil {
		return fail("stopping the streams into the new primaries", err)
	}
	feedV = stoppedV
	step.Stop = time.Since(t)

	// Where the streams the other way start.
	starts, err := m.primaryPositions(ctx, clients, to)
	if err != nil {
		return fail("reading the new primaries' positions", err)
	}

	// The records, switched in one commit.
	now := time.Now().UTC().Format(time.RFC3339)
	nextFeed := proto.Clone(feed).(*vreplicationpb.Workflow)
	nextFeed.State = vreplicationpb.WorkflowState_FROZEN
	backName := step.Reverse
	if !toTargets {
		backName = fwd.Name
	}
	nextFeed.Message = fmt.Sprintf("primary traffic moved to %s at %s: frozen while %s feeds the other way", keyrange.Names(to), now, backName)
	var nextBack *vreplicationpb.Workflow
	if back == nil {
		nextBack = &vreplicationpb.Workflow{
			Name: step.Reverse, Type: fwd.Type, SourceKeyspace: fwd.TargetKeyspace, TargetKeyspace: fwd.SourceKeyspace,
			SourceShards: fwd.TargetShards, TargetShards: fwd.SourceShards, Tables: fwd.Tables,
			CreatedUnixNano: time.Now().UnixNano(), Reverse: fwd.Name, IsReverse: true,
		}
	} else {
		nextBack = proto.Clone(back).(*vreplicationpb.Workflow)
	}
	nextBack.State = vreplicationpb.WorkflowState_RUNNING
	nextBack.Epoch++
	nextBack.StartPositions = starts
	nextBack.Message = fmt.Sprintf("started at %s from the positions of the switch of primary traffic to %s", now, keyrange.Names(to))
	nextFwd := nextFeed
	if !toTargets {
		nextFwd = nextBack
	}
	nextFwd.Reverse = step.Reverse
	nextFwd.SwitchedTypes = withTypes(nextFwd.SwitchedTypes, primary, toTargets)
	feedOp, err := topo.WorkflowOp(feed.TargetKeyspace, nextFeed, feedV)
	if err != nil {
		return fail("writing the workflow records", err)
	}
	backOp, err := topo.WorkflowOp(nextBack.TargetKeyspace, nextBack, backV)
	if err != nil {
		return fail("writing the workflow records", err)
	}
	t = time.Now()
	_, err = m.ts.SwitchServedShards(ctx, topo.SwitchRequest{Keyspace: ksName, TabletTypes: primary, From: from, To: to, KeyspaceVersion: kv, Also: []topo.Op{feedOp, backOp}})
	if err != nil && !m.switched(ctx, ksName, to) {
		return fail("switching the serving graph", err)
	}
	step.Commit = time.Since(t)
	step.Pause = time.Since(start)
	m.Log.Info("primary traffic switched", "keyspace", ksName, "workflow", fwd.Name, "to", to, "pause", step.Pause, "positions", step.Positions, "reverse_from", starts)
	return step, nil
}

// switched reports whether primary traffic of ks is on shards: after a
// commit whose outcome is unknown (its answer was lost), the record
// tells.
func (m *Manager) switched(ctx context.Context, ks string, shards []string) bool {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rec, _, err := m.ts.GetKeyspaceVersion(rctx, ks)
	return err == nil && containsAll(topo.ServedShards(rec, topodatapb.TabletType_PRIMARY), shards) && rec.Switching == nil
}

// rollback cancels a switch that failed at what: the switching flag goes
// and the fenced primaries serve again.
func (m *Manager) rollback(ctx context.Context, ks string, from []string, what string, cause error) error {
	// Even when ctx ended (the operator interrupted the switch): the
	// writes must not stay held.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if _, err = m.ts.CancelSwitch(rctx, ks, 0); err == nil || errors.Is(err, topo.ErrNotSwitching) {
			err = nil
			break
		}
		select {
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		case <-rctx.Done():
		}
	}
	if err != nil {
		m.Log.Error("cannot cancel a failed switch", "keyspace", ks, "err", err)
		return fmt.Errorf("switch failed %s: %w; and its cancellation failed too (%v): the sources %s stay fenced and gates hold writes until `mosaicctl keyspace cancel-switch %s` succeeds",
			what, cause, err, keyrange.Names(from), ks)
	}
	// The old primaries serve again once they see their shard records;
	// ask them now rather than wait for their watch.
	m.refresh(rctx, ks, from)
	m.Log.Warn("switch failed and was rolled back", "keyspace", ks, "at", what, "err", cause)
	return fmt.Errorf("switch failed %s: %w; %w (on %s)", what, cause, ErrRolledBack, keyrange.Names(from))
}

// refresh asks the primaries of shards to apply their shard records now;
// failures are left to their watches.
func (m *Manager) refresh(ctx context.Context, ks string, shards []string) {
	var wg sync.WaitGroup
	for _, sh := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := m.dialPrimary(ctx, ks, sh)
			if err != nil {
				return
			}
			defer c.Close()
			c.TM.RefreshState(ctx, &tabletmanagerpb.RefreshStateRequest{})
		}()
	}
	wg.Wait()
}

// primaries are open clients of the primaries of shards.
type primaries map[string]*primaryClient

type primaryClient struct {
	c *tmclient.Client
	t *topodatapb.Tablet
}

func (p primaries) close() {
	for _, pc := range p {
		pc.c.Close()
	}
}

// dialPrimaries opens a client of the primary of each shard.
func (m *Manager) dialPrimaries(ctx context.Context, ks string, shards []string) (primaries, error) {
	out := primaries{}
	for _, sh := range shards {
		c, t, err := m.dialPrimary(ctx, ks, sh)
		if err != nil {
			out.close()
			return nil, err
		}
		out[sh] = &primaryClient{c, t}
	}
	return out, nil
}

// drain makes the fenced primaries of shards apply their fence now and
// returns their positions once drained.
func (m *Manager) drain(ctx context.Context, clients primaries, shards []string, timeout time.Duration) (map[string]string, error) {
	return eachShard(shards, func(sh string) (string, error) {
		pc := clients[sh]
		resp, err := pc.c.TM.RefreshState(ctx, &tabletmanagerpb.RefreshStateRequest{DrainTimeoutMs: timeout.Milliseconds()})
		if err != nil {
			return "", fmt.Errorf("fence primary %s of %s: %w", topo.AliasString(pc.t.Alias), sh, err)
		}
		if !resp.QueryServiceDisabled || resp.Position == "" {
			return "", fmt.Errorf("primary %s of %s did not take the fence (query service disabled %v, position %q)", topo.AliasString(pc.t.Alias), sh, resp.QueryServiceDisabled, resp.Position)
		}
		return resp.Position, nil
	})
}

// stopFeed stops workflow feed, whose record is at version v, and
// waits until none of its streams runs on the primaries of the shards
// to, which take the traffic, within timeout. A switch stops them after
// they caught up and before the new side takes writes: a stream still
// running after the switch would go on following the old side, where the
// reverse streams apply the new side's writes, and apply them to the new
// side again, over newer writes of the same rows. The streams learn of
// the record by their tablets' watch; their tablets' WorkflowStatus
// reports a stream stopped only once it has. It returns the record's
// new version once it is written (even with an error), 0 when it is
// not; restartFeed undoes it.
func (m *Manager) stopFeed(ctx context.Context, clients primaries, feed *vreplicationpb.Workflow, v topo.Version, to []string, timeout time.Duration) (topo.Version, error) {
	stopped := proto.Clone(feed).(*vreplicationpb.Workflow)
	stopped.State = vreplicationpb.WorkflowState_STOPPED
	stopped.Message = "stopped for a traffic switch: its streams stop before the other side takes writes"
	op, err := topo.WorkflowOp(feed.TargetKeyspace, stopped, v)
	if err != nil {
		return 0, err
	}
	nv, err := m.ts.Store().Commit(ctx, []topo.Op{op})
	if err != nil {
		return 0, fmt.Errorf("stop workflow %s: %w", feed.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = eachShard(to, func(sh string) (string, error) {
		for {
			resp, err := clients[sh].c.VR.WorkflowStatus(ctx, &vreplicationpb.WorkflowStatusRequest{Workflow: feed.Name})
			running := ""
			for _, st := range resp.GetStreams() {
				if st.Workflow == feed.Name && st.Phase != "stopped" {
					running = fmt.Sprintf("stream %s -> %s is %s", st.SourceShard, sh, st.Phase)
				}
			}
			if err == nil && running == "" {
				return "", nil
			}
			if err != nil {
				running = err.Error()
			}
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("the streams of workflow %s into %s did not stop within %v: %s", feed.Name, sh, timeout, running)
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return nv, err
}

// restartFeed writes back record feed, which stopFeed stopped at version
// v, after a switch failed: its streams run again.
func (m *Manager) restartFeed(ctx context.Context, feed *vreplicationpb.Workflow, v topo.Version) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	op, err := topo.WorkflowOp(feed.TargetKeyspace, feed, v)
	if err == nil {
		_, err = m.ts.Store().Commit(rctx, []topo.Op{op})
	}
	if err != nil {
		m.Log.Error("cannot restart the streams of a workflow after a failed switch", "workflow", feed.Name, "err", err)
		return fmt.Errorf("workflow %s of keyspace %s stays stopped (run its `start` command): %w", feed.Name, feed.TargetKeyspace, err)
	}
	return nil
}

// catchUp waits until every stream of wf into the shards to has applied
// its source's position.
func (m *Manager) catchUp(ctx context.Context, clients primaries, wf *vreplicationpb.Workflow, to []string, positions map[string]string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var waits []string // "target source"
	for _, target := range to {
		tkr, err := keyrange.Parse(target)
		if err != nil {
			return err
		}
		for _, src := range wf.SourceShards {
			if skr, err := keyrange.Parse(src); err == nil && vrepl.StreamMeets(wf, skr, tkr) {
				waits = append(waits, target+" "+src)
			}
		}
	}
	_, err := eachShard(waits, func(w string) (string, error) {
		target, src, _ := strings.Cut(w, " ")
		if _, err := clients[target].c.VR.WaitForStreamPosition(ctx, &vreplicationpb.WaitForStreamPositionRequest{
			Workflow: wf.Name, SourceShard: src, Position: positions[src], TimeoutMs: timeout.Milliseconds(),
		}); err != nil {
			return "", fmt.Errorf("stream %s -> %s did not reach %s within %v: %w", src, target, positions[src], timeout, err)
		}
		return "", nil
	})
	return err
}

// primaryPositions returns the GTID positions of the primaries of shards.
func (m *Manager) primaryPositions(ctx context.Context, clients primaries, shards []string) (map[string]string, error) {
	return eachShard(shards, func(sh string) (string, error) {
		res, err := dbaExecutor{ctx, clients[sh].c}.Execute("SELECT @@gtid_binlog_pos AS pos", 1)
		if err != nil {
			return "", fmt.Errorf("position of the primary of %s: %w", sh, err)
		}
		rows, err := mysqlconn.NamedRows(res)
		if err != nil || len(rows) != 1 || rows[0]["pos"] == "" {
			return "", fmt.Errorf("position of the primary of %s: %v %v", sh, rows, err)
		}
		return rows[0]["pos"], nil
	})
}

// eachShard runs f for every shard at once and collects its results;
// the first error wins.
func eachShard(shards []string, f func(shard string) (string, error)) (map[string]string, error) {
	out := make(map[string]string, len(shards))
	errs := make([]error, len(shards))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, sh := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f(sh)
			mu.Lock()
			defer mu.Unlock()
			out[sh] = v
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// withTypes adds (add) or removes types from list.
func withTypes(list, types []topodatapb.TabletType, add bool) []topodatapb.TabletType {
	out := slices.DeleteFunc(slices.Clone(list), func(tt topodatapb.TabletType) bool { return slices.Contains(types, tt) })
	if add {
		out = append(out, types...)
	}
	slices.Sort(out)
	return out
}

// containsAll reports whether every shard of sub is in list.
func containsAll(list, sub []string) bool {
	for _, s := range sub {
		if !slices.Contains(list, s) {
			return false
		}
	}
	return true
}

// typeList names tablet types: "replica,rdonly".
func typeList(types []topodatapb.TabletType) string {
	names := make([]string, len(types))
	for i, tt := range types {
		names[i] = topo.TabletTypeString(tt)
	}
	return strings.Join(names, ",")
}
