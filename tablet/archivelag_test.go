package tablet_test

import (
	"bufio"
	"database/sql"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

var archiveLagSeconds = flag.Int("archive-lag-seconds", 0, "TestBinlogArchiveLag: run a write load this long and sample the binlog archive's lag (0: skip)")

// TestBinlogArchiveLag measures the binlog archive's lag (the recovery
// point) under a write load: 8 writers inserting and updating rows on the
// primary for -archive-lag-seconds, the primary's
// mosaic_tablet_binlog_archive_lag_seconds sampled every 100 ms, with the
// default rotation (30 s) and with 5 s. Only with the flag.
func TestBinlogArchiveLag(t *testing.T) {
	if *archiveLagSeconds <= 0 {
		t.Skip("a measurement: give -archive-lag-seconds N")
	}
	for _, rotate := range []time.Duration{30 * time.Second, 5 * time.Second} {
		t.Run(rotate.String(), func(t *testing.T) {
			ts := topo.NewServer(etcdtest.NewStore(t))
			sh := tablettest.StartShardWithOptions(t, ts, "commerce", "0", 1, tablettest.Options{
				SemiSync: true,
				Configure: func(c *tablet.Config) {
					c.Backup.Storage = "file://" + filepath.Join(t.TempDir(), "store")
					c.Backup.ArchiveBinlogs = true
					c.Backup.ArchiveRotate = rotate
				},
			})
			primary := sh.Primary()
			p := primary.DBAParams()
			db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/%s", p.User, p.Password, p.Addr, p.DB))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("CREATE TABLE lag (id BIGINT PRIMARY KEY, n BIGINT, pad VARCHAR(200))"); err != nil {
				t.Fatal(err)
			}
			var writes atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int64(0); ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						id := int64(w)<<40 | i%1000
						if _, err := db.Exec("INSERT INTO lag VALUES (?, 1, REPEAT('x', 150)) ON DUPLICATE KEY UPDATE n = n + 1", id); err != nil {
							t.Errorf("write: %v", err)
							return
						}
						writes.Add(1)
					}
				}()
			}
			var samples []float64
			end := time.Now().Add(time.Duration(*archiveLagSeconds) * time.Second)
			for time.Now().Before(end) {
				time.Sleep(100 * time.Millisecond)
				samples = append(samples, metric(t, primary, "mosaic_tablet_binlog_archive_lag_seconds"))
			}
			close(stop)
			wg.Wait()
			sort.Float64s(samples)
			p99 := samples[len(samples)*99/100]
			t.Logf("rotate %v: %d transactions in %ds (%.0f/s); archive lag p50 %.2fs, p99 %.2fs, max %.2fs over %d samples",
				rotate, writes.Load(), *archiveLagSeconds, float64(writes.Load())/float64(*archiveLagSeconds),
				samples[len(samples)/2], p99, samples[len(samples)-1], len(samples))
			if samples[len(samples)-1] > rotate.Seconds()+30 {
				t.Errorf("the archive lagged %.1fs behind with segments of %v", samples[len(samples)-1], rotate)
			}
		})
	}
}

// metric reads a gauge from a tablet's /metrics.
func metric(t *testing.T, tb *tablettest.Tablet, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + tb.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("%s not in /metrics", name)
	return 0
}
