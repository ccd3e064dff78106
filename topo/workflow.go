package topo

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
)

// Workflow records (resharding, table moves) live under their target
// keyspace: keyspaces/<ks>/workflows/<name>. The target shards' primaries
// watch them and run the streams; mosaicctl writes them.

func workflowsDir(ks string) string       { return path.Join(keyspacesDir, ks, "workflows") }
func workflowPath(ks, name string) string { return path.Join(keyspacesDir, ks, "workflows", name) }

// CreateWorkflow writes a new workflow record (ErrNodeExists if one of
// that name exists in ks).
func (s *Server) CreateWorkflow(ctx context.Context, ks string, wf *vreplicationpb.Workflow) error {
	if err := ValidateName(wf.Name); err != nil {
		return fmt.Errorf("workflow: %w", err)
	}
	if _, err := s.GetKeyspace(ctx, ks); err != nil {
		return err
	}
	if err := s.createRecord(ctx, workflowPath(ks, wf.Name), wf); err != nil {
		return fmt.Errorf("create workflow %s/%s: %w", ks, wf.Name, err)
	}
	return nil
}

// GetWorkflow reads a workflow record and its version (ErrNoNode if
// missing).
func (s *Server) GetWorkflow(ctx context.Context, ks, name string) (*vreplicationpb.Workflow, Version, error) {
	wf := &vreplicationpb.Workflow{}
	v, err := s.getRecord(ctx, workflowPath(ks, name), wf)
	if err != nil {
		return nil, 0, fmt.Errorf("get workflow %s/%s: %w", ks, name, err)
	}
	return wf, v, nil
}

// UpdateWorkflowFields applies update to a workflow record with
// compare-and-swap, retrying on races; update may return
// ErrNoUpdateNeeded. A missing record is ErrNoNode.
func (s *Server) UpdateWorkflowFields(ctx context.Context, ks, name string, update func(*vreplicationpb.Workflow) error) (*vreplicationpb.Workflow, error) {
	return updateFields(ctx, s, workflowPath(ks, name), func() *vreplicationpb.Workflow { return &vreplicationpb.Workflow{} }, false, update)
}

// WorkflowOp returns the Store.Commit op that writes wf in ks: a
// creation when v is 0, else a write on condition that the record is at
// version v (see SwitchRequest.Also).
func WorkflowOp(ks string, wf *vreplicationpb.Workflow, v Version) (Op, error) {
	if err := ValidateName(wf.Name); err != nil {
		return Op{}, fmt.Errorf("workflow: %w", err)
	}
	data, err := Marshal(wf)
	if err != nil {
		return Op{}, err
	}
	op := Op{Kind: OpPut, Key: workflowPath(ks, wf.Name), Value: data, Version: v}
	if v == 0 {
		op.Kind = OpCreate
	}
	return op, nil
}

// DeleteWorkflowOp returns the Store.Commit op that deletes the workflow
// record name of ks (which must exist).
func DeleteWorkflowOp(ks, name string) Op {
	return Op{Kind: OpDelete, Key: workflowPath(ks, name)}
}

// DeleteWorkflow removes a workflow record (ErrNoNode if missing).
func (s *Server) DeleteWorkflow(ctx context.Context, ks, name string) error {
	return s.store.Delete(ctx, workflowPath(ks, name), 0)
}

// ListWorkflows returns the workflow records of ks, sorted by name.
func (s *Server) ListWorkflows(ctx context.Context, ks string) ([]*vreplicationpb.Workflow, error) {
	kvs, err := s.store.List(ctx, workflowsDir(ks)+"/")
	if err != nil {
		return nil, err
	}
	var out []*vreplicationpb.Workflow
	for _, kv := range kvs {
		if _, ok := workflowName(ks, kv.Key); !ok {
			continue
		}
		wf := &vreplicationpb.Workflow{}
		if err := Unmarshal(kv.Value, wf); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, wf)
	}
	return out, nil
}

// WorkflowEvent is one change of a workflow record. Workflow is nil when
// the record was deleted. An event with Err set ends the watch.
type WorkflowEvent struct {
	Name     string
	Workflow *vreplicationpb.Workflow
	Err      error
}

// WatchWorkflows returns the workflow records of ks now, by name, and a
// channel of their later changes, closed when ctx ends or after an event
// with Err.
func (s *Server) WatchWorkflows(ctx context.Context, ks string) (map[string]*vreplicationpb.Workflow, <-chan WorkflowEvent, error) {
	initial, events, err := s.store.Watch(ctx, workflowsDir(ks)+"/")
	if err != nil {
		return nil, nil, err
	}
	now := map[string]*vreplicationpb.Workflow{}
	for _, kv := range initial {
		name, ok := workflowName(ks, kv.Key)
		wf := &vreplicationpb.Workflow{}
		if ok && Unmarshal(kv.Value, wf) == nil {
			now[name] = wf
		}
	}
	out := make(chan WorkflowEvent)
	go func() {
		defer close(out)
		for ev := range events {
			we := WorkflowEvent{Err: ev.Err}
			if ev.Err == nil {
				name, ok := workflowName(ks, ev.Key)
				if !ok {
					continue
				}
				we.Name = name
				if !ev.Deleted {
					wf := &vreplicationpb.Workflow{}
					if Unmarshal(ev.Value, wf) != nil {
						continue
					}
					we.Workflow = wf
				}
			}
			select {
			case out <- we:
			case <-ctx.Done():
				return
			}
			if ev.Err != nil {
				return
			}
		}
	}()
	return now, out, nil
}

// workflowName parses keyspaces/<ks>/workflows/<name>.
func workflowName(ks, key string) (string, bool) {
	name, ok := strings.CutPrefix(key, workflowsDir(ks)+"/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}
