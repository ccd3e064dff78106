package tabletgw

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// fakeHealth builds a HealthCheck whose tablets are set by the test.
func fakeHealth() *HealthCheck {
	return NewHealthCheck(slog.New(slog.DiscardHandler), nil, time.Minute)
}

// setTablet publishes a tablet's health in hc.
func setTablet(hc *HealthCheck, alias string, tt topodatapb.TabletType, serving bool, term int64, lag uint32, replOK bool, seen time.Time) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	e := hc.entries[alias]
	if e == nil {
		e = &tabletEntry{tablet: &topodatapb.Tablet{Alias: &topodatapb.TabletAlias{Cell: "zone1"}}}
		hc.entries[alias] = e
	}
	e.health = &TabletHealth{
		Alias: alias, Tablet: e.tablet, Serving: serving, PrimaryTermStart: term,
		Target:         &querypb.Target{Keyspace: "ks", Shard: "0", TabletType: tt},
		ReplicationLag: lag, ReplicationOK: replOK, LastSeen: seen,
	}
	hc.rebuildLocked()
}

func TestFailoverBufferReleasesOnNewPrimary(t *testing.T) {
	hc := fakeHealth()
	reg := prometheus.NewRegistry()
	bm := newBufferMetrics(reg)
	gw := newGateway(Config{Cell: "zone1", TabletWait: time.Second, MaxReplicaLag: 0}, hc, newBuffer(5*time.Second, 10, bm))
	setTablet(hc, "a", topodatapb.TabletType_PRIMARY, true, 1, 0, false, time.Now())
	target := &querypb.Target{Keyspace: "ks", Shard: "0", TabletType: topodatapb.TabletType_PRIMARY}

	// The old primary refuses (it is being demoted); the new one serves a
	// moment later: the request waits and runs there.
	go func() {
		time.Sleep(100 * time.Millisecond)
		setTablet(hc, "a", topodatapb.TabletType_REPLICA, true, 0, 0, true, time.Now())
		time.Sleep(100 * time.Millisecond)
		setTablet(hc, "b", topodatapb.TabletType_PRIMARY, true, 2, 0, false, time.Now())
	}()
	var tried []string
	start := time.Now()
	err := gw.Call(context.Background(), target, func(th *TabletHealth) error {
		tried = append(tried, th.Alias)
		if th.Alias == "a" {
			return sqlerr.NotServing("demoting")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tried, ",") != "a,b" {
		t.Fatalf("tried %v, want a then b", tried)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Errorf("waited %v", d)
	}
	if n := counterValue(t, bm.of(failover).events.WithLabelValues("ks", "0")); n != 1 {
		t.Errorf("buffer events = %v", n)
	}
	if n := counterValue(t, bm.of(failover).requests.WithLabelValues("ks", "0", "released")); n != 1 {
		t.Errorf("released requests = %v", n)
	}
	// The event ended with the release: the next outage starts a new one.
	if gw.buf.active[failover].Load() != 0 {
		t.Error("buffering event still active after the release")
	}
}

func TestFailoverBufferWindowAndSize(t *testing.T) {
	hc := fakeHealth()
	bm := newBufferMetrics(prometheus.NewRegistry())
	buf := newBuffer(300*time.Millisecond, 1, bm)
	gw := newGateway(Config{Cell: "zone1", TabletWait: time.Second, MaxReplicaLag: 0}, hc, buf)
	target := &querypb.Target{Keyspace: "ks", Shard: "0", TabletType: topodatapb.TabletType_PRIMARY}

	// One request fills the buffer of one; a second fails at once.
	done := make(chan error, 1)
	go func() {
		done <- gw.Call(context.Background(), target, func(*TabletHealth) error { return nil })
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf.mu.Lock()
		ev := buf.events[eventKey{failover, "ks", "0"}]
		waiting := ev != nil && ev.waiting == 1
		buf.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first request never buffered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	err := gw.Call(context.Background(), target, func(*TabletHealth) error { return nil })
	if !sqlerr.IsRetryable(err) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("request over the buffer size: %v after %v", err, time.Since(start))
	}
	// No primary comes: the first fails when the window passes.
	err = <-done
	if !sqlerr.IsRetryable(err) {
		t.Fatalf("request past the window: %v", err)
	}
	if n := counterValue(t, bm.of(failover).requests.WithLabelValues("ks", "0", "window_passed")); n != 1 {
		t.Errorf("window_passed = %v", n)
	}
	if n := counterValue(t, bm.of(failover).requests.WithLabelValues("ks", "0", "buffer_full")); n != 1 {
		t.Errorf("buffer_full = %v", n)
	}
	// Past the window, requests fail at once until a primary serves.
	start = time.Now()
	if err := gw.Call(context.Background(), target, func(*TabletHealth) error { return nil }); err == nil || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("request after the window: %v after %v", err, time.Since(start))
	}
	setTablet(hc, "b", topodatapb.TabletType_PRIMARY, true, 2, 0, false, time.Now())
	if err := gw.Call(context.Background(), target, func(*TabletHealth) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if buf.active[failover].Load() != 0 {
		t.Error("event not ended once a primary served")
	}
}

func TestReplicaLagLimit(t *testing.T) {
	hc := fakeHealth()
	gw := newGateway(Config{Cell: "zone1", TabletWait: 0, MaxReplicaLag: 2 * time.Second}, hc, nil)
	now := time.Now()
	// Replication stopped one second ago with 1.5s of lag reported: 2.5s now.
	setTablet(hc, "stopped", topodatapb.TabletType_REPLICA, true, 0, 1, false, now.Add(-1500*time.Millisecond))
	setTablet(hc, "fine", topodatapb.TabletType_REPLICA, true, 0, 1, true, now.Add(-5*time.Second))
	for i := 0; i < 50; i++ {
		th, err := gw.Pick(context.Background(), "ks", "0", topodatapb.TabletType_REPLICA)
		if err != nil {
			t.Fatal(err)
		}
		if th.Alias != "fine" {
			t.Fatalf("picked %s, lagging past the limit", th.Alias)
		}
	}
	setTablet(hc, "fine", topodatapb.TabletType_REPLICA, true, 0, 3, true, now)
	if th, err := gw.Pick(context.Background(), "ks", "0", topodatapb.TabletType_REPLICA); err == nil {
		t.Fatalf("picked %s although every replica lags past the limit", th.Alias)
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
