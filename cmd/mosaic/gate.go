package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/proxy"
)

func newGateCmd(lf *logFlags) *cobra.Command {
	cfg := proxy.DefaultConfig()
	var mysqlHost string
	var mysqlPort, httpPort int
	var users []string
	var tf *topoFlags
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "run a gate: the MySQL endpoint clients connect to",
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := lf.logger()
			if err != nil {
				return err
			}
			cfg.MySQLAddr = fmt.Sprintf("%s:%d", mysqlHost, mysqlPort)
			cfg.HTTPAddr = ""
			if httpPort > 0 {
				cfg.HTTPAddr = fmt.Sprintf("%s:%d", mysqlHost, httpPort)
			}
			if len(users) > 0 {
				cfg.Users = map[string]string{}
				for _, u := range users {
					name, pass, _ := strings.Cut(u, ":")
					cfg.Users[name] = pass
				}
			}
			ts, err := tf.open()
			if err != nil {
				return err
			}
			defer ts.Close()
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			g, err := proxy.New(cfg, ts, log.With("component", "gate"), reg)
			if err != nil {
				return err
			}
			if err := g.Listen(); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "gate listening on %s\n", g.Addr())
			return g.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	tf = addTopoFlags(fs)
	fs.StringVar(&cfg.Cell, "cell", cfg.Cell, "the gate's cell; it prefers tablets there")
	fs.StringVar(&mysqlHost, "mysql-host", "127.0.0.1", "address to listen on")
	fs.IntVar(&mysqlPort, "mysql-port", 15306, "MySQL protocol port")
	fs.IntVar(&httpPort, "http-port", 15000, "HTTP port for /metrics, /healthz, /debug/status (0: off)")
	fs.StringVar(&cfg.ServerVersion, "mysql-server-version", cfg.ServerVersion, "server version announced to clients")
	fs.StringSliceVar(&users, "user", nil, "user:password allowed to connect (repeatable); default passwordless root")
	fs.DurationVar(&cfg.QueryTimeout, "query-timeout", cfg.QueryTimeout, "upper bound on each statement (0: none)")
	fs.DurationVar(&cfg.HealthCheckTimeout, "health-check-timeout", cfg.HealthCheckTimeout, "drop a tablet whose health stream is silent this long")
	fs.DurationVar(&cfg.TabletWait, "tablet-wait", cfg.TabletWait, "how long a statement waits for a serving tablet")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "maximum client connections (0: no limit)")
	fs.IntVar(&cfg.Router.PlanCacheSize, "plan-cache-size", cfg.Router.PlanCacheSize, "number of cached query plans")
	return cmd
}
