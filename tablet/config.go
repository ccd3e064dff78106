package tablet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/tablet/queryservice"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
	"github.com/mosaicdb/mosaic/topo"
)

// Config describes one tablet.
type Config struct {
	// Alias is "<cell>-<uid>"; the uid is also mysqld's server_id.
	Alias    string
	Keyspace string
	Shard    string
	// DBName is the MySQL database holding the keyspace's tables; empty
	// means the keyspace name.
	DBName string
	// Hostname is what other tablets and gates use to reach this one.
	Hostname string
	// ListenAddress is the address the gRPC and HTTP servers bind.
	ListenAddress string
	GRPCPort      int
	HTTPPort      int
	// GRPCSocket is a unix-domain socket on which the tablet serves gRPC
	// as well as on GRPCPort, for gates on the same host; "" means
	// grpc.sock in Dir (or in the temp dir when that path is too long for
	// a socket), NoGRPCSocket means none.
	GRPCSocket string
	MySQLPort  int
	// Dir is the tablet dir (mysqld's data, config, socket and logs).
	Dir string
	// InitTabletType is the type of a tablet that is not the primary:
	// REPLICA or RDONLY.
	InitTabletType topodatapb.TabletType
	// Flavor is the replication flavor: "mariadb" (tested) or "mysql8".
	Flavor string

	// Topo is the topology server; required.
	Topo *topo.Server
	// ClusterTLS is the tablet's certificate (role tablet) and the
	// cluster's CA bundle: the gRPC server, on its port and its socket,
	// demands a client certificate of the cluster and lets each caller
	// call only what its role may (rpcRoles); calls to peer tablets
	// present it. Required unless Insecure.
	ClusterTLS *mtls.Source
	// Insecure serves gRPC in plaintext to anyone, with no
	// authorization, and calls peers in plaintext.
	Insecure bool
	// Registry receives the tablet's metrics; nil makes one per agent.
	Registry *prometheus.Registry

	// Mysqld configures mariadbd. Dir, Port and ServerID are filled in
	// from the fields above.
	Mysqld mysqlctl.Config
	// Query configures the query service.
	Query queryservice.Config
	// VRepl configures the replication engine (resharding streams).
	VRepl vrepl.Config

	// HealthInterval is the longest gap between two health messages.
	HealthInterval time.Duration
	// MysqldProbeInterval is how often the tablet asks mysqld a query to
	// know it answers, and MysqldProbeTimeout how long it waits for the
	// answer (connection included): a mysqld that does not answer in time
	// makes the tablet stop serving and say so in its health (a primary's
	// is then failed over by the failure detector after its grace period).
	MysqldProbeInterval time.Duration
	MysqldProbeTimeout  time.Duration
	// FenceTimeout bounds how long a fenced primary (the shard record
	// names another, or it lost its lease) tries to turn its mysqld
	// read-only; a mysqld that does not answer, or is still writable after
	// it, is killed (SIGKILL) so that it takes no write ever again, and the
	// lease is given back only then. Keep it well under SemiSyncTimeout.
	FenceTimeout time.Duration
	// FencedHoldTimeout is how long a mysqld killed by a fence stays down
	// while the shard has no other primary; once the shard record names
	// another primary it starts at once, read-only, and rejoins as a
	// replica (or is repaired when it holds transactions the new primary
	// lacks).
	FencedHoldTimeout time.Duration
	// HeartbeatInterval is how often the serving primary writes its
	// heartbeat row (_mosaic.heartbeat), by which replicas measure their
	// replication lag; 0 turns heartbeats off, and replicas fall back to
	// Seconds_Behind_Master. Every tablet of a shard should use the same
	// setting, on hosts with synchronized clocks.
	HeartbeatInterval time.Duration
	// SemiSync turns semi-sync replication on: replicas send acks, and a
	// primary whose shard has replicas waits for SemiSyncAckCount of them
	// (at most as many as the shard has) before a commit returns.
	// MariaDB waits for exactly one ack, so with it the count is 0 (off)
	// or 1. SemiSyncTimeout is how long the primary waits before it falls
	// back to asynchronous replication; commits acknowledged in that
	// fallback are not protected against the loss of the primary.
	SemiSync         bool
	SemiSyncAckCount int
	SemiSyncTimeout  time.Duration
	// SemiSyncWatchdog is how long a semi-sync primary lets its mysqld
	// count fewer acking replicas than it waits for while more replicas
	// are connected for binlogs, before it drops their connections so that
	// they reconnect and register again (semisyncwatch.go); 0 turns the
	// watchdog off.
	SemiSyncWatchdog time.Duration
	// PrimaryLeaseTTL is the time to live of the shard's primary lease a
	// primary holds in topo: a primary cut off from topo stops taking
	// writes within 3/4 of it, and a dead one's lease expires after it.
	PrimaryLeaseTTL time.Duration
	// PrimaryLeaseWait bounds how long a promotion waits for a previous
	// holder's lease to go away.
	PrimaryLeaseWait time.Duration
	// AutoRepair makes a replica rebuild itself from a healthy peer when
	// its data dir is lost, when it starts with an empty data dir in a
	// shard that has a primary, or when its replication has been broken
	// (diverged, errant transactions, purged binlogs) for RepairDelay.
	AutoRepair  bool
	RepairDelay time.Duration
	// Backup configures backup storage (tablet/backupstore): backups into
	// it, scheduled backups and their retention; a repair that finds no
	// healthy peer restores the shard's latest backup from it.
	Backup BackupConfig
	// DemoteTimeout bounds how long DemotePrimary waits for open
	// transactions before rolling them back.
	DemoteTimeout time.Duration
	// WaitForPositionTimeout is used when a WaitForPosition request sets
	// no timeout of its own.
	WaitForPositionTimeout time.Duration
	// QueryServiceDrainTimeout is how long a tablet whose shard record
	// disables its query service (the fence of a traffic switch) lets
	// open transactions finish before it rolls them back; a RefreshState
	// request may give its own.
	QueryServiceDrainTimeout time.Duration
}

