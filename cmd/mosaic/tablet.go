package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/cmd/internal/clusterauth"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/topo"
)

// newTabletCmd is `mosaic tablet`: one mariadbd and its agent.
func newTabletCmd(lf *logFlags) *cobra.Command {
	cfg := tablet.DefaultConfig()
	var initType, templateDir, secretsFile string
	cmd := &cobra.Command{
		Use:   "tablet",
		Short: "run a tablet: one mysqld and its agent",
		Long: `tablet runs one mariadbd and the agent that manages it: the Query and
TabletManager gRPC services, health streaming, and /healthz, /debug/status
and /metrics over HTTP. It registers itself in the topology and comes up as
the primary if the shard record names it, else as a replica.`,
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.Alias, "alias", "", "tablet alias <cell>-<uid>, e.g. zone1-101 (required)")
	fs.StringVar(&cfg.Keyspace, "keyspace", "", "keyspace (required)")
	fs.StringVar(&cfg.Shard, "shard", "0", "shard name: 0 or a key range like -80")
	fs.StringVar(&cfg.DBName, "db-name", "", "MySQL database of the keyspace (default: the keyspace name)")
	fs.StringVar(&cfg.Dir, "tablet-dir", "", "tablet dir for mysqld's data, config and logs (required)")
	fs.StringVar(&cfg.Hostname, "hostname", cfg.Hostname, "host name other tablets and gates use to reach this tablet")
	fs.StringVar(&cfg.ListenAddress, "listen-address", cfg.ListenAddress, "address the gRPC and HTTP servers bind")
	fs.IntVar(&cfg.GRPCPort, "grpc-port", 0, "gRPC port (required)")
	fs.IntVar(&cfg.HTTPPort, "http-port", 0, "HTTP port (required)")
	fs.StringVar(&cfg.GRPCSocket, "grpc-socket", cfg.GRPCSocket, "unix socket serving gRPC too, for gates on this host (default <tablet-dir>/grpc.sock; \"none\": no socket)")
	fs.IntVar(&cfg.MySQLPort, "mysql-port", 0, "mysqld port (required)")
	fs.StringVar(&initType, "init-tablet-type", "replica", "type when not the primary: replica or rdonly")
	fs.StringVar(&cfg.Flavor, "db-flavor", cfg.Flavor, "replication flavor: mariadb (tested) or mysql8")
	fs.DurationVar(&cfg.HealthInterval, "health-interval", cfg.HealthInterval, "longest gap between two health messages")
	fs.DurationVar(&cfg.MysqldProbeInterval, "mysqld-probe-interval", cfg.MysqldProbeInterval, "how often the tablet asks mysqld a query to know it answers")
	fs.DurationVar(&cfg.MysqldProbeTimeout, "mysqld-probe-timeout", cfg.MysqldProbeTimeout, "a mysqld that does not answer the probe within this (connection included) makes the tablet stop serving; a primary's is then failed over after the failure detector's --unresponsive-grace")
	fs.DurationVar(&cfg.FenceTimeout, "fence-timeout", cfg.FenceTimeout, "how long a fenced primary tries to turn mysqld read-only before it kills it (at once when mysqld does not answer); keep it well under --semi-sync-timeout")
	fs.DurationVar(&cfg.FencedHoldTimeout, "fenced-hold-timeout", cfg.FencedHoldTimeout, "how long a mysqld killed by a fence stays down while the shard has no other primary (it restarts, read-only, as soon as the shard record names another)")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", cfg.HeartbeatInterval, "how often the primary writes its heartbeat row, by which replicas measure their lag (0: off, replicas use Seconds_Behind_Master); hosts need synchronized clocks")
	fs.BoolVar(&cfg.SemiSync, "semi-sync", cfg.SemiSync, "semi-sync replication where the shard has replicas (off: asynchronous)")
	fs.IntVar(&cfg.SemiSyncAckCount, "semi-sync-ack-count", cfg.SemiSyncAckCount, "replica acks a primary waits for before a commit returns: 0 is asynchronous; MariaDB waits for exactly 1 (more is refused); fewer when the shard has fewer replicas")
	fs.DurationVar(&cfg.SemiSyncTimeout, "semi-sync-timeout", cfg.SemiSyncTimeout, "how long a primary waits for acks before going asynchronous (commits acknowledged then are not protected)")
	fs.DurationVar(&cfg.SemiSyncWatchdog, "semi-sync-watchdog", cfg.SemiSyncWatchdog, "how long a semi-sync primary tolerates counting no acking replica while replicas are connected before it makes them reconnect (0: never)")
	fs.DurationVar(&cfg.PrimaryLeaseTTL, "primary-lease-ttl", cfg.PrimaryLeaseTTL, "time to live of the primary lease in topo: a primary cut off from topo stops writes within 3/4 of it; a dead one's lease expires after it")
	fs.BoolVar(&cfg.AutoRepair, "auto-repair", cfg.AutoRepair, "rebuild this replica from a healthy peer when its data is lost or its replication is broken for good")
	fs.DurationVar(&cfg.RepairDelay, "repair-delay", cfg.RepairDelay, "how long replication must stay broken before an automatic repair")
	fs.DurationVar(&cfg.QueryServiceDrainTimeout, "query-service-drain-timeout", cfg.QueryServiceDrainTimeout, "when the shard record disables this tablet's query service (the fence of a traffic switch): how long open transactions may finish before they are rolled back")
	bf := addBackupFlags(fs, &cfg.Backup)

	fs.IntVar(&cfg.Query.PoolSize, "pool-size", cfg.Query.PoolSize, "mysqld connections for queries")
	fs.IntVar(&cfg.Query.TxPoolSize, "tx-pool-size", cfg.Query.TxPoolSize, "mysqld connections for transactions")
	fs.DurationVar(&cfg.Query.QueryTimeout, "query-timeout", cfg.Query.QueryTimeout, "default query timeout")
	fs.DurationVar(&cfg.Query.TxIdleTimeout, "transaction-timeout", cfg.Query.TxIdleTimeout, "roll back transactions idle longer than this")
	fs.IntVar(&cfg.Query.ReservedPoolSize, "reserved-pool-size", cfg.Query.ReservedPoolSize, "mysqld connections for reserved connections (the gate's lock sessions for GET_LOCK)")
	fs.DurationVar(&cfg.Query.ReservedTimeout, "reserved-timeout", cfg.Query.ReservedTimeout, "release a reserved connection (a gate's lock session, with its locks) not heard from for this long; gates heartbeat theirs every --lock-heartbeat-interval")
	fs.IntVar(&cfg.Query.MaxRows, "max-rows", cfg.Query.MaxRows, "row limit of a non-streamed result")

	fs.DurationVar(&cfg.VRepl.CopyCycle, "vrepl-copy-cycle", cfg.VRepl.CopyCycle, "resharding: how long a stream copies rows from one snapshot before it catches up with the binlog")
	fs.IntVar(&cfg.VRepl.CopyRowsPerSecond, "vrepl-copy-rows-per-second", cfg.VRepl.CopyRowsPerSecond, "resharding: the most rows a stream copies per second (0: no limit)")
	fs.BoolVar(&cfg.VRepl.CopyLoadData, "vrepl-copy-load-data", cfg.VRepl.CopyLoadData, "resharding: the copy writes rows with LOAD DATA LOCAL rather than INSERTs")
	fs.IntVar(&cfg.VRepl.RowBatchBytes, "vrepl-batch-bytes", cfg.VRepl.RowBatchBytes, "resharding: bytes of rows per message and per INSERT of the copy")
	fs.DurationVar(&cfg.VRepl.MaxRetryDelay, "vrepl-max-retry-delay", cfg.VRepl.MaxRetryDelay, "resharding: the longest pause between a failed stream's retries")

	fs.StringVar(&cfg.Mysqld.InnoDBBufferPoolSize, "innodb-buffer-pool-size", cfg.Mysqld.InnoDBBufferPoolSize, "mysqld innodb_buffer_pool_size")
	fs.BoolVar(&cfg.Mysqld.ThreadPool, "mysqld-thread-pool", cfg.Mysqld.ThreadPool, "run mysqld's connections on its thread pool (thread_handling=pool-of-threads); false: a thread per connection")
	fs.DurationVar(&cfg.Mysqld.ThreadPoolStallLimit, "mysqld-thread-pool-stall-limit", cfg.Mysqld.ThreadPoolStallLimit, "mysqld thread_pool_stall_limit (whole ms, at least 10): how long a CPU-bound statement holds its thread group before another worker is woken")
	fs.DurationVar(&cfg.Mysqld.LockWaitTimeout, "innodb-lock-wait-timeout", cfg.Mysqld.LockWaitTimeout, "mysqld innodb_lock_wait_timeout (whole seconds): how long a row lock wait lasts before error 1205; a deadlock across shards ends only with it, so keep it under --query-timeout")
	fs.StringVar(&cfg.Mysqld.InnoDBLogFileSize, "innodb-log-file-size", cfg.Mysqld.InnoDBLogFileSize, "mysqld innodb_log_file_size")
	fs.BoolVar(&cfg.Mysqld.Durable, "durable", cfg.Mysqld.Durable, "sync binlog and redo log on every commit")
	fs.StringVar(&cfg.Mysqld.BindAddress, "mysql-bind-address", cfg.Mysqld.BindAddress, "address mysqld listens on")
	fs.StringVar(&cfg.Mysqld.MariadbdPath, "mariadbd", cfg.Mysqld.MariadbdPath, "mariadbd binary")
	fs.StringVar(&cfg.Mysqld.InstallDBPath, "mariadb-install-db", cfg.Mysqld.InstallDBPath, "mariadb-install-db binary")
	fs.StringVar(&templateDir, "template-dir", "", "cache of an initialized data dir (default: <tablet-dir>/../mysqld-templates; \"none\" disables)")
	fs.StringVar(&secretsFile, "secrets-file", "", "YAML file with the passwords the cluster's tablets share: replication_password (required), dba_password and monitor_password (optional); readable by the tablet's user only (see docs/security.md) (required)")
	fs.StringVar(&cfg.Mysqld.SystemUser, "mysqld-user", cfg.Mysqld.SystemUser, "system user mariadbd runs as when the tablet runs as root (its dirs in the tablet dir are given to it); a tablet that is not root runs mariadbd as itself")
	fs.StringSliceVar(&cfg.Mysqld.ExtraConfig, "mysqld-config", nil, "extra my.cnf line for [mysqld] (repeatable)")
	tf := addTopoFlags(fs)
	sf := clusterauth.Add(fs, mtls.RoleTablet)
	gcf := addGCFlags(fs)

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		log, err := lf.logger()
		if err != nil {
			return err
		}
		if cfg.InitTabletType, err = topo.ParseTabletType(initType); err != nil {
			return fmt.Errorf("--init-tablet-type: %w", err)
		}
		if err := bf.apply(); err != nil {
			return err
		}
		if secretsFile == "" {
			return errors.New("--secrets-file is required (mosaicctl secrets init makes one; see docs/security.md)")
		}
		if cfg.Mysqld.Secrets, err = mysqlctl.LoadSecretsFile(secretsFile); err != nil {
			return err
		}
		switch templateDir {
		case "none":
		case "":
			if cfg.Dir != "" {
				cfg.Mysqld.TemplateDir = filepath.Join(filepath.Dir(filepath.Clean(cfg.Dir)), "mysqld-templates")
			}
		default:
			cfg.Mysqld.TemplateDir = templateDir
		}
		if cfg.Dir != "" {
			if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
				return err
			}
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
		cfg.Topo = ts
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		cfg.Registry = reg
		a, err := tablet.New(cfg, log)
		if err != nil {
			return err
		}
		go gcf.run(cmd.Context())
		go sec.Watch(cmd.Context())
		return a.Run(cmd.Context())
	}
	return cmd
}
