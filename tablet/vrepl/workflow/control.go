package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/topo"
)

// Stop stops a workflow's streams where they are (they keep their
// progress); Start runs them again.
func (m *Manager) Stop(ctx context.Context, ks, name, why string) error {
	return m.setState(ctx, ks, name, vreplicationpb.WorkflowState_STOPPED, why)
}

// Start runs a stopped workflow's streams again; a stream stopped by an
// error (DDL) retries.
func (m *Manager) Start(ctx context.Context, ks, name string) error {
	// The message changes the record, so that the target tablets restart
	// streams that an error stopped even when the state was RUNNING.
	return m.setState(ctx, ks, name, vreplicationpb.WorkflowState_RUNNING, "started "+time.Now().UTC().Format(time.RFC3339))
}

func (m *Manager) setState(ctx context.Context, ks, name string, state vreplicationpb.WorkflowState, why string) error {
	_, err := m.ts.UpdateWorkflowFields(ctx, ks, name, func(wf *vreplicationpb.Workflow) error {
		if wf.State == vreplicationpb.WorkflowState_FROZEN {
			return fmt.Errorf("workflow %s is frozen (traffic was switched): switch traffic back to change it", name)
		}
		wf.State = state
		wf.Message = why
		return nil
	})
	if errors.Is(err, topo.ErrNoNode) {
		return fmt.Errorf("workflow %s not found in keyspace %s: %w", name, ks, err)
	}
	return err
}

// Cancel ends a workflow before any traffic moved: it deletes the record,
// waits for the targets to stop its streams, and drops the copied tables
// on the target shards unless keepData. After a switch it refuses:
// reverse the traffic first.
func (m *Manager) Cancel(ctx context.Context, ks, name string, keepData bool) error {
	wf, _, err := m.ts.GetWorkflow(ctx, ks, name)
	if err != nil {
		if errors.Is(err, topo.ErrNoNode) {
			return fmt.Errorf("workflow %s not found in keyspace %s: %w", name, ks, err)
		}
		return err
	}
	if wf.Type == vreplicationpb.WorkflowType_LOOKUP {
		// Its tables are the owner's names, not tables it copied.
		return fmt.Errorf("workflow %s backfills a lookup table: `mosaicctl lookup create` ends it", name)
	}
	if len(wf.SwitchedTypes) > 0 || wf.IsReverse {
		return fmt.Errorf("workflow %s has switched traffic (%v): run reverse-traffic first, or complete it", name, wf.SwitchedTypes)
	}
	if wf.Type == vreplicationpb.WorkflowType_MOVE_TABLES {
		// Traffic went to the target and back: the target denies the
		// tables.
		if _, err := m.setDenied(ctx, wf.TargetKeyspace, tableNames(wf), false, nil); err != nil {
			return err
		}
	}
	if err := m.deleteWorkflow(ctx, ks, wf, false); err != nil {
		return err
	}
	m.Log.Info("workflow record deleted", "keyspace", ks, "workflow", name)
	// Traffic went to the targets and back: the reverse workflow (frozen)
	// goes too.
	if wf.Reverse != "" {
		if err := m.ts.DeleteWorkflow(ctx, wf.SourceKeyspace, wf.Reverse); err != nil && !errors.Is(err, topo.ErrNoNode) {
			return err
		}
		for _, shard := range wf.SourceShards {
			if err := m.waitStreamsGone(ctx, wf.SourceKeyspace, shard, wf.Reverse); err != nil {
				return err
			}
		}
	}
	for _, shard := range wf.TargetShards {
		if err := m.waitStreamsGone(ctx, wf.TargetKeyspace, shard, name); err != nil {
			return err
		}
		if keepData {
			continue
		}
		c, _, err := m.dialPrimary(ctx, wf.TargetKeyspace, shard)
		if err != nil {
			return err
		}
		for _, t := range wf.Tables {
			if _, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "DROP TABLE IF EXISTS " + quoteIdent(t.Name)}); err != nil {
				c.Close()
				return fmt.Errorf("drop %s on target %s: %w", t.Name, shard, err)
			}
		}
		c.Close()
		m.Log.Info("copied tables dropped", "keyspace", wf.TargetKeyspace, "shard", shard, "tables", len(wf.Tables))
	}
	return nil
}

