package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/topo"
)

// moveTablesReads moves the read traffic of types (REPLICA, RDONLY) of a
// table move, in one commit of the routing rules (the types' own rules,
// see routeTypes) and the workflow record's switched types, both under
// version checks. Nothing is fenced: no write moves. The keyspace that
// takes the reads must be current: when it does not take the tables'
// writes too, the streams feeding it (the forward workflow toward the
// target, the reverse one toward the source) must run and lag less than
// MaxLag, or nothing changes.
func (m *Manager) moveTablesReads(ctx context.Context, req TrafficRequest, types []topodatapb.TabletType, toTargets bool) (SwitchStep, error) {
	fwd, fv, err := m.getWorkflow(ctx, req.Keyspace, req.Workflow)
	if err != nil {
		return SwitchStep{}, err
	}
	fromKs, toKs := fwd.SourceKeyspace, fwd.TargetKeyspace
	if !toTargets {
		fromKs, toKs = toKs, fromKs
	}
	from, to := sides(fwd, toTargets)
	step := SwitchStep{TabletTypes: slices.Clone(types), From: from, To: to, FromKeyspace: fromKs, ToKeyspace: toKs}
	rr, rrv, err := m.ts.GetRoutingRulesVersion(ctx)
	if err != nil {
		return step, err
	}
	if err := checkRoutes(rr, fwd); err != nil {
		return step, err
	}
	// The keyspace taking the reads is current when it takes the writes;
	// else its streams must keep it so.
	if slices.Contains(fwd.SwitchedTypes, topodatapb.TabletType_PRIMARY) != toTargets {
		feed, err := m.feeding(ctx, fwd, toTargets)
		if err != nil {
			return step, err
		}
		if feed == nil {
			return step, fmt.Errorf("workflow %s: nothing keeps %s in step: no reverse workflow", fwd.Name, toKs)
		}
		if feed.State != vreplicationpb.WorkflowState_RUNNING {
			return step, fmt.Errorf("workflow %s feeds %s and is %v: %s reads stay on %s; nothing changed", feed.Name, toKs, feed.State, typeList(types), fromKs)
		}
		if err := m.checkStreams(ctx, feed, req.MaxLag); err != nil {
			return step, err
		}
	}
	// The message stays: a changed message restarts the streams (see
	// Start), and reads moving must not.
	next := proto.Clone(fwd).(*vreplicationpb.Workflow)
	next.SwitchedTypes = withTypes(fwd.SwitchedTypes, types, toTargets)
	wop, err := topo.WorkflowOp(fwd.TargetKeyspace, next, fv)
	if err != nil {
		return step, err
	}
	rop, err := topo.RoutingRulesOp(routeTypes(rr, tableNames(fwd), fwd.SourceKeyspace, fwd.TargetKeyspace, next.SwitchedTypes), rrv)
	if err != nil {
		return step, err
	}
	start := time.Now()
	_, err = m.ts.Store().Commit(ctx, []topo.Op{wop, rop})
	step.Commit = time.Since(start)
	if err != nil {
		if errors.Is(err, topo.ErrBadVersion) {
			err = fmt.Errorf("the workflow record or the routing rules changed meanwhile (run it again): %w", err)
		}
		return step, fmt.Errorf("%s traffic of the tables stays on %s: %w", typeList(types), fromKs, err)
	}
	m.Log.Info("read traffic of moved tables switched", "workflow", fwd.Name, "tables", tableNames(fwd), "types", typeList(types), "from", fromKs, "to", toKs)
	return step, nil
}
