package main

import (
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/cmd/internal/clusterauth"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proxy"
)

func newGateCmd(lf *logFlags) *cobra.Command {
	cfg := proxy.DefaultConfig()
	var mysqlHost, httpHost string
	var mysqlPort, httpPort int
	var users []string
	var usersFile, maxPacket, maxMemory, maxStmtMemory string
	var txMode string
	var tf *topoFlags
	var sf *clusterauth.Flags
	var gcf *gcFlags
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
				if httpHost == "" {
					httpHost = mysqlHost
				}
				cfg.HTTPAddr = net.JoinHostPort(httpHost, strconv.Itoa(httpPort))
			}
			mode, err := proxy.ParseTransactionMode(txMode)
			if err != nil {
				return err
			}
			cfg.TransactionMode = mode
			if usersFile != "" {
				us, err := proxy.LoadUsersFile(usersFile)
				if err != nil {
					return err
				}
				cfg.Users = us
			}
			for _, u := range users {
				name, pass, _ := strings.Cut(u, ":")
				cfg.Users = append(cfg.Users, proxy.User{Name: name, Password: pass})
			}
			n, err := parseSize(maxPacket)
			if err != nil {
				return fmt.Errorf("--max-allowed-packet: %w", err)
			}
			cfg.MaxAllowedPacket = n
			m, err := parseSize(maxMemory)
			if err != nil {
				return fmt.Errorf("--max-memory-in-flight: %w", err)
			}
			cfg.MaxMemoryInFlight = int64(m)
			sm, err := parseSize(maxStmtMemory)
			if err != nil {
				return fmt.Errorf("--max-memory-per-statement: %w", err)
			}
			cfg.Router.MaxStatementMemory = int64(sm)
			if cfg.MaxMemoryInFlight > 0 && os.Getenv("GOMEMLIMIT") == "" {
				// The budget bounds what statements in flight hold;
				// the garbage they leave (a big packet's smaller
				// buffers, its text once run) is collected before the
				// process grows past twice the budget and 256 MiB
				// for the rest, instead of at the collector's own pace.
				debug.SetMemoryLimit(2*cfg.MaxMemoryInFlight + 256<<20)
			}
			sec, err := sf.Load(log)
			if err != nil {
				return err
			}
			cfg.ClusterTLS, cfg.Insecure = sec.Cluster, sec.Insecure
			ts, err := tf.open(sec)
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
			go gcf.run(cmd.Context())
			go sec.Watch(cmd.Context())
			return g.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	tf = addTopoFlags(fs)
	sf = clusterauth.Add(fs, mtls.RoleGate)
	gcf = addGCFlags(fs)
	fs.StringVar(&cfg.Cell, "cell", cfg.Cell, "the gate's cell; it prefers tablets there")
	fs.StringVar(&mysqlHost, "mysql-host", "127.0.0.1", "address to listen on")
	fs.IntVar(&mysqlPort, "mysql-port", 15306, "MySQL protocol port")
	fs.IntVar(&httpPort, "http-port", 15000, "HTTP port for /metrics, /healthz, /debug/status (0: off)")
	fs.StringVar(&httpHost, "http-host", "", "address the HTTP port listens on, which answers anyone without TLS: keep it internal (default: --mysql-host)")
	fs.StringVar(&cfg.ServerVersion, "mysql-server-version", cfg.ServerVersion, "server version announced to clients")
	fs.StringSliceVar(&users, "user", nil, "user:password allowed to connect (repeatable); default passwordless root")
	fs.StringVar(&usersFile, "users-file", "", "JSON or YAML file of users, password hashes and per-user rules (docs/connecting.md)")
	fs.StringVar(&cfg.DefaultAuthPlugin, "default-auth-plugin", cfg.DefaultAuthPlugin, "authentication plugin announced to clients: mysql_native_password or caching_sha2_password")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate for client TLS")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key for client TLS")
	fs.BoolVar(&cfg.RequireSecureTransport, "require-secure-transport", false, "refuse clients that do not use TLS (error 3159)")
	fs.StringVar(&maxPacket, "max-allowed-packet", "64M", "largest packet a client may send (error 1153 beyond); K, M, G suffixes")
	fs.DurationVar(&cfg.QueryTimeout, "query-timeout", cfg.QueryTimeout, "upper bound on each statement, error 3024 (0: none)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "close client connections idle this long (0: never)")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", cfg.ConnectTimeout, "disconnect a client that has not logged in this long after connecting (mysqld's connect_timeout)")
	fs.DurationVar(&cfg.NetReadTimeout, "net-read-timeout", cfg.NetReadTimeout, "disconnect a client that stops this long in the middle of a packet (mysqld's net_read_timeout)")
	fs.DurationVar(&cfg.HealthCheckTimeout, "health-check-timeout", cfg.HealthCheckTimeout, "drop a tablet whose health stream is silent this long")
	fs.DurationVar(&cfg.TabletWait, "tablet-wait", cfg.TabletWait, "how long a statement waits for a serving tablet")
	fs.DurationVar(&cfg.MaxReplicaLag, "max-replica-lag", cfg.MaxReplicaLag, "never read @replica/@rdonly from a tablet lagging more than this (0: no limit)")
	fs.DurationVar(&cfg.BufferWindow, "buffer-window", cfg.BufferWindow, "how long writes to a shard wait for a new primary during a reparent or failover (0: no buffering)")
	fs.IntVar(&cfg.BufferSize, "buffer-size", cfg.BufferSize, "most requests buffered per shard; more fail at once")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "maximum client connections (0: no limit); one more gets error 1040")
	fs.StringVar(&maxMemory, "max-memory-in-flight", "1G", "memory budget of statements in flight, all clients together (packets, long data, parsing big statements); past it new work gets error 1041 (0: none); K, M, G suffixes")
	fs.BoolVar(&cfg.TabletSockets, "tablet-sockets", cfg.TabletSockets, "reach tablets on this host through their unix sockets instead of TCP")
	fs.IntVar(&cfg.TabletStreams, "tablet-streams", cfg.TabletStreams, "Multiplex streams to each tablet for Execute calls (0: one unary gRPC call each)")
	fs.StringVar(&txMode, "transaction-mode", cfg.TransactionMode.String(), "how transactions across shards commit: single (refuse a second shard), multi (shard by shard) or twopc (atomic, two-phase commit); SET transaction_mode changes it per session")
	fs.DurationVar(&cfg.TwoPCAbandonAge, "twopc-abandon-age", cfg.TwoPCAbandonAge, "age after which the resolver finishes a distributed transaction whose coordinator went away")
	fs.DurationVar(&cfg.LockHeartbeatInterval, "lock-heartbeat-interval", cfg.LockHeartbeatInterval, "how often the gate heartbeats its sessions' lock sessions (GET_LOCK) on the tablets; keep it well below the tablets' --reserved-timeout")
	fs.DurationVar(&cfg.TwoPCResolveInterval, "twopc-resolve-interval", cfg.TwoPCResolveInterval, "how often the resolver looks for distributed transactions to finish (0: never)")
	fs.IntVar(&cfg.Router.PlanCacheSize, "plan-cache-size", cfg.Router.PlanCacheSize, "number of cached query plans")
	fs.StringVar(&maxStmtMemory, "max-memory-per-statement", "64M", "rows one statement may hold in the gate to join, group, sort or deduplicate them across shards; past it the statement fails with error 1290 (0: no limit); K, M, G suffixes")
	return cmd
}

// parseSize parses a byte count with an optional K, M or G suffix.
func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "K") || strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M") || strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G") || strings.HasSuffix(s, "g"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
