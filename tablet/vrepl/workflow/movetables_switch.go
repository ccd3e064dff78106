package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/topo"
)

// Traffic switches of a table move.
//
// The routing rules say which keyspace serves the moved tables, per
// tablet type: the rules without a type are the primary's, and rules
// from "t@replica" or "t@rdonly" send one read type elsewhere (see
// routeTypes). Reads move alone in one commit of the rules and the
// workflow record (movetables_reads.go). Primary traffic moves in the
// steps of a reshard's switch of primary traffic (switch.go) with these
// differences: the fence is a switch of the keyspace the tables leave
// (topo.BeginSwitch: gates hold the statements planned for it, which are
// all statements for the moved tables whichever keyspace the client
// names, and its primaries' query service is disabled); the end is
// topo.EndSwitch, which lifts the fence and, in the same commit, rewrites
// the routing rules to the keyspace the tables go to and writes the two
// workflow records (the feeding one FROZEN, the other RUNNING from the
// new primaries' positions). The gates see the new rules with the end of
// the switch and release what they held: those statements are planned
// again, onto the new keyspace. Other tables of the fenced keyspace wait
// the same short while. A switch of primary traffic to the target takes
// the read types still on the source with it; a reverse moves back the
// types asked for (all those switched by default).

// moveTablesTraffic switches or reverses the traffic of a MOVE_TABLES
// workflow: the read types asked for alone, or primary traffic.
func (m *Manager) moveTablesTraffic(ctx context.Context, req TrafficRequest, wf *vreplicationpb.Workflow, toTargets bool) ([]SwitchStep, error) {
	types, err := moveTablesTypes(wf, req.TabletTypes, toTargets)
	if err != nil {
		return nil, err
	}
	var st SwitchStep
	if slices.Contains(types, topodatapb.TabletType_PRIMARY) {
		st, err = m.moveTablesPrimary(ctx, req, types, toTargets)
	} else {
		st, err = m.moveTablesReads(ctx, req, types, toTargets)
	}
	if err != nil {
		return nil, err
	}
	return []SwitchStep{st}, nil
}

// moveTablesTypes checks the tablet types asked for against those the
// workflow has switched (trafficTypes) and returns those that move: a
// switch of primary traffic to the target takes every read type still on
// the source with it, so that writes never go to the target while reads
// of the same tables stay on the source.
func moveTablesTypes(wf *vreplicationpb.Workflow, asked []topodatapb.TabletType, toTargets bool) ([]topodatapb.TabletType, error) {
	types, err := trafficTypes(wf, asked, toTargets)
	if err != nil {
		return nil, err
	}
	if toTargets && slices.Contains(types, topodatapb.TabletType_PRIMARY) {
		for _, tt := range readTypes {
			if !slices.Contains(wf.SwitchedTypes, tt) && !slices.Contains(types, tt) {
				types = append(types, tt)
			}
		}
	}
	// In allTypes' order, primary first: "primary,replica,rdonly".
	var out []topodatapb.TabletType
	for _, tt := range allTypes {
		if slices.Contains(types, tt) {
			out = append(out, tt)
		}
	}
	return out, nil
}

