package bench_test

import (
	"context"
	"database/sql"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/testports"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/bench"
	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// TestWorkloadsThroughGate prepares and runs every workload through a
// real gate on a sharded keyspace for a second, with no error allowed,
// and compares the gate with mysqld directly on an unsharded one.
func TestWorkloadsThroughGate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	opts := bench.WorkloadOptions{Tables: 2, TableSize: 500, RangeSize: 20, PointSelects: 4, Warehouses: 2, Items: 50}
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{
			{Name: "commerce"},
			{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: bench.VSchemaJSON(opts)},
		},
	})
	sharded := c.DB(t, "customer")
	for _, name := range bench.WorkloadNames() {
		t.Run(name, func(t *testing.T) {
			w, err := bench.NewWorkload(name, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Prepare(t.Context(), sharded); err != nil {
				t.Fatal(err)
			}
			res, err := bench.Run(t.Context(), sharded, w, bench.RunOptions{Threads: 2, Duration: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 || res.Events == 0 {
				t.Fatalf("%d errors, %d events: %s", res.Errors, res.Events, res.Text())
			}
			if err := w.Cleanup(t.Context(), sharded); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("stream", func(t *testing.T) {
		if err := bench.PrepareStream(t.Context(), sharded, 3000); err != nil {
			t.Fatal(err)
		}
		rows, bytes, err := bench.StreamAll(t.Context(), sharded)
		if err != nil || rows != 3000 || bytes < 3000*100 {
			t.Fatalf("streamed %d rows, %d bytes: %v", rows, bytes, err)
		}
	})
	t.Run("compare", func(t *testing.T) {
		gate := c.DB(t, "commerce")
		direct, err := sql.Open("mysql", c.DirectDSN("commerce", "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close()
		w, _ := bench.NewWorkload("point-select", opts)
		if err := w.Prepare(t.Context(), gate); err != nil {
			t.Fatal(err)
		}
		probe := &bench.CPUProbe{Groups: map[string][]int{"test": {os.Getpid()}}}
		cmp, err := bench.Compare(t.Context(), gate, direct, w, bench.CompareOptions{
			Run:    bench.RunOptions{Threads: 2, Duration: 500 * time.Millisecond},
			Rounds: 2, LabelA: "gate", LabelB: "direct", Probe: probe,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(cmp.A.Rounds) != 2 || len(cmp.B.Rounds) != 2 || cmp.A.Median.QPS <= 0 || cmp.B.Median.QPS <= 0 ||
			cmp.Ratio.QPS != cmp.A.Median.QPS/cmp.B.Median.QPS || cmp.A.Median.Errors+cmp.B.Median.Errors != 0 {
			t.Fatalf("comparison:\n%s", cmp.Text())
		}
		// A workload runs through a forwarding hop in front of mysqld.
		dsn, err := mysql.ParseDSN(c.DirectDSN("commerce", "0"))
		if err != nil {
			t.Fatal(err)
		}
		l, err := testports.Listen()
		if err != nil {
			t.Fatal(err)
		}
		target := dsn.Addr
		ctx, stop := context.WithCancel(t.Context())
		forwarded := make(chan error, 1)
		go func() {
			forwarded <- bench.Forward(ctx, l, func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", target)
			})
		}()
		dsn.Addr = l.Addr().String()
		hop, err := sql.Open("mysql", dsn.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		res, err := bench.Run(t.Context(), hop, w, bench.RunOptions{Threads: 2, Duration: 300 * time.Millisecond})
		hop.Close()
		stop()
		if err != nil {
			t.Fatalf("through a forwarding hop: %v", err)
		}
		if res.Errors != 0 || res.Events == 0 {
			t.Fatalf("through a forwarding hop:\n%s", res.Text())
		}
		if err := <-forwarded; err != nil {
			t.Fatal(err)
		}
		// The gate runs in this process: its CPU per query shows.
		if cmp.A.Median.Probe["test_cpu_us_per_query"] <= 0 {
			t.Fatalf("no CPU measured:\n%s", cmp.Text())
		}
	})
}
