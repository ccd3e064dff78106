package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
	"github.com/mosaicdb/mosaic/topo"
)

// Lookup backfills.
//
// A LOOKUP workflow fills a lookup vindex's table with the entries of its
// owner table's rows, with the engine's copy and binlog streams: its
// record lives in the lookup table's keyspace (the target), its sources
// are the owner keyspace's shards, and every source shard feeds every
// target shard the rows whose looked-up value the lookup table's vindex
// places in the target's range (see tablet/vrepl/lookup.go). `mosaicctl
// lookup create` creates it, waits for it, and deletes it.

// LookupRequest asks for a workflow that backfills a lookup table.
type LookupRequest struct {
	Workflow string
	// OwnerKeyspace and Owner name the owner table.
	OwnerKeyspace, Owner string
	// LookupKeyspace holds the lookup table (Rule.Table).
	LookupKeyspace string
	Rule           *vreplicationpb.LookupRule
	// VindexType is the type of the lookup table's primary vindex (on
	// Rule.From) when LookupKeyspace is sharded; empty when not.
	VindexType string
}

// CreateLookup checks req and writes the workflow record; the lookup
// keyspace's primaries then start copying. The lookup table must exist
// on every target shard. It refuses, changing nothing, when either
// keyspace serves no primary traffic or lacks a primary, or when the
// owner cannot be copied (vrepl.CheckTables).
func (m *Manager) CreateLookup(ctx context.Context, req LookupRequest) (*vreplicationpb.Workflow, error) {
	if err := topo.ValidateName(req.Workflow); err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	if req.Rule == nil || req.Rule.Table == "" || req.Rule.OwnerFrom == "" || req.Rule.OwnerTo == "" {
		return nil, errors.New("a lookup workflow needs its lookup table and the owner's columns")
	}
	if err := m.checkNewWorkflow(ctx, req.LookupKeyspace, req.Workflow); err != nil {
		return nil, err
	}
	srcKs, _, err := m.ts.GetKeyspaceVersion(ctx, req.OwnerKeyspace)
	if err != nil {
		return nil, fmt.Errorf("owner keyspace: %w", err)
	}
	dstKs, _, err := m.ts.GetKeyspaceVersion(ctx, req.LookupKeyspace)
	if err != nil {
		return nil, fmt.Errorf("lookup keyspace: %w", err)
	}
	sources := topo.ServedShards(srcKs, topodatapb.TabletType_PRIMARY)
	targets := topo.ServedShards(dstKs, topodatapb.TabletType_PRIMARY)
	if len(sources) == 0 || len(targets) == 0 {
		return nil, fmt.Errorf("owner keyspace %s serves %v and lookup keyspace %s serves %v: both need shards serving primary traffic", req.OwnerKeyspace, sources, req.LookupKeyspace, targets)
	}
	for _, s := range targets {
		if _, err := m.primary(ctx, req.LookupKeyspace, s); err != nil {
			return nil, fmt.Errorf("lookup keyspace: %w", err)
		}
	}
	src, _, err := m.dialPrimary(ctx, req.OwnerKeyspace, sources[0])
	if err != nil {
		return nil, err
	}
	defer src.Close()
	db, err := dbName(ctx, src)
	if err != nil {
		return nil, err
	}
	if err := vrepl.CheckTables(dbaExecutor{ctx, src}, db, []string{req.Owner}); err != nil {
		return nil, err
	}
	wf := &vreplicationpb.Workflow{
		Name:           req.Workflow,
		Type:           vreplicationpb.WorkflowType_LOOKUP,
		SourceKeyspace: req.OwnerKeyspace,
		TargetKeyspace: req.LookupKeyspace,
		SourceShards:   sources,
		TargetShards:   targets,
		Tables: []*vreplicationpb.TableRule{{
			Name: req.Owner, VindexType: req.VindexType, Lookup: req.Rule,
		}},
		State:           vreplicationpb.WorkflowState_RUNNING,
		CreatedUnixNano: time.Now().UnixNano(),
	}
	if req.VindexType != "" {
		wf.Tables[0].VindexColumn = req.Rule.OwnerFrom
	}
	if err := m.ts.CreateWorkflow(ctx, req.LookupKeyspace, wf); err != nil {
		if errors.Is(err, topo.ErrNodeExists) {
			return nil, fmt.Errorf("%w: %s in keyspace %s", ErrExists, req.Workflow, req.LookupKeyspace)
		}
		return nil, err
	}
	m.Log.Info("lookup workflow created", "keyspace", req.LookupKeyspace, "workflow", req.Workflow, "owner", req.OwnerKeyspace+"."+req.Owner, "sources", sources, "targets", targets)
	return wf, nil
}