// moveTablesPrimary makes one switch of a table move's traffic (see
// above and movePrimary).
// types are those that move: PRIMARY and read types (moveTablesTypes).
func (m *Manager) moveTablesPrimary(ctx context.Context, req TrafficRequest, types []topodatapb.TabletType, toTargets bool) (SwitchStep, error) {
	fwd, fv, err := m.getWorkflow(ctx, req.Keyspace, req.Workflow)
	if err != nil {
		return SwitchStep{}, err
	}
	fromKs, toKs := fwd.SourceKeyspace, fwd.TargetKeyspace
	if !toTargets {
		fromKs, toKs = toKs, fromKs
	}
	from, to := sides(fwd, toTargets)
	step := SwitchStep{TabletTypes: slices.Clone(types), From: from, To: to, FromKeyspace: fromKs, ToKeyspace: toKs, Reverse: reverseName(fwd)}
	tables := tableNames(fwd)
	rr, rrv, err := m.ts.GetRoutingRulesVersion(ctx)
	if err != nil {
		return step, err
	}
	if err := checkRoutes(rr, fwd); err != nil {
		return step, err
	}
	ks, kv, err := m.ts.GetKeyspaceVersion(ctx, fromKs)
	if err != nil {
		return step, err
	}
	if sw := ks.GetSwitching(); sw != nil {
		return step, fmt.Errorf("keyspace %s has a traffic switch under way since %s (%s): wait for it, or end it with `mosaicctl keyspace cancel-switch %s`",
			fromKs, time.Unix(0, sw.StartedUnixNano).UTC().Format(time.RFC3339), sw.Reason, fromKs)
	}
	// The keyspace's primaries now: the fence covers all of them.
	if served := topo.ServedShards(ks, topodatapb.TabletType_PRIMARY); !slices.Equal(sortedShards(served), sortedShards(from)) {
		return step, fmt.Errorf("keyspace %s serves primary traffic from %s, the workflow was made with %s: its shards changed; cancel the workflow and create it again", fromKs, keyrange.Names(served), keyrange.Names(from))
	}
	rev, rv, err := m.ts.GetWorkflow(ctx, fwd.SourceKeyspace, step.Reverse)
	switch {
	case errors.Is(err, topo.ErrNoNode):
		rev, rv = nil, 0
	case err != nil:
		return step, err
	case !rev.IsReverse || rev.Reverse != fwd.Name:
		return step, fmt.Errorf("workflow %s exists and is not the reverse of %s: the reverse workflow needs its name", step.Reverse, fwd.Name)
	}
	// The reverse streams place rows by the source keyspace's VSchema.
	var revRules []*vreplicationpb.TableRule
	if rev == nil {
		if revRules, err = m.reverseRules(ctx, fwd); err != nil {
			return step, err
		}
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
	// Every call below goes to a client opened now, so that none of them
	// dials while writes are held.
	fromClients, err := m.dialPrimaries(ctx, fromKs, from)
	if err != nil {
		return step, fmt.Errorf("traffic stays on %s, nothing changed: %w", fromKs, err)
	}
	defer fromClients.close()
	toClients, err := m.dialPrimaries(ctx, toKs, to)
	if err != nil {
		return step, fmt.Errorf("traffic stays on %s, nothing changed: %w", fromKs, err)
	}
	defer toClients.close()

	// The keyspace that takes the tables denies them if they left it
	// before: it stops now, before the fence, and its primaries apply
	// that at once, so that the statements the gates release at the
	// switch find them served.
	relisted, err := m.setDenied(ctx, toKs, tables, false, toClients)
	if err != nil {
		return step, fmt.Errorf("traffic stays on %s, nothing changed: %w", fromKs, err)
	}

	// The fence.
	primary := []topodatapb.TabletType{topodatapb.TabletType_PRIMARY}
	reason := fmt.Sprintf("movetables %s.%s: tables %v %s -> %s", fwd.TargetKeyspace, fwd.Name, tables, fromKs, toKs)
	start := time.Now()
	kv, err = m.ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: fromKs, TabletTypes: primary, Fence: from, KeyspaceVersion: kv, Reason: reason, StartedUnixNano: start.UnixNano()})
	if err != nil {
		if relisted {
			if _, derr := m.setDenied(context.WithoutCancel(ctx), toKs, tables, true, toClients); derr != nil {
				return step, fmt.Errorf("traffic stays on %s: %w; and the tables could not be denied in %s again: %v", fromKs, err, toKs, derr)
			}
		}
		return step, fmt.Errorf("traffic stays on %s, nothing changed: %w", fromKs, err)
	}
	step.Fence = time.Since(start)
	m.Log.Info("keyspace fenced for a table move; gates hold its writes", "keyspace", fromKs, "workflow", fwd.Name, "fenced", from)
	stoppedV := topo.Version(0) // the feed's record, once stopFeed stopped it
	fail := func(what string, cause error) (SwitchStep, error) {
		step.Pause = time.Since(start)
		err := m.rollback(ctx, fromKs, from, what, cause)
		if stoppedV != 0 {
			if rerr := m.restartFeed(ctx, feed, stoppedV); rerr != nil {
				err = fmt.Errorf("%w; and %w", err, rerr)
			}
		}
		if relisted {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if _, derr := m.setDenied(rctx, toKs, tables, true, toClients); derr != nil {
				m.Log.Error("cannot deny the tables again after a failed switch", "keyspace", toKs, "tables", tables, "err", derr)
				err = fmt.Errorf("%w; and the tables could not be denied in %s again: %v", err, toKs, derr)
			}
		}
		return step, err
	}

	t := time.Now()
	step.Positions, err = m.drain(ctx, fromClients, from, req.DrainTimeout)
	if err != nil {
		return fail("draining the fenced primaries", err)
	}
	step.Drain = time.Since(t)

	t = time.Now()
	if err := m.catchUp(ctx, toClients, feed, to, step.Positions, req.CatchUpTimeout); err != nil {
		return fail("catching up with the fenced primaries", err)
	}
	step.CatchUp = time.Since(t)

	// The streams that caught up stop before the targets take writes
	// (stopFeed).
	t = time.Now()
	stoppedV, err = m.stopFeed(ctx, toClients, feed, feedV, to, req.CatchUpTimeout)
	if err != nil {
		return fail("stopping the streams into "+toKs, err)
	}
	feedV = stoppedV
	step.Stop = time.Since(t)

	starts, err := m.primaryPositions(ctx, toClients, to)
	if err != nil {
		return fail("reading the new primaries' positions", err)
	}

	now := time.Now().UTC().Format(time.RFC3339)
	nextFeed := proto.Clone(feed).(*vreplicationpb.Workflow)
	nextFeed.State = vreplicationpb.WorkflowState_FROZEN
	backName := step.Reverse
	if !toTargets {
		backName = fwd.Name
	}
	nextFeed.Message = fmt.Sprintf("tables moved to %s at %s: frozen while %s feeds the other way", toKs, now, backName)
	var nextBack *vreplicationpb.Workflow
	if back == nil {
		nextBack = &vreplicationpb.Workflow{
			Name: step.Reverse, Type: fwd.Type, SourceKeyspace: fwd.TargetKeyspace, TargetKeyspace: fwd.SourceKeyspace,
			SourceShards: fwd.TargetShards, TargetShards: fwd.SourceShards, Tables: revRules,
			CreatedUnixNano: time.Now().UnixNano(), Reverse: fwd.Name, IsReverse: true,
		}
	} else {
		nextBack = proto.Clone(back).(*vreplicationpb.Workflow)
	}
	nextBack.State = vreplicationpb.WorkflowState_RUNNING
	nextBack.Epoch++
	nextBack.StartPositions = starts
	nextBack.Message = fmt.Sprintf("started at %s from the positions of the move of the tables to %s", now, toKs)
	nextFwd := nextFeed
	if !toTargets {
		nextFwd = nextBack
	}
	nextFwd.Reverse = step.Reverse
	nextFwd.SwitchedTypes = withTypes(fwd.SwitchedTypes, types, toTargets)
	feedOp, err := topo.WorkflowOp(feed.TargetKeyspace, nextFeed, feedV)
	if err != nil {
		return fail("writing the workflow records", err)
	}
	backOp, err := topo.WorkflowOp(nextBack.TargetKeyspace, nextBack, backV)
	if err != nil {
		return fail("writing the workflow records", err)
	}
	rulesOp, err := topo.RoutingRulesOp(routeTypes(rr, tables, fwd.SourceKeyspace, fwd.TargetKeyspace, nextFwd.SwitchedTypes), rrv)
	if err != nil {
		return fail("writing the routing rules", err)
	}
	t = time.Now()
	_, err = m.ts.EndSwitch(ctx, topo.EndSwitchRequest{Keyspace: fromKs, KeyspaceVersion: kv, DenyTables: tables, Also: []topo.Op{feedOp, backOp, rulesOp}})
	if err != nil && !m.tablesRouted(ctx, fwd, fromKs, toKs) {
		return fail("switching the routing rules", err)
	}
	step.Commit = time.Since(t)
	step.Pause = time.Since(start)
	step.Reverse = backName
	// The fenced primaries serve their other tables again at once rather
	// than at their watch's next event.
	m.refresh(ctx, fromKs, from)
	m.Log.Info("tables moved", "workflow", fwd.Name, "tables", tables, "from", fromKs, "to", toKs, "pause", step.Pause, "positions", step.Positions, "reverse_from", starts)
	return step, nil
}

