package vrepl

import (
	"context"
	"fmt"
	"sort"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/topo"
)

// sourceClient is a stream's connection to one source tablet.
type sourceClient struct {
	tablet *topodatapb.Tablet
	client vreplicationpb.VReplicationClient
	close  func()
}

func (c *sourceClient) name() string { return topo.AliasString(c.tablet.Alias) }

// dialSource connects to a tablet of ks/shard: its replicas first (the
// copy's reads and the binlog's sends then spare the primary), in alias
// order, then its primary; attempt picks the candidate, so that retries
// go round them.
func (e *Engine) dialSource(ctx context.Context, ks, shard string, attempt int) (*sourceClient, error) {
	tablets, err := e.ts.ShardTablets(ctx, ks, shard)
	if err != nil {
		return nil, fmt.Errorf("list tablets of %s/%s: %w", ks, shard, err)
	}
	cands := sourceCandidates(tablets)
	if len(cands) == 0 {
		return nil, fmt.Errorf("%s/%s: %w (none registered)", ks, shard, errNoSource)
	}
	t := cands[attempt%len(cands)]
	client, closeFn, err := e.dial(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", topo.AliasString(t.Alias), err)
	}
	return &sourceClient{tablet: t, client: client, close: closeFn}, nil
}

// sourceCandidates orders the tablets a stream may read: replicas and
// rdonly tablets by alias, then the primary.
func sourceCandidates(tablets []*topodatapb.Tablet) []*topodatapb.Tablet {
	var reps, prim []*topodatapb.Tablet
	for _, t := range tablets {
		switch t.Type {
		case topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY:
			reps = append(reps, t)
		case topodatapb.TabletType_PRIMARY:
			prim = append(prim, t)
		}
	}
	sort.Slice(reps, func(i, j int) bool { return topo.AliasString(reps[i].Alias) < topo.AliasString(reps[j].Alias) })
	return append(reps, prim...)
}

// rowValues splits a text-protocol row.
func rowValues(raw []byte, n int) ([][]byte, error) { return mysqlconn.RowValues(raw, n) }