// CatchUp reads the positions of the source primaries of workflow name
// in ks now and waits, up to timeout, until every stream has applied its
// source's: whatever the sources committed before the call is applied
// when it returns nil. It returns the positions waited for.
func (m *Manager) CatchUp(ctx context.Context, ks, name string, timeout time.Duration) (map[string]string, error) {
	wf, _, err := m.ts.GetWorkflow(ctx, ks, name)
	if err != nil {
		return nil, err
	}
	srcs, err := m.dialPrimaries(ctx, wf.SourceKeyspace, wf.SourceShards)
	if err != nil {
		return nil, err
	}
	defer srcs.close()
	pos, err := m.primaryPositions(ctx, srcs, wf.SourceShards)
	if err != nil {
		return nil, err
	}
	dsts, err := m.dialPrimaries(ctx, wf.TargetKeyspace, wf.TargetShards)
	if err != nil {
		return nil, err
	}
	defer dsts.close()
	if err := m.catchUp(ctx, dsts, wf, wf.TargetShards, pos, timeout); err != nil {
		return nil, err
	}
	return pos, nil
}

// Delete deletes the record of workflow name in ks and waits until no
// target primary runs its streams (their stored state goes with them).
// Routing rules and tables are left as they are.
func (m *Manager) Delete(ctx context.Context, ks, name string) error {
	wf, _, err := m.ts.GetWorkflow(ctx, ks, name)
	if err != nil {
		return err
	}
	if err := m.ts.DeleteWorkflow(ctx, ks, name); err != nil {
		return fmt.Errorf("delete workflow %s: %w", name, err)
	}
	for _, shard := range wf.TargetShards {
		if err := m.waitStreamsGone(ctx, ks, shard, name); err != nil {
			return err
		}
	}
	return nil
}

// KeepLookupEntries makes the streams of LOOKUP workflow name in ks stop
// removing entries (LookupRule.keep_entries), for when the vindex is to
// serve reads. It stops the streams, waits until no target runs one
// (a stream of the old record could otherwise still apply a removal),
// writes the rule back with keep_entries and RUNNING, and waits until
// every stream runs again, up to timeout in all.
func (m *Manager) KeepLookupEntries(ctx context.Context, ks, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wf, _, err := m.ts.GetWorkflow(ctx, ks, name)
	if err != nil {
		return err
	}
	if wf.Type != vreplicationpb.WorkflowType_LOOKUP {
		return fmt.Errorf("workflow %s is a %v, not a lookup backfill", name, wf.Type)
	}
	if _, err := m.ts.UpdateWorkflowFields(ctx, ks, name, func(wf *vreplicationpb.Workflow) error {
		wf.State = vreplicationpb.WorkflowState_STOPPED
		wf.Message = "stopped to keep entries from now on: the vindex is about to serve"
		return nil
	}); err != nil {
		return fmt.Errorf("stop workflow %s: %w", name, err)
	}
	if err := m.waitPhases(ctx, wf, func(phase string) bool { return phase == "stopped" }); err != nil {
		return fmt.Errorf("stop workflow %s: %w", name, err)
	}
	if _, err := m.ts.UpdateWorkflowFields(ctx, ks, name, func(wf *vreplicationpb.Workflow) error {
		for _, r := range wf.Tables {
			if r.Lookup != nil {
				r.Lookup.KeepEntries = true
			}
		}
		wf.State = vreplicationpb.WorkflowState_RUNNING
		wf.Message = ""
		return nil
	}); err != nil {
		return fmt.Errorf("restart workflow %s: %w (it stays stopped)", name, err)
	}
	return m.waitPhases(ctx, wf, func(phase string) bool { return phase == "running" })
}

// waitPhases polls the targets of wf until each reports all of the
// workflow's streams, every one in a phase ok accepts, or ctx ends.
func (m *Manager) waitPhases(ctx context.Context, wf *vreplicationpb.Workflow, ok func(string) bool) error {
	for {
		r, err := m.Show(ctx, wf.TargetKeyspace, wf.Name)
		why := ""
		switch {
		case err != nil:
			why = err.Error()
		case len(r.Unreachable) > 0:
			why = fmt.Sprint(r.Unreachable)
		case len(r.Streams) < ExpectedStreams(wf):
			why = fmt.Sprintf("%d of %d streams reported", len(r.Streams), ExpectedStreams(wf))
		default:
			for _, st := range r.Streams {
				if !ok(st.Phase) {
					why = fmt.Sprintf("stream %s -> %s is %s %s", st.SourceShard, st.TargetShard, st.Phase, st.Message)
				}
			}
		}
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", why, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
