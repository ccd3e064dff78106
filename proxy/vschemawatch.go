package proxy

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/topo"
)

// watchVSchema keeps the router's VSchema in step with topo: keyspaces,
// their VSchemas and the serving graph of the gate's cell. It closes loaded
// after the first successful build and returns when ctx ends.
func (g *Gate) watchVSchema(ctx context.Context, loaded chan<- struct{}) {
	first := true
	var cur <-chan topo.KeyspaceEvent // the open watch's events
	open := func(ctx context.Context) (struct{}, <-chan topo.KeyspaceEvent, error) {
		names, events, err := g.ts.WatchKeyspaces(ctx, g.cfg.Cell)
		if err == nil {
			err = g.rebuildVSchema(ctx, names)
		}
		cur = events
		return struct{}{}, events, err
	}
	topo.Follow(ctx, topo.Follower{First: 100 * time.Millisecond, Max: 5 * time.Second, Failed: func(err error) { g.log.Warn("vschema watch failed", "err", err) }}, open,
		func(struct{}) {
			if first {
				close(loaded)
				first = false
			}
		},
		func(ev topo.KeyspaceEvent) bool {
			if ev.Err != nil {
				return false
			}
			// Changes come in bursts (a keyspace and its shards): take
			// what else is queued before rebuilding once.
			drain(cur, 20*time.Millisecond)
			names, err := g.ts.ListKeyspaces(ctx)
			if err == nil {
				err = g.rebuildVSchema(ctx, names)
			}
			if err != nil && ctx.Err() == nil {
				g.log.Warn("vschema rebuild failed", "err", err)
			}
			return true
		})
}

// drain takes events from ch until it has been quiet for quiet.
func drain(ch <-chan topo.KeyspaceEvent, quiet time.Duration) {
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
			t.Reset(quiet)
		case <-t.C:
			return
		}
	}
}

// rebuildVSchema reads every keyspace's VSchema and serving graph and
// gives the router a new VSchema, then releases the statements held for
// switches that ended (switched.go, and tabletgw's switch buffer).
func (g *Gate) rebuildVSchema(ctx context.Context, names []string) error {
	var in []router.KeyspaceInput
	primaries := map[string][]string{}
	switching := map[string]bool{}
	for _, name := range names {
		ki := router.KeyspaceInput{Name: name}
		vs, err := g.ts.GetVSchema(ctx, name)
		switch {
		case errors.Is(err, topo.ErrNoNode):
		case err != nil:
			return err
		default:
			ki.VSchema = vs
		}
		types, err := g.servingInput(ctx, &ki)
		if err != nil {
			return err
		}
		primaries[name] = ki.Shards
		if slices.Contains(types, topodatapb.TabletType_PRIMARY) {
			switching[name] = true
		}
		in = append(in, ki)
	}
	rules, err := g.ts.GetRoutingRules(ctx)
	if err != nil {
		return err
	}
	g.router.SetVSchema(router.BuildVSchema(in, rules))
	g.serving.forget(names)
	g.tablets.InstalledGraph(primaries, switching)
	return nil
}

// keyspaceExists reports whether the router knows a keyspace.
func (g *Gate) keyspaceExists(name string) bool {
	_, ok := g.router.VSchema().Keyspaces[name]
	return ok
}
