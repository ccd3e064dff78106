package workflow

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
)

// Report is a workflow and its streams as the target primaries report
// them.
type Report struct {
	Workflow *vreplicationpb.Workflow
	Streams  []*vreplicationpb.StreamStatus
	// Unreachable maps a target shard to why its primary did not answer.
	Unreachable map[string]string
}

// Show reads a workflow's record and its streams' progress.
func (m *Manager) Show(ctx context.Context, ks, name string) (*Report, error) {
	wf, _, err := m.ts.GetWorkflow(ctx, ks, name)
	if err != nil {
		return nil, err
	}
	r := &Report{Workflow: wf, Unreachable: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, shard := range wf.TargetShards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			streams, err := m.shardStatus(ctx, wf.TargetKeyspace, shard, name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Unreachable[shard] = err.Error()
				return
			}
			r.Streams = append(r.Streams, streams...)
		}()
	}
	wg.Wait()
	sort.Slice(r.Streams, func(i, j int) bool {
		a, b := r.Streams[i], r.Streams[j]
		if a.TargetShard != b.TargetShard {
			return shardLess(a.TargetShard, b.TargetShard)
		}
		return shardLess(a.SourceShard, b.SourceShard)
	})
	return r, nil
}

func shardLess(a, b string) bool {
	ka, _ := keyrange.Parse(a)
	kb, _ := keyrange.Parse(b)
	return keyrange.Less(ka, kb)
}

func (m *Manager) shardStatus(ctx context.Context, ks, shard, name string) ([]*vreplicationpb.StreamStatus, error) {
	c, _, err := m.dialPrimary(ctx, ks, shard)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	resp, err := c.VR.WorkflowStatus(ctx, &vreplicationpb.WorkflowStatusRequest{Workflow: name})
	if err != nil {
		return nil, fmt.Errorf("status of %s/%s: %w", ks, shard, err)
	}
	return resp.Streams, nil
}

// ExpectedStreams is how many streams the workflow runs: one per (source,
// target) pair that shares rows (vrepl.StreamMeets).
func ExpectedStreams(wf *vreplicationpb.Workflow) int {
	n := 0
	for _, t := range wf.TargetShards {
		tkr, err := keyrange.Parse(t)
		if err != nil {
			continue
		}
		for _, s := range wf.SourceShards {
			if skr, err := keyrange.Parse(s); err == nil && vrepl.StreamMeets(wf, skr, tkr) {
				n++
			}
		}
	}
	return n
}

// Caught reports whether every stream of the report runs (copy done)
// with a lag under maxLag seconds, and if not, why.
func (r *Report) Caught(maxLag float64) (bool, string) {
	if len(r.Unreachable) > 0 {
		for s, e := range r.Unreachable {
			return false, fmt.Sprintf("target %s: %s", s, e)
		}
	}
	if want := ExpectedStreams(r.Workflow); len(r.Streams) < want {
		return false, fmt.Sprintf("%d of %d streams reported", len(r.Streams), want)
	}
	for _, st := range r.Streams {
		switch {
		case st.Phase != "running":
			return false, fmt.Sprintf("stream %s->%s is %s", st.SourceShard, st.TargetShard, st.Phase)
		case st.LagSeconds < 0 || st.LagSeconds >= maxLag:
			return false, fmt.Sprintf("stream %s->%s lags %.1fs", st.SourceShard, st.TargetShard, st.LagSeconds)
		}
	}
	return true, ""
}