// DefaultConfig returns defaults; Alias, Keyspace, Shard, ports, Dir and
// Topo must still be set.
func DefaultConfig() Config {
	return Config{
		Hostname:               "127.0.0.1",
		ListenAddress:          "127.0.0.1",
		InitTabletType:         topodatapb.TabletType_REPLICA,
		Flavor:                 "mariadb",
		Mysqld:                 mysqlctl.DefaultConfig(),
		Query:                  queryservice.DefaultConfig(),
		VRepl:                  vrepl.DefaultConfig(),
		HealthInterval:         2 * time.Second,
		MysqldProbeInterval:    500 * time.Millisecond,
		MysqldProbeTimeout:     2 * time.Second,
		FenceTimeout:           5 * time.Second,
		FencedHoldTimeout:      time.Minute,
		HeartbeatInterval:      time.Second,
		SemiSync:               true,
		SemiSyncAckCount:       1,
		SemiSyncTimeout:        10 * time.Second,
		SemiSyncWatchdog:       3 * time.Second,
		PrimaryLeaseTTL:        10 * time.Second,
		PrimaryLeaseWait:       15 * time.Second,
		AutoRepair:             true,
		RepairDelay:            5 * time.Second,
		DemoteTimeout:          5 * time.Second,
		WaitForPositionTimeout: 30 * time.Second,
		// Writes wait in the gates' buffers meanwhile: short.
		QueryServiceDrainTimeout: time.Second,
		Backup:                   DefaultBackupConfig(),
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	var errs []error
	if _, err := topo.ParseAlias(c.Alias); err != nil {
		errs = append(errs, err)
	}
	if err := topo.ValidateName(c.Keyspace); err != nil {
		errs = append(errs, fmt.Errorf("keyspace: %w", err))
	}
	if _, err := keyrange.Parse(c.Shard); err != nil || c.Shard == "" {
		errs = append(errs, fmt.Errorf("shard %q: want 0 or a key range like -80", c.Shard))
	}
	if c.Hostname == "" {
		errs = append(errs, errors.New("tablet: Hostname is required"))
	}
	for name, p := range map[string]int{"grpc": c.GRPCPort, "http": c.HTTPPort, "mysql": c.MySQLPort} {
		if p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("tablet: bad %s port %d", name, p))
		}
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("tablet: Dir is required"))
	}
	if q := c.Query.QueryTimeout; q > 0 && c.Mysqld.LockWaitTimeout >= q {
		errs = append(errs, fmt.Errorf("tablet: innodb lock wait timeout %v must be under the query timeout %v (a lock wait would end as a killed query, not error 1205)", c.Mysqld.LockWaitTimeout, q))
	}
	switch c.InitTabletType {
	case topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY:
	default:
		errs = append(errs, fmt.Errorf("tablet: init tablet type must be replica or rdonly, not %v", c.InitTabletType))
	}
	if fl, err := flavor.ByName(c.Flavor); err != nil {
		errs = append(errs, err)
	} else if c.SemiSyncAckCount < 0 || c.SemiSyncAckCount > fl.MaxSemiSyncAcks() {
		errs = append(errs, fmt.Errorf("tablet: semi-sync ack count %d: %s waits for 0 to %d acks", c.SemiSyncAckCount, fl.Name(), fl.MaxSemiSyncAcks()))
	}
	if c.Topo == nil {
		errs = append(errs, errors.New("tablet: Topo is required"))
	}
	switch {
	case c.ClusterTLS == nil && !c.Insecure:
		errs = append(errs, errors.New("tablet: no cluster certificate: give one (role tablet), or run insecure"))
	case c.ClusterTLS != nil && c.Insecure:
		errs = append(errs, errors.New("tablet: a cluster certificate and insecure are exclusive"))
	case c.ClusterTLS != nil && c.ClusterTLS.Role() != mtls.RoleTablet:
		errs = append(errs, fmt.Errorf("tablet: the cluster certificate has role %s, want tablet", c.ClusterTLS.Role()))
	}
	if c.Mysqld.Secrets.ReplicationPassword == "" {
		errs = append(errs, errors.New("tablet: the replication password is required (a secrets file: see docs/security.md)"))
	}
	if c.PrimaryLeaseTTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("tablet: primary lease ttl %v is below 2s", c.PrimaryLeaseTTL))
	}
	if c.MysqldProbeInterval <= 0 || c.MysqldProbeTimeout <= 0 || c.FenceTimeout <= 0 || c.FencedHoldTimeout <= 0 {
		errs = append(errs, errors.New("tablet: mysqld probe interval and timeout, fence timeout and fenced hold timeout must be positive"))
	}
	if c.HealthInterval <= 0 || c.SemiSyncTimeout <= 0 || c.DemoteTimeout <= 0 || c.WaitForPositionTimeout <= 0 || c.PrimaryLeaseWait <= 0 || c.RepairDelay <= 0 || c.QueryServiceDrainTimeout <= 0 {
		errs = append(errs, errors.New("tablet: intervals and timeouts must be positive"))
	}
	if c.SemiSyncWatchdog < 0 {
		errs = append(errs, fmt.Errorf("tablet: semi-sync watchdog %v is negative (0 turns it off)", c.SemiSyncWatchdog))
	}
	if c.HeartbeatInterval < 0 {
		errs = append(errs, fmt.Errorf("tablet: heartbeat interval %v is negative (0 turns heartbeats off)", c.HeartbeatInterval))
	}
	if err := c.Query.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.VRepl.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Backup.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := c.mysqldConfig().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c Config) dbName() string {
	if c.DBName != "" {
		return c.DBName
	}
	return c.Keyspace
}

