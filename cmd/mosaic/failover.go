package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/cmd/internal/clusterauth"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/tablet/failover"
)

// newFailoverCmd is `mosaic failover`: the failure detector that runs
// emergency reparents.
func newFailoverCmd(lf *logFlags) *cobra.Command {
	cfg := failover.DefaultConfig()
	var httpPort int
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "run the failure detector: emergency reparent of shards whose primary is down",
		Long: `failover watches every shard record and primary lease in the topology and
follows each primary's health. When a shard's primary is down (it lost its
lease: dead, or cut off from the topology; or its gRPC and mysqld ports refuse
connections), or holds its lease while its mysqld has not answered for
--unresponsive-grace, it runs an emergency reparent: the most advanced replica
becomes the primary. Several may run; the shard lock makes them take turns.
See docs/operations.md.

It also runs the deadlock detector (--deadlock-detection): it asks the
primaries for their row lock waits, finds the deadlocks across shards that
no single mysqld can see, and aborts a victim of each, which gets 1213. See
docs/transactions.md.`,
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	tf := addTopoFlags(fs)
	sf := clusterauth.Add(fs, mtls.RoleOperator)
	fs.StringSliceVar(&cfg.Keyspaces, "keyspaces", nil, "keyspaces to watch (default: all)")
	fs.DurationVar(&cfg.StartupGrace, "startup-grace", cfg.StartupGrace, "leave shards whose primary was not seen healthy alone this long after start")
	fs.DurationVar(&cfg.UnresponsiveGrace, "unresponsive-grace", cfg.UnresponsiveGrace, "fail over a primary that holds its lease once its tablet has said this long that its mysqld does not answer (0: never)")
	fs.DurationVar(&cfg.HealthTimeout, "health-timeout", cfg.HealthTimeout, "a primary's health stream silent this long is cut, and its ports probed")
	fs.DurationVar(&cfg.RetryInterval, "retry-interval", cfg.RetryInterval, "pause between failed attempts at one shard")
	fs.DurationVar(&cfg.Reparent.WaitReplicasTimeout, "wait-replicas-timeout", 30*time.Second, "how long the new primary may take to apply its relay log")
	fs.DurationVar(&cfg.Reparent.LeaseWait, "lease-wait", 15*time.Second, "how long to wait for a fenced primary's lease to go")
	fs.DurationVar(&cfg.Reparent.TabletTimeout, "tablet-timeout", 10*time.Second, "how long a reparent waits for each call to one tablet (a frozen tablet is left out after it)")
	fs.IntVar(&httpPort, "http-port", 0, "HTTP port for /metrics (0: off)")
	df := addDeadlockFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		log, err := lf.logger()
		if err != nil {
			return err
		}
		sec, err := sf.Load(log)
		if err != nil {
			return err
		}
		cfg.Reparent.Creds = sec.TabletCreds()
		ts, err := tf.open(sec)
		if err != nil {
			return err
		}
		defer ts.Close()
		go sec.Watch(cmd.Context())
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		c, err := failover.New(cfg, ts, log, reg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(cmd.Context())
		defer cancel()
		waitDetector, err := df.start(ctx, ts, cfg.Keyspaces, cfg.Reparent.Creds, log, reg)
		if err != nil {
			return err
		}
		defer waitDetector()
		defer cancel()
		if httpPort > 0 {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)))
			if err != nil {
				return fmt.Errorf("failover http: %w", err)
			}
			srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(l)
			defer srv.Close()
		}
		return c.Run(ctx)
	}
	return cmd
}