// tablesRouted reports whether, after a commit whose outcome is unknown
// (its answer was lost), the records say it landed: the switch of
// fromKs ended and the rules send the workflow's tables to toKs.
func (m *Manager) tablesRouted(ctx context.Context, wf *vreplicationpb.Workflow, fromKs, toKs string) bool {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rec, _, err := m.ts.GetKeyspaceVersion(rctx, fromKs)
	if err != nil || rec.Switching != nil {
		return false
	}
	rr, _, err := m.ts.GetRoutingRulesVersion(rctx)
	if err != nil {
		return false
	}
	for _, t := range tableNames(wf) {
		if routedTo(rr, t, wf.SourceKeyspace, wf.TargetKeyspace) != toKs {
			return false
		}
	}
	return true
}

// reverseRules are the table rules of the streams that carry a move's
// tables back to its source keyspace: by the primary vindexes of the
// source's VSchema when it is sharded, every row when it is not.
func (m *Manager) reverseRules(ctx context.Context, fwd *vreplicationpb.Workflow) ([]*vreplicationpb.TableRule, error) {
	vs, err := m.ts.GetVSchema(ctx, fwd.SourceKeyspace)
	if errors.Is(err, topo.ErrNoNode) {
		vs = &vschemapb.Keyspace{}
	} else if err != nil {
		return nil, err
	}
	rules, err := moveRules(vs, tableNames(fwd), len(fwd.SourceShards))
	if err != nil {
		return nil, fmt.Errorf("workflow %s: the reverse streams into %s: %w; nothing changed", fwd.Name, fwd.SourceKeyspace, err)
	}
	return rules, nil
}

func sortedShards(s []string) []string {
	out := slices.Clone(s)
	topo.SortShardNames(out)
	return out
}

// setDenied denies (or allows) tables on every shard of ks in one commit
// and has the primaries in clients apply their records at once. It
// reports whether any record changed.
func (m *Manager) setDenied(ctx context.Context, ks string, tables []string, deny bool, clients primaries) (bool, error) {
	ops, err := m.ts.DenyTablesOps(ctx, ks, tables, deny)
	if err != nil || len(ops) == 0 {
		return false, err
	}
	if _, err := m.ts.Store().Commit(ctx, ops); err != nil {
		return false, fmt.Errorf("write the denied tables of %s: %w", ks, err)
	}
	for sh, pc := range clients {
		if _, err := pc.c.TM.RefreshState(ctx, &tabletmanagerpb.RefreshStateRequest{}); err != nil {
			return true, fmt.Errorf("primary of %s/%s: apply its shard record: %w", ks, sh, err)
		}
	}
	return true, nil
}
