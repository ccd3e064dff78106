package tabletgw

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// A statement of a switching keyspace waits until the gate has the graph
// without the flag; one of another keyspace does not; past the window it
// fails, retryably; beyond the size it fails at once.
func TestSwitchBuffer(t *testing.T) {
	m := newBufferMetrics(prometheus.NewRegistry())
	b := newBuffer(time.Second, 2, m)
	ctx := t.Context()
	if waited, err := b.awaitSwitch(ctx, "ks"); waited || err != nil {
		t.Fatalf("no switch: %v %v", waited, err)
	}
	b.installed(map[string][]string{"ks": {"0"}, "other": {"0"}}, map[string]bool{"ks": true})
	if waited, err := b.awaitSwitch(ctx, "other"); waited || err != nil {
		t.Fatalf("other keyspace: %v %v", waited, err)
	}
	released := make(chan error, 2)
	for range 2 {
		go func() {
			waited, err := b.awaitSwitch(ctx, "ks")
			if err == nil && !waited {
				err = errors.New("did not wait")
			}
			released <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		n := b.events[switchKey("ks")].waiting
		b.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("statements did not wait")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := b.awaitSwitch(ctx, "ks"); !sqlerr.IsRetryable(err) {
		t.Fatalf("third statement with a buffer of 2: %v, want a retryable refusal", err)
	}
	if !b.switchRefused("ks", "0") || b.switchRefused("other", "0") {
		t.Fatal("switchRefused during the switch")
	}
	b.installed(map[string][]string{"ks": {"-80", "80-"}, "other": {"0"}}, nil)
	for range 2 {
		if err := <-released; err != nil {
			t.Fatal(err)
		}
	}
	if !b.switchRefused("ks", "0") || b.switchRefused("ks", "-80") || b.switchRefused("other", "-80") {
		t.Fatal("switchRefused after the switch")
	}
	if got := counterValue(t, m.of(trafficSwitch).requests.WithLabelValues("ks", "released")); got != 2 {
		t.Fatalf("released = %v", got)
	}
	// A switch that does not end within the window.
	b.installed(map[string][]string{"ks": {"-80", "80-"}}, map[string]bool{"ks": true})
	start := time.Now()
	if _, err := b.awaitSwitch(ctx, "ks"); !sqlerr.IsRetryable(err) || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("past the window: %v after %v", err, time.Since(start))
	}
	start = time.Now()
	if _, err := b.awaitSwitch(ctx, "ks"); !sqlerr.IsRetryable(err) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("after the window: %v after %v, want an error at once", err, time.Since(start))
	}
}

// A primary request refused by a fenced source while its keyspace
// switches, or after the switch moved the keyspace's primary traffic
// away from the shard, asks for the statement to wait for the switch
// and be planned again, instead of waiting in the shard's failover
// buffer for a primary that will not come back. Without a switch, a
// refusal waits there as before.
func TestRetryPrimaryAfterSwitch(t *testing.T) {
	hc := fakeHealth()
	// One window for both causes, as the gate has: long enough that the
	// ended switch still counts, short enough for the failover wait.
	gw := newGateway(Config{Cell: "zone1", TabletWait: time.Second, MaxReplicaLag: 0}, hc, newBuffer(time.Second, 10, newBufferMetrics(prometheus.NewRegistry())))
	setTablet(hc, "a", topodatapb.TabletType_PRIMARY, true, 1, 0, false, time.Now())
	target := &querypb.Target{Keyspace: "ks", Shard: "0", TabletType: topodatapb.TabletType_PRIMARY}
	refuse := func(th *TabletHealth) error { return sqlerr.NotServing("fenced") }

	gw.buf.installed(map[string][]string{"ks": {"0"}}, nil)
	if err := gw.Call(t.Context(), target, refuse); errors.Is(err, ErrSwitched) || !sqlerr.IsRetryable(err) {
		t.Fatalf("refusal without a switch: %v, want the failover buffer's refusal", err)
	}
	gw.buf.installed(map[string][]string{"ks": {"0"}}, map[string]bool{"ks": true})
	if err := gw.Call(t.Context(), target, refuse); !errors.Is(err, ErrSwitched) {
		t.Fatalf("refusal during the switch: %v, want ErrSwitched", err)
	}
	gw.buf.installed(map[string][]string{"ks": {"-80", "80-"}}, nil)
	if err := gw.Call(t.Context(), target, refuse); !errors.Is(err, ErrSwitched) {
		t.Fatalf("refusal by a shard the switch moved away from: %v, want ErrSwitched", err)
	}
}
