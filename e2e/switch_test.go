package e2e

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/router/vindexes"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/topo"
)

const switchVSchema = `{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
 "tables": {"t": {"column_vindexes": [{"column": "id", "name": "hash"}]},
            "whereami": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`

// gateMetric sums a gate counter or gauge over the series whose labels
// include want ("name", "value" pairs).
func gateMetric(t *testing.T, c *cluster.Cluster, name string, want ...string) float64 {
	t.Helper()
	mfs, err := c.GateRegistry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.Metric {
			for i := 0; i+1 < len(want); i += 2 {
				found := false
				for _, l := range m.Label {
					found = found || l.GetName() == want[i] && l.GetValue() == want[i+1]
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestServingGraphSwitch splits the sharded keyspace customer, served by
// its one shard 0, into -80 and 80- by hand (the target shards are
// filled by the test, as a reshard's copy would) and checks the gate's
// side of the serving graph on real tablets:
//
//   - new shards serve nothing: the gate does not route to them although
//     their tablets run;
//   - a graph written by hand into etcd whose shards overlap, or leave a
//     gap, is refused: the gate keeps routing by the last good one;
//   - reads move first (replica), then writes (primary), with the source
//     fenced, while clients write and read through the gate: no client
//     sees an error, statements wait in the switch buffer, and every
//     acknowledged write is on the shard its vindex names, once.
func TestServingGraphSwitch(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "customer", Shards: []string{"0"}, VSchema: switchVSchema}},
		Replicas:  1,
		Gate:      func(cfg *proxy.Config) { cfg.BufferWindow = time.Minute },
	})
	ctx := t.Context()
	ts := c.TS
	targets := c.StartNewShards(t, "customer", []string{"-80", "80-"}, 1)
	source := c.Shards["customer"]["0"]

	primaryDB := c.DB(t, "customer")
	replicaDB := c.DB(t, "customer@replica")
	for _, q := range []string{
		"CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(16))",
		"CREATE TABLE whereami (id BIGINT PRIMARY KEY, shard VARCHAR(16))",
		"INSERT INTO whereami VALUES (1, '0')",
	} {
		if _, err := primaryDB.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for sh, s := range targets {
		s.Primary().ExecuteFetchAsDba(t, "CREATE TABLE customer.t (id BIGINT PRIMARY KEY, v VARCHAR(16))")
		s.Primary().ExecuteFetchAsDba(t, "CREATE TABLE customer.whereami (id BIGINT PRIMARY KEY, shard VARCHAR(16))")
		s.Primary().ExecuteFetchAsDba(t, fmt.Sprintf("INSERT INTO customer.whereami VALUES (1, '%s')", sh))
	}
	// where returns the shards a scatter read reaches, polling until it
	// is want.
	where := func(db *sql.DB, want ...string) {
		t.Helper()
		var got []string
		deadline := time.Now().Add(30 * time.Second)
		for {
			got = got[:0]
			rows, err := db.QueryContext(ctx, "SELECT shard FROM whereami")
			if err == nil {
				for rows.Next() {
					var s string
					if err = rows.Scan(&s); err != nil {
						break
					}
					got = append(got, s)
				}
				if err == nil {
					err = rows.Err()
				}
				rows.Close()
			}
			sort.Strings(got)
			if err == nil && slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("scatter read reaches %v (%v), want %v", got, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	where(primaryDB, "0")
	where(replicaDB, "0")

	t.Run("RefusesBadGraph", func(t *testing.T) {
		for i, bad := range []string{
			`{"partitions": [{"served_type": "PRIMARY", "shard_references": [{"name": "0"}, {"name": "-80"}, {"name": "80-"}]}]}`,
			`{"partitions": [{"served_type": "PRIMARY", "shard_references": [{"name": "-80"}]}, {"served_type": "REPLICA", "shard_references": [{"name": "0"}]}]}`,
		} {
			if _, err := ts.Store().Update(ctx, "cells/zone1/serving/customer", []byte(bad), 0); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for gateMetric(t, c, "mosaic_gate_serving_graph_refused_total", "keyspace", "customer") < float64(i+1) {
				if time.Now().After(deadline) {
					t.Fatalf("the gate did not refuse graph %d", i)
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Still routed by the last good graph: reads and writes.
			where(primaryDB, "0")
			where(replicaDB, "0")
			if _, err := primaryDB.ExecContext(ctx, "INSERT INTO t VALUES (?, 'refused')", -1-i); err != nil {
				t.Fatalf("write while a bad graph is in etcd: %v", err)
			}
		}
		if err := ts.RebuildSrvKeyspace(ctx, "zone1", "customer"); err != nil {
			t.Fatal(err)
		}
	})

	// A session that targets one shard reads any shard, and writes only
	// to shards that serve primary traffic: before the switch, the copy
	// owns the targets' rows.
	t.Run("ShardTargetedWrites", func(t *testing.T) {
		// Its own pool: a targeted connection must not go back to the
		// pool the other subtests use.
		conn, err := c.DB(t, "customer").Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "USE `customer:-80`"); err != nil {
			t.Fatal(err)
		}
		var shard string
		if err := conn.QueryRowContext(ctx, "SELECT shard FROM whereami").Scan(&shard); err != nil || shard != "-80" {
			t.Fatalf("read on the target through USE customer:-80: %q, %v", shard, err)
		}
		for _, q := range []string{"INSERT INTO t VALUES (-100, 'x')", "UPDATE whereami SET shard = 'y'", "DELETE FROM t", "CREATE TABLE u (id INT PRIMARY KEY)"} {
			_, err := conn.ExecContext(ctx, q)
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1235 || !strings.Contains(me.Message, "does not serve") {
				t.Errorf("%s through USE customer:-80 before the switch: %v, want 1235", q, err)
			}
		}
		if got := rowStrings(t, targets["-80"].Primary().ExecuteFetchAsDba(t, "SELECT COUNT(*) FROM customer.t WHERE id = -100")); got[0][0] != "0" {
			t.Errorf("the refused insert is on the target")
		}
		if _, err := conn.ExecContext(ctx, "USE `customer:0`"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO t VALUES (-100, 'x')"); err != nil {
			t.Errorf("write through USE customer:0, which serves: %v", err)
		}
		if _, err := conn.ExecContext(ctx, "DELETE FROM t WHERE id = -100"); err != nil {
			t.Errorf("delete through USE customer:0: %v", err)
		}
	})

	// copyRows copies every row of t from the source to the target its
	// vindex names, as a reshard's copy and catch-up would.
	copyRows := func() {
		t.Helper()
		res := source.Primary().ExecuteFetchAsDba(t, "SELECT id, v FROM customer.t")
		var stmts [2][]string
		for _, row := range rowStrings(t, res) {
			var id int64
			fmt.Sscan(row[0], &id)
			ksid, _ := vindexes.Hash{}.Map(id)
			i := 0
			if kr, _ := keyrange.Parse("80-"); keyrange.Contains(kr, ksid) {
				i = 1
			}
			stmts[i] = append(stmts[i], fmt.Sprintf("(%d, '%s')", id, row[1]))
		}
		for i, sh := range []string{"-80", "80-"} {
			if len(stmts[i]) > 0 {
				targets[sh].Primary().ExecuteFetchAsDba(t, "INSERT IGNORE INTO customer.t VALUES "+strings.Join(stmts[i], ","))
			}
		}
	}

	t.Run("SwitchUnderLoad", func(t *testing.T) {
		// Clients write new rows and read back acknowledged ones all along.
		var next atomic.Int64
		next.Store(1000)
		var acked sync.Map
		var failures atomic.Int64
		var firstErr atomic.Value
		stop := make(chan struct{})
		var writers sync.WaitGroup
		for range 4 {
			writers.Add(1)
			go func() {
				defer writers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					id := next.Add(1)
					if _, err := primaryDB.ExecContext(ctx, "INSERT INTO t (id, v) VALUES (?, 'w')", id); err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Errorf("insert %d: %w", id, err))
						continue
					}
					acked.Store(id, true)
					var v string
					if err := primaryDB.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Errorf("read back %d: %w", id, err))
					}
				}
			}()
		}
		defer func() {
			close(stop)
			writers.Wait()
		}()
		waitAcked := func(n int64) {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for next.Load() < n {
				if time.Now().After(deadline) {
					t.Fatalf("writers stuck at %d", next.Load())
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		waitAcked(1200)
		copyRows()

		// Reads move first.
		_, v, err := ts.GetKeyspaceVersion(ctx, "customer")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.SwitchServedShards(ctx, topo.SwitchRequest{Keyspace: "customer",
			TabletTypes: []topodatapb.TabletType{topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY},
			From:        []string{"0"}, To: []string{"-80", "80-"}, KeyspaceVersion: v}); err != nil {
			t.Fatal(err)
		}
		where(replicaDB, "-80", "80-")
		where(primaryDB, "0")
		waitAcked(next.Load() + 200)

		// Then writes: fence the source, drain it, catch the targets up,
		// switch. The gate holds the writers' statements meanwhile.
		_, v, err = ts.GetKeyspaceVersion(ctx, "customer")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: "customer", TabletTypes: []topodatapb.TabletType{topodatapb.TabletType_PRIMARY},
			Fence: []string{"0"}, KeyspaceVersion: v, Reason: "e2e", StartedUnixNano: time.Now().UnixNano()}); err != nil {
			t.Fatal(err)
		}
		drained, err := source.Primary().Dial(t).TM.RefreshState(ctx, &tabletmanagerpb.RefreshStateRequest{})
		if err != nil || !drained.QueryServiceDisabled || drained.Position == "" {
			t.Fatalf("RefreshState of the fenced source = %v, %v", drained, err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for gateMetric(t, c, "mosaic_gate_switch_buffered_requests", "keyspace", "customer") < 1 {
			if time.Now().After(deadline) {
				t.Fatal("no statement waits in the switch buffer")
			}
			time.Sleep(5 * time.Millisecond)
		}
		copyRows()
		switchStart := time.Now()
		if _, err := ts.SwitchServedShards(ctx, topo.SwitchRequest{Keyspace: "customer", TabletTypes: []topodatapb.TabletType{topodatapb.TabletType_PRIMARY},
			From: []string{"0"}, To: []string{"-80", "80-"}}); err != nil {
			t.Fatal(err)
		}
		where(primaryDB, "-80", "80-")
		t.Logf("primary traffic on the targets %v after the switch commit", time.Since(switchStart).Round(time.Millisecond))
		waitAcked(next.Load() + 200)
		close(stop)
		writers.Wait()
		stop = make(chan struct{})

		if n := failures.Load(); n > 0 {
			t.Fatalf("%d client errors during the switch; first: %v", n, firstErr.Load())
		}
		if n := gateMetric(t, c, "mosaic_gate_switch_buffered_requests_total", "keyspace", "customer", "outcome", "released"); n < 1 {
			t.Fatalf("%v statements released from the switch buffer", n)
		}
		// Every acknowledged write once, on the shard its vindex names;
		// nothing was written to the source after its fence.
		onTargets := map[int64]string{}
		for sh, s := range targets {
			kr, _ := keyrange.Parse(sh)
			for _, row := range rowStrings(t, s.Primary().ExecuteFetchAsDba(t, "SELECT id FROM customer.t")) {
				var id int64
				fmt.Sscan(row[0], &id)
				if other, dup := onTargets[id]; dup {
					t.Fatalf("row %d on %s and %s", id, other, sh)
				}
				if ksid, _ := (vindexes.Hash{}).Map(id); !keyrange.Contains(kr, ksid) {
					t.Fatalf("row %d on %s, not its shard", id, sh)
				}
				onTargets[id] = sh
			}
		}
		missing := 0
		acked.Range(func(k, _ any) bool {
			if _, ok := onTargets[k.(int64)]; !ok {
				missing++
			}
			return true
		})
		if missing > 0 {
			t.Fatalf("%d acknowledged writes missing from the targets", missing)
		}
		after := rowStrings(t, source.Primary().ExecuteFetchAsDba(t, "SELECT COUNT(*) FROM customer.t"))
		var onSource int
		fmt.Sscan(after[0][0], &onSource)
		for id := range onTargets {
			if id >= 1000 {
				onSource--
			}
		}
		if onSource > 2 { // the two rows of RefusesBadGraph
			t.Fatalf("the source holds %d rows of t that are not on the targets", onSource-2)
		}
	})

	t.Run("DeleteShard", func(t *testing.T) {
		if err := ts.DeleteShard(ctx, "customer", "-80"); !errors.Is(err, topo.ErrShardServing) {
			t.Fatalf("delete of a serving shard: %v", err)
		}
		if err := ts.DeleteShard(ctx, "customer", "0"); err != nil {
			t.Fatalf("delete of the old source: %v", err)
		}
		where(primaryDB, "-80", "80-")
	})
}

// rowStrings decodes a result's rows as strings (NULL as "NULL").
func rowStrings(t *testing.T, res *querypb.QueryResult) [][]string {
	t.Helper()
	var out [][]string
	for _, raw := range res.Rows {
		vals, err := mysqlconn.RowValues(raw, len(res.Fields))
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = "NULL"
			if v != nil {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	return out
}
