package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// httpGet returns the body of a GET, failing the test unless it is 200.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body)
}

// scrape reads a /metrics page.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(httpGet(t, "http://"+addr+"/metrics")))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// sample returns the value of the series of a family whose labels include
// want (a counter, gauge, or a histogram's count), or -1 when none does.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf, ok := mfs[name]
	if !ok {
		return -1
	}
	for _, m := range mf.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestObservability: the gate's and the tablets' metrics move with the
// statements that run, and their status pages, health checks and profiles
// answer.
func TestObservability(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{
		{Name: "commerce"},
		{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: `{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
			"tables": {"t": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`},
	}})
	gateHTTP := c.Gate.HTTPAddr().String()
	sharded := c.DB(t, "customer")
	mustExec(t, sharded, "create table t (id bigint primary key, v varchar(10))")
	mustExec(t, sharded, "insert into t (id, v) values (1, 'a'), (2, 'b'), (3, 'c')")
	primary := c.Shards["commerce"]["0"].Primary()

	t.Run("gate metrics", func(t *testing.T) {
		sel := map[string]string{"keyspace": "customer", "stmt_type": "SELECT", "plan_type": "EqualUnique", "tablet_type": "primary"}
		before := scrape(t, gateHTTP)
		for i := 1; i <= 3; i++ {
			if n := count(t, sharded, fmt.Sprintf("select count(*) from t where id = %d", i)); n != 1 {
				t.Fatalf("count %d", n)
			}
		}
		if _, err := sharded.Exec("select nope from t where id = 1"); err == nil {
			t.Fatal("a bad column passed")
		}
		after := scrape(t, gateHTTP)
		if d := sample(after, "mosaic_gate_queries_total", sel) - max(sample(before, "mosaic_gate_queries_total", sel), 0); d != 4 {
			t.Errorf("queries_total moved by %v, want 4 (3 selects and the failed one)", d)
		}
		if d := sample(after, "mosaic_gate_errors_total", map[string]string{"code": "1054"}) - max(sample(before, "mosaic_gate_errors_total", map[string]string{"code": "1054"}), 0); d != 1 {
			t.Errorf("errors_total{code=1054} moved by %v", d)
		}
		lat := map[string]string{"stmt_type": "SELECT"}
		if d := sample(after, "mosaic_gate_query_duration_seconds", lat) - max(sample(before, "mosaic_gate_query_duration_seconds", lat), 0); d < 4 {
			t.Errorf("latency histogram count moved by %v", d)
		}
		norm := map[string]string{"kind": "normalized"}
		if d := sample(after, "mosaic_gate_plan_cache_hits_total", norm) - sample(before, "mosaic_gate_plan_cache_hits_total", norm); d < 2 {
			t.Errorf("normalized plan cache hits moved by %v, want at least 2", d)
		}
		if sample(after, "mosaic_gate_plan_cache_plans", nil) < 1 || sample(after, "mosaic_gate_client_connections", nil) < 1 {
			t.Error("no cached plan or no client connection counted")
		}
		for _, sh := range []string{"-80", "80-"} {
			if v := sample(after, "mosaic_gate_tablet_serving", map[string]string{"keyspace": "customer", "shard": sh, "tablet_type": "primary"}); v != 1 {
				t.Errorf("tablet_serving of customer/%s = %v", sh, v)
			}
		}
	})

	t.Run("tablet metrics", func(t *testing.T) {
		before := scrape(t, primary.HTTPAddr)
		selects := map[string]string{"stmt_type": "SELECT"}
		// Hold a pooled connection with a slow statement and watch the
		// pool gauge and the running queries.
		commerce := c.DB(t, "commerce")
		done := make(chan error, 1)
		go func() {
			_, err := commerce.ExecContext(context.Background(), "select sleep(3)")
			done <- err
		}()
		deadline := time.Now().Add(20 * time.Second)
		for {
			m := scrape(t, primary.HTTPAddr)
			page := httpGet(t, "http://"+primary.HTTPAddr+"/debug/status")
			if sample(m, "mosaic_tablet_pool_in_use", nil) >= 1 && strings.Contains(page, "select sleep(3)") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pool in use %v; running queries never showed the sleep:\n%s", sample(m, "mosaic_tablet_pool_in_use", nil), page)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		after := scrape(t, primary.HTTPAddr)
		if d := sample(after, "mosaic_tablet_queries_total", selects) - sample(before, "mosaic_tablet_queries_total", selects); d < 1 {
			t.Errorf("tablet queries_total{SELECT} moved by %v", d)
		}
		if v := sample(after, "mosaic_tablet_type", map[string]string{"tablet_type": "primary"}); v != 1 {
			t.Errorf("mosaic_tablet_type{primary} = %v", v)
		}
		for _, name := range []string{"mosaic_tablet_serving", "mosaic_tablet_pool_size", "mosaic_tablet_replication_lag_seconds", "mosaic_tablet_info"} {
			if sample(after, name, nil) < 0 {
				t.Errorf("no %s", name)
			}
		}
		if sample(after, "mosaic_tablet_reparents_total", map[string]string{"action": "promoted"}) < 0 {
			t.Error("no mosaic_tablet_reparents_total")
		}
		// The pool wait histogram is there (its series appear with the first wait).
		if !strings.Contains(httpGet(t, "http://"+primary.HTTPAddr+"/metrics"), "mosaic_tablet_pool_wait_seconds") {
			t.Error("no mosaic_tablet_pool_wait_seconds")
		}
	})

	t.Run("status pages", func(t *testing.T) {
		page := httpGet(t, "http://"+gateHTTP+"/debug/status")
		for _, s := range []string{"<h2>Keyspaces</h2>", "<h2>Tablets</h2>", "<h2>Busiest plans</h2>", "<h2>Plan cache</h2>",
			"customer", "-80: ", primary.AliasString, "FROM `t` WHERE `id` = :v1"} {
			if !strings.Contains(page, s) {
				t.Errorf("gate status page lacks %q:\n%s", s, page)
			}
		}
		page = httpGet(t, "http://"+primary.HTTPAddr+"/debug/status")
		for _, s := range []string{"<h2>mysqld</h2>", "<h2>Replication</h2>", "<h2>Pools</h2>", "<h2>Running queries</h2>", primary.AliasString} {
			if !strings.Contains(page, s) {
				t.Errorf("tablet status page lacks %q:\n%s", s, page)
			}
		}
	})

	t.Run("healthz and profiles", func(t *testing.T) {
		for _, addr := range []string{gateHTTP, primary.HTTPAddr} {
			httpGet(t, "http://"+addr+"/healthz")
			if p := httpGet(t, "http://"+addr+"/debug/pprof/"); !strings.Contains(p, "goroutine") {
				t.Errorf("%s/debug/pprof/ has no profiles:\n%s", addr, p)
			}
			httpGet(t, "http://"+addr+"/debug/pprof/heap?debug=1")
		}
	})
}