// NoGRPCSocket as Config.GRPCSocket turns the tablet's gRPC socket off.
const NoGRPCSocket = "none"

// grpcSocketPath is the unix socket the tablet serves gRPC on, or "".
func (c Config) grpcSocketPath() string {
	switch c.GRPCSocket {
	case NoGRPCSocket:
		return ""
	case "":
		return shortSocketPath(c.Dir, "grpc.sock")
	}
	if p, err := filepath.Abs(c.GRPCSocket); err == nil {
		return p
	}
	return c.GRPCSocket
}

// shortSocketPath is name in dir, or a path in the temp dir named after
// dir when that is too long for a unix socket (108 bytes on Linux).
func shortSocketPath(dir, name string) string {
	if dir != "" {
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
	}
	p := filepath.Join(dir, name)
	if len(p) <= 100 {
		return p
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "mosaic-"+hex.EncodeToString(sum[:6])+"-"+name)
}

// mysqldConfig fills the mysqld config from the tablet's.
func (c Config) mysqldConfig() mysqlctl.Config {
	m := c.Mysqld
	alias, _ := topo.ParseAlias(c.Alias)
	m.Dir = c.Dir
	m.Port = c.MySQLPort
	m.ServerID = alias.GetUid()
	if m.SocketPath == "" {
		m.SocketPath = shortSocketPath(filepath.Join(c.Dir, "run"), "mysql.sock")
	}
	m.Database = c.dbName()
	// Made on every start of mysqld, unbinlogged (a GTID made by a
	// replica would break GTID replication; the primary's own, if any,
	// replicates as a no-op), before any transaction may need them: a
	// transaction whose snapshot predates a table cannot use it (1412).
	m.MetadataDDL = append(append(queryservice.MetadataDDL(), heartbeatDDL...), vrepl.DDL()...)
	m.AppMetadataGrants = queryservice.AppMetadataGrants()
	return m
}
