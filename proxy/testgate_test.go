package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/testports"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// testGate is a gate run in the test over an in-memory topology of one
// unsharded keyspace, ks, and no tablet. It answers what needs none (the
// connection phase, PING, malformed packets, limits, preparing a
// statement that returns no rows), which is what the protocol tests
// exercise.
type testGate struct {
	g    *Gate
	addr string
	reg  *prometheus.Registry
	log  *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startTestGate(t *testing.T, configure func(*Config)) *testGate {
	t.Helper()
	return startTestGateWith(t, configure, nil)
}

// startTestGateWith is startTestGate with a hook on the gate before it
// runs.
func startTestGateWith(t *testing.T, configure func(*Config), before func(*Gate)) *testGate {
	t.Helper()
	addr, err := testports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.MySQLAddr, cfg.HTTPAddr = addr, ""
	cfg.Insecure = true // no tablet to reach
	cfg.TabletWait = 100 * time.Millisecond
	cfg.BufferWindow = 0
	if configure != nil {
		configure(&cfg)
	}
	tg := &testGate{addr: addr, reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(tg.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := topo.NewServer(memstore.New())
	if err := ts.CreateKeyspace(t.Context(), "ks", &topodatapb.Keyspace{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateShard(t.Context(), "ks", "0"); err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, ts, log, tg.reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Listen(); err != nil {
		t.Fatal(err)
	}
	tg.g = g
	if before != nil {
		before(g)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gate: %v", err)
		}
	})
	return tg
}

// connect logs in as the passwordless root.
func (tg *testGate) connect(t *testing.T) *client.Conn {
	t.Helper()
	c, err := client.ConnectWithContext(t.Context(), tg.addr, "root", "", "", 10*time.Second)
	if err != nil {
		t.Fatalf("connect to the gate: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// metricValue returns the value of a counter or gauge.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// A panic while serving one connection closes that connection only: the
// gate and its other sessions go on, the panic is counted and logged with
// the stack where it happened.
func TestConnectionPanicEndsOnlyThatConnection(t *testing.T) {
	tg := startTestGate(t, func(c *Config) {
		c.CommandTestHook = func(cmd byte, data []byte) {
			if string(data) == "select 'boom'" {
				panicInCommand()
			}
		}
	})
	bystander := tg.connect(t)
	victim := tg.connect(t)
	if _, err := victim.Execute("select 'boom'"); err == nil {
		t.Fatal("the panicking statement answered")
	}
	if err := victim.Ping(); err == nil {
		t.Fatal("the connection whose command panicked is still open")
	}
	if err := bystander.Ping(); err != nil {
		t.Fatalf("another connection broke: %v", err)
	}
	if err := tg.connect(t).Ping(); err != nil {
		t.Fatalf("a new connection after the panic: %v", err)
	}
	waitFor(t, 10*time.Second, "the panic to be counted", func() bool {
		return metricValue(t, tg.g.m.panics) == 1
	})
	log := tg.log.String()
	if !strings.Contains(log, "client connection panicked") || !strings.Contains(log, "panicInCommand") {
		t.Fatalf("the log does not show the panic and its stack:\n%s", log)
	}
	waitFor(t, 10*time.Second, "the connection to be forgotten", func() bool {
		return metricValue(t, tg.g.m.connections) == 2
	})
}

func panicInCommand() { panic("boom") }

// waitFor polls cond until it holds, failing t after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
