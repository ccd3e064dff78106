package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// Manager runs workflow operations against a topology.
type Manager struct {
	ts *topo.Server
	// Dial opens a client of a tablet (tmclient.DialTablet by default).
	Dial func(t *topodatapb.Tablet) (*tmclient.Client, error)
	Log  *slog.Logger
}

// New returns a Manager over ts that reaches tablets with creds (the
// operator certificate's, or tmclient.Insecure()).
func New(ts *topo.Server, creds credentials.TransportCredentials, log *slog.Logger) *Manager {
	return &Manager{ts: ts, Dial: func(t *topodatapb.Tablet) (*tmclient.Client, error) { return tmclient.DialTablet(t, creds) }, Log: log}
}

// primary returns the primary tablet record of ks/shard.
func (m *Manager) primary(ctx context.Context, ks, shard string) (*topodatapb.Tablet, error) {
	sh, _, err := m.ts.GetShard(ctx, ks, shard)
	if err != nil {
		return nil, err
	}
	if sh.PrimaryAlias == nil {
		return nil, fmt.Errorf("shard %s/%s has no primary: start its tablets and run `mosaicctl shard init-primary` first", ks, shard)
	}
	t, err := m.ts.GetTablet(ctx, sh.PrimaryAlias)
	if err != nil {
		return nil, fmt.Errorf("primary of %s/%s: %w", ks, shard, err)
	}
	return t, nil
}

// dialPrimary opens a client of the primary of ks/shard.
func (m *Manager) dialPrimary(ctx context.Context, ks, shard string) (*tmclient.Client, *topodatapb.Tablet, error) {
	t, err := m.primary(ctx, ks, shard)
	if err != nil {
		return nil, nil, err
	}
	c, err := m.Dial(t)
	if err != nil {
		return nil, nil, err
	}
	return c, t, nil
}

// dbaExecutor runs statements on a tablet as root (ExecuteFetchAsDba),
// for vrepl.CheckTables.
type dbaExecutor struct {
	ctx context.Context
	c   *tmclient.Client
}

func (d dbaExecutor) Execute(sql string, maxRows int) (*querypb.QueryResult, error) {
	if maxRows <= 0 {
		maxRows = 100000
	}
	resp, err := d.c.TM.ExecuteFetchAsDba(d.ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: sql, MaxRows: int64(maxRows)})
	if err != nil {
		return nil, err
	}
	return resp.Result, nil
}

// checkTiling checks that shards are valid names whose ranges follow one
// another without overlap or gap, and returns the range they cover.
func checkTiling(what string, shards []string) (*topodatapb.KeyRange, error) {
	if len(shards) == 0 {
		return nil, fmt.Errorf("no %s shards", what)
	}
	type sk struct {
		name string
		kr   *topodatapb.KeyRange
	}
	var list []sk
	seen := map[string]bool{}
	for _, s := range shards {
		if seen[s] {
			return nil, fmt.Errorf("%s shard %s is listed twice", what, s)
		}
		seen[s] = true
		kr, err := keyrange.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s shard: %w", what, err)
		}
		list = append(list, sk{s, kr})
	}
	sort.Slice(list, func(i, j int) bool { return keyrange.Less(list[i].kr, list[j].kr) })
	for i := 1; i < len(list); i++ {
		prev, cur := list[i-1], list[i]
		if keyrange.IsFull(prev.kr) || len(prev.kr.End) == 0 {
			return nil, fmt.Errorf("%s shards %s and %s overlap", what, prev.name, cur.name)
		}
		switch c := compareBounds(prev.kr.End, cur.kr.Start); {
		case c > 0:
			return nil, fmt.Errorf("%s shards %s and %s overlap", what, prev.name, cur.name)
		case c < 0:
			return nil, fmt.Errorf("%s shards %s and %s leave a gap between them", what, prev.name, cur.name)
		}
	}
	return &topodatapb.KeyRange{Start: list[0].kr.GetStart(), End: list[len(list)-1].kr.GetEnd()}, nil
}

// compareBounds compares two key range bounds, the shorter padded with
// zeros.
func compareBounds(a, b []byte) int {
	n := max(len(a), len(b))
	for i := 0; i < n; i++ {
		var x, y byte
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// checkNewWorkflow refuses a workflow name already taken in ks
// (ErrExists) and a topo error reading it.
func (m *Manager) checkNewWorkflow(ctx context.Context, ks, name string) error {
	_, _, err := m.ts.GetWorkflow(ctx, ks, name)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s in keyspace %s", ErrExists, name, ks)
	case errors.Is(err, topo.ErrNoNode):
		return nil
	}
	return err
}
