package tablet_test

import (
	"io"
	"slices"
	"sync"
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

// BenchmarkPointSelectTLS compares point selects against two tablets side
// by side, one serving mutual TLS (with authorization of each call) and
// one --insecure: rounds of 20,000 queries from 8 goroutines, the sides
// alternating round by round, and this process's CPU per query (the
// client's end of each gRPC call and the tablet's, not mysqld) as each
// side's median over the rounds. Their difference is what TLS costs
// both ends of a call per query. Run it once: -benchtime 1x.
func BenchmarkPointSelectTLS(b *testing.B) {
	const (
		rounds    = 7
		perRound  = 20000
		goroutine = 8
	)
	ts := topo.NewServer(memstore.New())
	sides := []string{"mtls", "insecure"}
	shards := map[string]*tablettest.Shard{
		"mtls":     tablettest.StartShardWithOptions(b, ts, "secure", "0", 0, tablettest.Options{}),
		"insecure": tablettest.StartShardWithOptions(b, ts, "plain", "0", 0, tablettest.Options{Insecure: true}),
	}
	ctx := b.Context()
	run := func(side string, n int) time.Duration {
		sh := shards[side]
		c := sh.Primary().Dial(b)
		req := &querypb.ExecuteRequest{Target: sh.Target(primaryType), Sql: "SELECT id, v FROM p WHERE id = 1"}
		start := cpuTime()
		var wg sync.WaitGroup
		for range goroutine {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n / goroutine {
					if _, err := c.Query.Execute(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return cpuTime() - start
	}
	for _, side := range sides {
		sh := shards[side]
		c := sh.Primary().Dial(b)
		for _, sql := range []string{"CREATE TABLE p (id INT PRIMARY KEY, v VARCHAR(64))", "INSERT INTO p VALUES (1, 'hello'), (2, 'world')"} {
			if _, err := c.Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(primaryType), Sql: sql}); err != nil {
				b.Fatal(err)
			}
		}
		run(side, perRound/4) // warm-up
	}
	for b.Loop() {
		perQuery := map[string][]float64{}
		for r := range rounds {
			order := sides
			if r%2 == 1 {
				order = []string{sides[1], sides[0]}
			}
			for _, side := range order {
				perQuery[side] = append(perQuery[side], float64(run(side, perRound).Nanoseconds())/1000/perRound)
			}
		}
		for _, side := range sides {
			v := perQuery[side]
			slices.Sort(v)
			b.ReportMetric(v[len(v)/2], side+"-cpu-µs/query")
		}
	}
}
