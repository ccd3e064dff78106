package e2e

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/restorepoint"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
)

// TestKeyspaceRestorePoint restores a two-shard keyspace to a restore
// point taken while two-phase transfers between its shards ran, and
// checks that no transfer is half there: the total balance is what it
// was, once the gate's resolver has settled the branches the restore
// left prepared. Restore points are taken by the first shard's primary
// every 200 ms and once by `mosaicctl restore-point create`; the keyspace
// is then lost (every tablet and its data) and rebuilt from the backup
// storage alone with `mosaicctl restore --new-primary --restore-point`.
func TestKeyspaceRestorePoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs backups and restores")
	}
	backupDir := t.TempDir()
	configure := func(cfg *tablet.Config) {
		cfg.Backup.Storage = "file://" + backupDir
		cfg.Backup.ArchiveBinlogs = true
		cfg.Backup.ArchiveRotate = time.Second
		cfg.Backup.RestorePointInterval = 200 * time.Millisecond
	}
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "bank", Shards: []string{"-80", "80-"}, VSchema: accountVSchema}},
		Tablets:   tablettest.Options{Configure: configure},
		Gate: func(cfg *proxy.Config) {
			cfg.TransactionMode = proxy.TransactionModeTwoPC
			cfg.TwoPCAbandonAge = 2 * time.Second
			cfg.TwoPCResolveInterval = 300 * time.Millisecond
		},
	})
	db := c.DB(t, "bank")
	mustExec(t, db, "create table account (id bigint primary key, bal bigint not null)")
	low, high := idsOnShards(8)
	const start, total = 1000, 16 * 1000
	for _, id := range append(append([]int64{}, low...), high...) {
		mustExec(t, db, "insert into account (id, bal) values (?, ?)", id, start)
	}
	ctl := cluster.BuildMosaicctl(t)
	run := func(args ...string) (string, error) {
		t.Helper()
		out, err := exec.Command(ctl, append(append([]string{"--topo-endpoints", c.TopoAddr}, c.Security.Flags()...), args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("backup", "--keyspace", "bank", "--allow-primary"); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}

	// Transfers between a -80 account and an 80- account, each a
	// two-phase commit across both shards.
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var committed, failed atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for ctx.Err() == nil {
				// The -80 account is always locked first: opposite orders
				// would deadlock across shards, which only the deadlock
				// detector (not run here) breaks quickly.
				a, b, amount := low[r.IntN(len(low))], high[r.IntN(len(high))], r.IntN(19)-9
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					continue
				}
				_, err1 := tx.Exec("update account set bal = bal - ? where id = ?", amount, a)
				_, err2 := tx.Exec("update account set bal = bal + ? where id = ?", amount, b)
				if err1 != nil || err2 != nil {
					tx.Rollback()
					failed.Add(1)
					continue
				}
				if err := tx.Commit(); err != nil {
					failed.Add(1)
					continue
				}
				committed.Add(1)
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	out, err := run("restore-point", "create", "--keyspace", "bank")
	if err != nil {
		stop()
		wg.Wait()
		t.Fatalf("restore-point create: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	var id string
	if _, err := fmt.Sscanf(out, "restore point %s", &id); err != nil {
		t.Fatalf("no restore point id in %q", out)
	}
	atPoint := committed.Load()
	time.Sleep(1500 * time.Millisecond)
	stop()
	wg.Wait()
	t.Logf("%d transfers committed (%d when the restore point was taken), %d failed", committed.Load(), atPoint, failed.Load())
	if atPoint == 0 || committed.Load() == atPoint {
		t.Fatalf("the restore point is not in the middle of the transfers: %d before it, %d in all", atPoint, committed.Load())
	}
	if got := oneValue(t, db, "select sum(bal) from account"); got != fmt.Sprint(total) {
		t.Fatalf("total balance before the loss: %s, want %d", got, total)
	}
	out, err = run("restore-point", "list", "--keyspace", "bank")
	if err != nil {
		t.Fatalf("restore-point list: %v\n%s", err, out)
	}
	if n := strings.Count(out, " -80 "); n < 5 || !strings.Contains(out, id) {
		t.Fatalf("restore-point list shows %d restore points, want the scheduled ones (every 200ms) and %s:\n%s", n, id, out)
	}
	before := map[string]string{}
	for _, sh := range []string{"-80", "80-"} {
		before[sh] = checksum(t, c.Shards["bank"][sh].Primary(), "account")
	}

	// The archive must hold each shard's position at the restore point.
	store, err := backupstore.OpenStore(t.Context(), "file://"+backupDir, backupstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := c.TS.GetRestorePoint(t.Context(), "bank", id)
	if err != nil {
		t.Fatal(err)
	}
	for sh, pos := range rp.Positions {
		seq, err := backupstore.SeqOf(pos)
		if err != nil {
			t.Fatalf("position %q of %s: %v", pos, sh, err)
		}
		eventually(t, time.Minute, "the archive of "+sh+" holds "+pos, func() error {
			segs, err := backupstore.ListSegments(t.Context(), store, "bank", sh)
			if err != nil {
				return err
			}
			line, err := backupstore.Timeline(segs)
			if err != nil {
				return err
			}
			_, err = backupstore.Chain(line, 0, seq)
			return err
		})
	}

	// The keyspace is lost: every tablet and its data.
	c.StopGate()
	var certs = c.Shards["bank"]["-80"].Primary().Certs
	for _, sh := range []string{"-80", "80-"} {
		for _, tb := range c.Shards["bank"][sh].Tablets {
			tb.Stop()
			if err := os.RemoveAll(tb.Dir); err != nil {
				t.Fatal(err)
			}
		}
	}
	fresh := tablettest.Options{Certs: certs, Configure: func(cfg *tablet.Config) {
		configure(cfg)
		cfg.AutoRepair = false
	}}
	news := map[string]*tablettest.Tablet{}
	for _, sh := range []string{"-80", "80-"} {
		news[sh] = tablettest.StartTablet(t, c.TS, "bank", sh, fresh)
	}
	begin := time.Now()
	out, err = run("restore", "--keyspace", "bank", "--new-primary", "--restore-point", id)
	if err != nil {
		t.Fatalf("restore --restore-point: %v\n%s", err, out)
	}
	t.Logf("%s(%v)", out, time.Since(begin).Round(time.Millisecond))
	prepared := 0
	for _, tb := range news {
		prepared += len(values(t, tb.ExecuteFetchAsDba(t, "XA RECOVER")))
	}
	t.Logf("%d branches left prepared by the restore", prepared)
	c.StartGate(t)
	db = c.DB(t, "bank")

	// The resolver settles what the restore left prepared; then every
	// transfer is wholly there or wholly not.
	eventually(t, time.Minute, "no prepared branch left on the restored primaries", func() error {
		for sh, tb := range news {
			if xa := values(t, tb.ExecuteFetchAsDba(t, "XA RECOVER")); len(xa) > 0 {
				return fmt.Errorf("%s holds %d prepared branches", sh, len(xa))
			}
		}
		return nil
	})
	if got := oneValue(t, db, "select sum(bal) from account"); got != fmt.Sprint(total) {
		t.Fatalf("total balance after restoring to %s: %s, want %d: a transfer is half there", id, got, total)
	}
	if got := oneValue(t, db, "select count(*) from account where bal != 1000"); got == "0" {
		t.Errorf("no transfer is in the restored keyspace, though %d had committed at the restore point", atPoint)
	}
	changed := 0
	for sh, tb := range news {
		if checksum(t, tb, "account") != before[sh] {
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("both restored shards equal the lost ones, though %d transfers committed after the restore point", committed.Load()-atPoint)
	}
	mustExec(t, db, "update account set bal = bal where id = ?", low[0])
}

// values returns every row of a result as strings.
func values(t *testing.T, res *querypb.QueryResult) [][]string {
	t.Helper()
	var out [][]string
	for _, r := range res.Rows {
		vals, err := mysqlconn.RowValues(r, len(res.Fields))
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = string(v)
		}
		out = append(out, row)
	}
	return out
}

var restorePointBench = flag.Duration("restore-point-bench", 0, "TestRestorePointCost: how long each round runs (0 skips the test); rounds alternate without and with a restore point every 200 ms")

// TestRestorePointCost measures what restore points cost the commits that
// span shards: two-phase transfers from 4 clients, in rounds that
// alternate between no restore points and one every 200 ms (taken by the
// test with restorepoint.Take, as a tablet's schedule would), side by
// side in one run. It reports each kind's commit latency p50/p99/max and
// the holds' durations; it asserts nothing about the figures.
//
//	go test ./e2e -run TestRestorePointCost -restore-point-bench 10s -v
func TestRestorePointCost(t *testing.T) {
	if *restorePointBench <= 0 {
		t.Skip("a measurement: give -restore-point-bench")
	}
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "bank", Shards: []string{"-80", "80-"}, VSchema: accountVSchema}},
		Gate: func(cfg *proxy.Config) {
			cfg.TransactionMode = proxy.TransactionModeTwoPC
		},
	})
	db := c.DB(t, "bank")
	db.SetMaxOpenConns(8)
	mustExec(t, db, "create table account (id bigint primary key, bal bigint not null)")
	low, high := idsOnShards(64)
	for _, id := range append(append([]int64{}, low...), high...) {
		mustExec(t, db, "insert into account (id, bal) values (?, 1000)", id)
	}
	creds := c.TabletCreds(t, mtls.RoleOperator)
	dial := func(tb *topodatapb.Tablet) (tabletmanagerpb.TabletManagerClient, func(), error) {
		cl, err := tmclient.DialTablet(tb, creds)
		if err != nil {
			return nil, nil, err
		}
		return cl.TM, func() { cl.Close() }, nil
	}
	round := func(points bool) (lat []time.Duration, holds []time.Duration) {
		ctx, stop := context.WithTimeout(t.Context(), *restorePointBench)
		defer stop()
		var mu sync.Mutex
		var wg sync.WaitGroup
		if points {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(200 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					rp, err := restorepoint.Take(ctx, c.TS, "bank", dial, restorepoint.Options{})
					if err == nil {
						mu.Lock()
						holds = append(holds, time.Duration(rp.HoldNs))
						mu.Unlock()
					}
				}
			}()
		}
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 11))
				for ctx.Err() == nil {
					a, b := low[r.IntN(len(low))], high[r.IntN(len(high))]
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						continue
					}
					_, err1 := tx.Exec("update account set bal = bal - 1 where id = ?", a)
					_, err2 := tx.Exec("update account set bal = bal + 1 where id = ?", b)
					if err1 != nil || err2 != nil {
						tx.Rollback()
						continue
					}
					start := time.Now()
					if err := tx.Commit(); err != nil {
						continue
					}
					d := time.Since(start)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return lat, holds
	}
	pct := func(ds []time.Duration, p float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[min(len(s)-1, int(p*float64(len(s))))]
	}
	for i := range 3 {
		for _, points := range []bool{false, true} {
			lat, holds := round(points)
			t.Logf("round %d, restore points %-5v: %5d commits, commit p50 %v p99 %v max %v; %d holds p50 %v p99 %v max %v",
				i+1, points, len(lat), pct(lat, .5).Round(time.Microsecond), pct(lat, .99).Round(time.Microsecond), pct(lat, 1).Round(time.Microsecond),
				len(holds), pct(holds, .5).Round(time.Microsecond), pct(holds, .99).Round(time.Microsecond), pct(holds, 1).Round(time.Microsecond))
		}
	}
}
