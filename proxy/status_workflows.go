package proxy

import (
	"context"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/topo"
)

// statusWorkflow is a resharding (or table move) workflow on the status
// page, as its topo record says; the streams' progress is on the target
// tablets' pages and in `mosaicctl reshard show`.
type statusWorkflow struct {
	Keyspace, Name, Type, State, Sources, Targets, Switched, Message string
}

// statusWorkflows reads the workflow records of the gate's keyspaces.
func (g *Gate) statusWorkflows(ctx context.Context, keyspaces []string) []statusWorkflow {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var out []statusWorkflow
	for _, ks := range keyspaces {
		wfs, err := g.ts.ListWorkflows(ctx, ks)
		if err != nil {
			continue
		}
		for _, wf := range wfs {
			var switched []string
			for _, tt := range wf.SwitchedTypes {
				switched = append(switched, topo.TabletTypeString(tt))
			}
			out = append(out, statusWorkflow{
				Keyspace: ks, Name: wf.Name, Type: wf.Type.String(), State: wf.State.String(),
				Sources: strings.Join(wf.SourceShards, ","), Targets: strings.Join(wf.TargetShards, ","),
				Switched: strings.Join(switched, ","), Message: wf.Message,
			})
		}
	}
	return out
}