// waitStreamsGone waits until a target reports no stream of workflow.
func (m *Manager) waitStreamsGone(ctx context.Context, ks, shard, name string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		streams, err := m.shardStatus(ctx, ks, shard, name)
		if err == nil && len(streams) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("target %s/%s still runs streams of %s (%v, %v)", ks, shard, name, streams, err)
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// allTypes are the tablet types whose traffic a workflow switches.
var allTypes = []topodatapb.TabletType{topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY}

// Complete ends a workflow whose traffic has moved to its targets for
// every tablet type: it deletes the reverse workflow (its streams stop),
// drops the copied tables on the source shards unless keepData, deletes
// the source shards' records (their tablets stop where a reconciler
// runs them; elsewhere stop them by hand), and deletes the workflow. A
// table move's source shards stay (they serve the keyspace's other
// tables): its tables leave the source's VSchema with their data, and its
// routing rules go with the workflow record unless keepRules. It
// refuses, changing nothing, before every type has been switched.
func (m *Manager) Complete(ctx context.Context, ks, name string, keepData, keepRules bool) error {
	wf, _, err := m.ts.GetWorkflow(ctx, ks, name)
	if err != nil {
		if errors.Is(err, topo.ErrNoNode) {
			return fmt.Errorf("workflow %s not found in keyspace %s: %w", name, ks, err)
		}
		return err
	}
	if wf.IsReverse {
		return fmt.Errorf("workflow %s is the reverse of %s: complete %s", name, wf.Reverse, wf.Reverse)
	}
	if wf.Type == vreplicationpb.WorkflowType_LOOKUP {
		return fmt.Errorf("workflow %s backfills a lookup table: `mosaicctl lookup create` ends it", name)
	}
	for _, tt := range allTypes {
		if !slices.Contains(wf.SwitchedTypes, tt) {
			return fmt.Errorf("workflow %s: %s traffic still goes to the source shards: switch it to the targets before complete (or cancel the workflow)", name, topo.TabletTypeString(tt))
		}
	}
	switch wf.Type {
	case vreplicationpb.WorkflowType_MOVE_TABLES:
		// The rules must agree: the tables are served by the target.
		rr, _, err := m.ts.GetRoutingRulesVersion(ctx)
		if err != nil {
			return err
		}
		if err := checkRoutes(rr, wf); err != nil {
			return fmt.Errorf("%w before complete", err)
		}
	default:
		// The record must agree: nothing of the keyspace is served by a
		// source any more.
		ksRec, _, err := m.ts.GetKeyspaceVersion(ctx, wf.SourceKeyspace)
		if err != nil {
			return err
		}
		for _, shard := range wf.SourceShards {
			if types := topo.ServedTypesOf(ksRec, shard); len(types) > 0 {
				return fmt.Errorf("workflow %s: source shard %s still serves %s: switch its traffic to the targets before complete", name, shard, typeList(types))
			}
		}
	}
	if wf.Reverse != "" {
		if err := m.ts.DeleteWorkflow(ctx, wf.SourceKeyspace, wf.Reverse); err != nil && !errors.Is(err, topo.ErrNoNode) {
			return err
		}
		for _, shard := range wf.SourceShards {
			if err := m.waitStreamsGone(ctx, wf.SourceKeyspace, shard, wf.Reverse); err != nil {
				return err
			}
		}
	}
	for _, shard := range wf.SourceShards {
		if !keepData {
			c, _, err := m.dialPrimary(ctx, wf.SourceKeyspace, shard)
			if err != nil {
				return err
			}
			for _, t := range wf.Tables {
				if _, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "DROP TABLE IF EXISTS " + quoteIdent(t.Name)}); err != nil {
					c.Close()
					return fmt.Errorf("drop %s on source %s: %w", t.Name, shard, err)
				}
			}
			c.Close()
		}
		if wf.Type == vreplicationpb.WorkflowType_RESHARD {
			if err := m.ts.DeleteShard(ctx, wf.SourceKeyspace, shard); err != nil && !errors.Is(err, topo.ErrNoNode) {
				return fmt.Errorf("delete source shard %s/%s: %w", wf.SourceKeyspace, shard, err)
			}
		}
	}
	if wf.Type == vreplicationpb.WorkflowType_MOVE_TABLES {
		if !keepData {
			if err := m.dropFromVSchema(ctx, wf.SourceKeyspace, tableNames(wf)); err != nil {
				return err
			}
		}
		if _, err := m.setDenied(ctx, wf.SourceKeyspace, tableNames(wf), false, nil); err != nil {
			return err
		}
	}
	if err := m.deleteWorkflow(ctx, ks, wf, keepRules); err != nil && !errors.Is(err, topo.ErrNoNode) {
		return err
	}
	// The targets forget the frozen streams' state.
	for _, shard := range wf.TargetShards {
		if err := m.waitStreamsGone(ctx, wf.TargetKeyspace, shard, name); err != nil {
			return err
		}
	}
	m.Log.Info("workflow completed", "keyspace", ks, "workflow", name, "removed_shards", wf.SourceShards, "kept_data", keepData)
	return nil
}

// deleteWorkflow deletes the record of wf in ks; a table move's routing
// rules go in the same commit unless keepRules.
func (m *Manager) deleteWorkflow(ctx context.Context, ks string, wf *vreplicationpb.Workflow, keepRules bool) error {
	if wf.Type != vreplicationpb.WorkflowType_MOVE_TABLES || keepRules {
		return m.ts.DeleteWorkflow(ctx, ks, wf.Name)
	}
	for attempt := 0; ; attempt++ {
		rr, rrv, err := m.ts.GetRoutingRulesVersion(ctx)
		if err != nil {
			return err
		}
		ops := []topo.Op{topo.DeleteWorkflowOp(ks, wf.Name)}
		if rrv != 0 {
			op, err := topo.RoutingRulesOp(unrouteTables(rr, tableNames(wf), wf.SourceKeyspace, wf.TargetKeyspace), rrv)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		_, err = m.ts.Store().Commit(ctx, ops)
		if err == nil {
			m.Log.Info("routing rules of the moved tables removed", "workflow", wf.Name, "tables", tableNames(wf))
			return nil
		}
		if !errors.Is(err, topo.ErrBadVersion) || attempt >= 10 {
			return fmt.Errorf("delete workflow %s and its routing rules: %w", wf.Name, err)
		}
	}
}

// dropFromVSchema removes tables from the VSchema of ks, if it lists
// them.
func (m *Manager) dropFromVSchema(ctx context.Context, ks string, tables []string) error {
	vs, err := m.ts.GetVSchema(ctx, ks)
	if errors.Is(err, topo.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	changed := false
	for name := range vs.Tables {
		if slices.ContainsFunc(tables, func(t string) bool { return strings.EqualFold(t, name) }) {
			delete(vs.Tables, name)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := m.ts.SaveVSchema(ctx, ks, vs); err != nil {
		return fmt.Errorf("remove the moved tables from the VSchema of %s: %w", ks, err)
	}
	return nil
}
