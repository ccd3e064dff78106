package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/tablet/deadlock"
	"github.com/mosaicdb/mosaic/topo"
)

// deadlockFlags are `mosaic failover`'s flags for the deadlock detector
// it runs beside the failure detector.
type deadlockFlags struct {
	on  bool
	cfg deadlock.Config
}

func addDeadlockFlags(fs *pflag.FlagSet) *deadlockFlags {
	f := &deadlockFlags{cfg: deadlock.DefaultConfig()}
	fs.BoolVar(&f.on, "deadlock-detection", true, "find deadlocks across shards and abort a victim of each (docs/transactions.md)")
	fs.DurationVar(&f.cfg.Interval, "deadlock-interval", f.cfg.Interval, "time between two rounds of asking the primaries for their row lock waits")
	fs.DurationVar(&f.cfg.MinWait, "deadlock-min-wait", f.cfg.MinWait, "how long a statement must have waited on a row lock before the detector looks at it")
	return f
}

// start runs the detector until ctx ends, unless it is turned off; the
// returned func waits for it to stop.
func (f *deadlockFlags) start(ctx context.Context, ts *topo.Server, keyspaces []string, creds credentials.TransportCredentials, log *slog.Logger, reg prometheus.Registerer) (func(), error) {
	if !f.on {
		return func() {}, nil
	}
	cfg := f.cfg
	cfg.Keyspaces, cfg.Creds = keyspaces, creds
	d, err := deadlock.New(cfg, ts, log.With("component", "deadlock"), reg)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = d.Run(ctx) }()
	return wg.Wait, nil
}
