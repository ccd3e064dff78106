package tablet_test

import (
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPointSelect measures a point select through gRPC to the
// tablet, reporting this process's CPU (client and tablet, not mysqld)
// per query.
func BenchmarkPointSelect(b *testing.B) {
	ts := topo.NewServer(memstore.New())
	sh := tablettest.StartShard(b, ts, "bench", "0", 0)
	c := sh.Primary().Dial(b)
	ctx := b.Context()
	target := sh.Target(primaryType)
	for _, sql := range []string{"CREATE TABLE p (id INT PRIMARY KEY, v VARCHAR(64))", "INSERT INTO p VALUES (1, 'hello'), (2, 'world')"} {
		if _, err := c.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: sql}); err != nil {
			b.Fatal(err)
		}
	}
	req := &querypb.ExecuteRequest{Target: target, Sql: "SELECT id, v FROM p WHERE id = 1"}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		if _, err := c.Query.Execute(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkPointSelectStream is BenchmarkPointSelect through
// StreamExecute, the path the gate takes for a SELECT.
func BenchmarkPointSelectStream(b *testing.B) {
	ts := topo.NewServer(memstore.New())
	sh := tablettest.StartShard(b, ts, "bench", "0", 0)
	c := sh.Primary().Dial(b)
	ctx := b.Context()
	target := sh.Target(primaryType)
	for _, sql := range []string{"CREATE TABLE p (id INT PRIMARY KEY, v VARCHAR(64))", "INSERT INTO p VALUES (1, 'hello'), (2, 'world')"} {
		if _, err := c.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: sql}); err != nil {
			b.Fatal(err)
		}
	}
	req := &querypb.ExecuteRequest{Target: target, Sql: "SELECT id, v FROM p WHERE id = 1"}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		st, err := c.Query.StreamExecute(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := st.Recv(); err != nil {
				if err == io.EOF {
					break
				}
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
