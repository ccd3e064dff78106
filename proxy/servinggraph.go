package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/topo"
)

// The gate's side of the serving graph. Each VSchema rebuild reads every
// keyspace's graph for the gate's cell (topo.Server.GetServingGraph) and
// routes by it only when each tablet type's shards cover the key range
// exactly once: a graph that overlaps or leaves a gap (written by hand,
// or by a broken tool) would send point queries to a shard without the
// row, and scatters to the same rows twice. Such a graph is refused: the
// gate keeps routing the keyspace by the last graph it accepted, logs the
// refusal and counts it in mosaic_gate_serving_graph_refused_total. A
// keyspace whose first graph is refused has no shards to route to; its
// statements fail with the refusal.

// servingGraphs remembers each keyspace's last accepted graph.
type servingGraphs struct {
	log     *slog.Logger
	refused *prometheus.CounterVec

	mu   sync.Mutex
	good map[string]*topodatapb.SrvKeyspace
	// bad is the last graph refused per keyspace, so that a rebuild
	// that sees it again does not log and count it again.
	bad map[string]*topodatapb.SrvKeyspace
}

func newServingGraphs(log *slog.Logger, reg prometheus.Registerer) *servingGraphs {
	g := &servingGraphs{
		log: log,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_gate_serving_graph_refused_total",
			Help: "Serving graphs the gate refused because a tablet type's shards overlap or leave a gap, by keyspace; it keeps routing by the last good one.",
		}, []string{"keyspace"}),
		good: map[string]*topodatapb.SrvKeyspace{},
		bad:  map[string]*topodatapb.SrvKeyspace{},
	}
	reg.MustRegister(g.refused)
	return g
}

// accept returns the graph to route ks by: srv when it is valid, else
// the last one accepted (nil when none) and the refusal.
func (g *servingGraphs) accept(ks string, srv *topodatapb.SrvKeyspace) (*topodatapb.SrvKeyspace, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	err := topo.ValidateSrvKeyspace(srv)
	if err == nil {
		g.good[ks] = srv
		delete(g.bad, ks)
		return srv, nil
	}
	if last := g.bad[ks]; last == nil || !proto.Equal(last, srv) {
		g.bad[ks] = srv
		g.refused.WithLabelValues(ks).Inc()
		if g.good[ks] != nil {
			g.log.Error("serving graph refused; routing by the last good one", "keyspace", ks, "err", err)
		} else {
			g.log.Error("serving graph refused; the keyspace has no good one to route by", "keyspace", ks, "err", err)
		}
	}
	return g.good[ks], fmt.Errorf("serving graph of keyspace %s refused: %w", ks, err)
}

// forget drops what the gate remembers of keyspaces not in names.
func (g *servingGraphs) forget(names []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ks := range g.good {
		if !slices.Contains(names, ks) {
			delete(g.good, ks)
		}
	}
	for ks := range g.bad {
		if !slices.Contains(names, ks) {
			delete(g.bad, ks)
		}
	}
}

// servingInput reads the serving graph of ks and fills in what the
// router routes by: the shards of primary traffic, those of reads where
// they differ, and the keyspace's error when no graph can be used. It
// also returns the tablet types the graph says are being switched.
func (g *Gate) servingInput(ctx context.Context, ki *router.KeyspaceInput) ([]topodatapb.TabletType, error) {
	srv, err := g.ts.GetServingGraph(ctx, g.cfg.Cell, ki.Name)
	if errors.Is(err, topo.ErrNoNode) {
		// The keyspace went away between the list and this read.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	srv, refusal := g.serving.accept(ki.Name, srv)
	if srv == nil {
		ki.Err = refusal
		return nil, nil
	}
	ki.Shards, _ = topo.SrvShards(srv, topodatapb.TabletType_PRIMARY)
	for _, tt := range []topodatapb.TabletType{topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY} {
		if shards, _ := topo.SrvShards(srv, tt); len(shards) > 0 {
			if ki.ReadShards == nil {
				ki.ReadShards = map[topodatapb.TabletType][]string{}
			}
			ki.ReadShards[tt] = shards
		}
	}
	return srv.GetSwitching().GetTabletTypes(), nil
}
