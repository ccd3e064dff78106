package proxy

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

func graph(primary []string, replica []string, switching ...topodatapb.TabletType) *topodatapb.SrvKeyspace {
	srv := &topodatapb.SrvKeyspace{}
	for i, shards := range [][]string{primary, replica} {
		p := &topodatapb.SrvKeyspace_Partition{ServedType: []topodatapb.TabletType{topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA}[i]}
		for _, s := range shards {
			kr, _ := keyrange.Parse(s)
			p.ShardReferences = append(p.ShardReferences, &topodatapb.ShardReference{Name: s, KeyRange: kr})
		}
		srv.Partitions = append(srv.Partitions, p)
	}
	if len(switching) > 0 {
		srv.Switching = &topodatapb.TrafficSwitch{TabletTypes: switching}
	}
	return srv
}

// A graph whose shards overlap or leave a gap is refused, counted once,
// and the last good one stays in force.
func TestServingGraphRefusal(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := newServingGraphs(slog.New(slog.DiscardHandler), reg)
	if got, err := g.accept("ks", graph([]string{"-80", "-40", "80-"}, nil)); got != nil || err == nil {
		t.Fatalf("first graph overlapping: %v, %v; want none to route by and an error", got, err)
	}
	good := graph([]string{"-80", "80-"}, []string{"-40", "40-80", "80-"})
	if got, err := g.accept("ks", good); got != good || err != nil {
		t.Fatalf("good graph: %v, %v", got, err)
	}
	for _, bad := range []*topodatapb.SrvKeyspace{
		graph([]string{"-80", "-40", "80-"}, nil),
		graph([]string{"-80", "-40", "80-"}, nil), // the same again: not counted twice
		graph([]string{"-80"}, nil),
		graph([]string{"-80", "80-"}, []string{"-40", "80-"}),
	} {
		got, err := g.accept("ks", bad)
		if got != good || !errors.Is(err, keyrange.ErrNotPartition) {
			t.Fatalf("bad graph %v: routed by %v, %v", bad, got, err)
		}
	}
	if n := counterValue(t, g.refused.WithLabelValues("ks")); n != 4 {
		t.Fatalf("refusals counted %v, want 4 (the first, then three distinct)", n)
	}
}
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
