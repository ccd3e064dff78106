package workflow

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
)

// VDiffReport sums the targets' comparisons per table.
type VDiffReport struct {
	Tables []*vreplicationpb.VDiffTable
	Shards []*vreplicationpb.VDiffResponse
}

// Clean reports whether every table compared equal.
func (r *VDiffReport) Clean() bool {
	for _, t := range r.Tables {
		if t.Missing+t.Extra+t.Different > 0 {
			return false
		}
	}
	return true
}

// VDiff compares every target of a workflow with its sources, the
// targets in parallel, and sums the results per table.
func (m *Manager) VDiff(ctx context.Context, ks, name string, tables []string, maxSamples int) (*VDiffReport, error) {
	wf, _, err := m.ts.GetWorkflow(ctx, ks, name)
	if err != nil {
		return nil, err
	}
	if wf.State != vreplicationpb.WorkflowState_RUNNING {
		return nil, fmt.Errorf("workflow %s is %v: vdiff needs running streams", name, wf.State)
	}
	if wf.Type == vreplicationpb.WorkflowType_LOOKUP {
		return nil, fmt.Errorf("workflow %s backfills a lookup table: its target holds entries, not the source's rows, so there is nothing to diff row by row", name)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	r := &VDiffReport{}
	for _, shard := range wf.TargetShards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := m.shardVDiff(ctx, wf.TargetKeyspace, shard, name, tables, maxSamples)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			r.Shards = append(r.Shards, resp)
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	sum := map[string]*vreplicationpb.VDiffTable{}
	for _, s := range r.Shards {
		for _, t := range s.Tables {
			a := sum[t.Table]
			if a == nil {
				a = &vreplicationpb.VDiffTable{Table: t.Table}
				sum[t.Table] = a
			}
			a.Compared += t.Compared
			a.Missing += t.Missing
			a.Extra += t.Extra
			a.Different += t.Different
			a.SampleMissing = appendSamples(a.SampleMissing, t.SampleMissing, s.TargetShard, maxSamples)
			a.SampleExtra = appendSamples(a.SampleExtra, t.SampleExtra, s.TargetShard, maxSamples)
			a.SampleDifferent = appendSamples(a.SampleDifferent, t.SampleDifferent, s.TargetShard, maxSamples)
		}
	}
	for _, t := range sum {
		r.Tables = append(r.Tables, t)
	}
	sort.Slice(r.Tables, func(i, j int) bool { return r.Tables[i].Table < r.Tables[j].Table })
	sort.Slice(r.Shards, func(i, j int) bool { return shardLess(r.Shards[i].TargetShard, r.Shards[j].TargetShard) })
	return r, nil
}

func appendSamples(to, from []string, shard string, max int) []string {
	for _, s := range from {
		if max > 0 && len(to) >= max {
			break
		}
		to = append(to, s+" (target "+shard+")")
	}
	return to
}

func (m *Manager) shardVDiff(ctx context.Context, ks, shard, name string, tables []string, maxSamples int) (*vreplicationpb.VDiffResponse, error) {
	c, _, err := m.dialPrimary(ctx, ks, shard)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	resp, err := c.VR.VDiff(ctx, &vreplicationpb.VDiffRequest{Workflow: name, Tables: tables, MaxSamples: int32(maxSamples)})
	if err != nil {
		return nil, fmt.Errorf("vdiff on target %s/%s: %w", ks, shard, err)
	}
	return resp, nil
}
