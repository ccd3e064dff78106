package cluster

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/tablet/deadlock"
)

// StartDeadlockDetector runs a deadlock detector on the cluster, as
// `mosaic failover` does, with the operator's certificate, until the test
// ends; configure may change its config. It returns the registry of the
// detector's metrics. Several may run at once.
func (c *Cluster) StartDeadlockDetector(t testing.TB, log *slog.Logger, configure func(*deadlock.Config)) *prometheus.Registry {
	t.Helper()
	cfg := deadlock.DefaultConfig()
	cfg.Creds = c.Security.Creds(t, mtls.RoleOperator)
	if configure != nil {
		configure(&cfg)
	}
	reg := prometheus.NewRegistry()
	d, err := deadlock.New(cfg, c.TS, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return reg
}
