package proxy

import (
	"errors"
	"fmt"
	"time"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
)

// Config configures a gate.
type Config struct {
	// Cell is the gate's cell: it prefers tablets of this cell.
	Cell string
	// MySQLAddr is where clients connect (host:port).
	MySQLAddr string
	// HTTPAddr serves /metrics, /healthz and /debug/status ("" for none).
	HTTPAddr string
	// ServerVersion is the version the gate announces in the handshake.
	ServerVersion string
	// Users are the accounts that may connect (see ParseUsers for the
	// users file). Empty means a passwordless root only, which is what
	// the local cluster uses.
	Users []User
	// DefaultAuthPlugin is the plugin announced in the greeting and used by
	// accounts that name none: mysql_native_password (default) or
	// caching_sha2_password.
	DefaultAuthPlugin string
	// TLSCertFile and TLSKeyFile are a PEM certificate and key for client
	// TLS; both empty: no TLS.
	TLSCertFile, TLSKeyFile string
	// RequireSecureTransport refuses plain connections (error 3159).
	RequireSecureTransport bool
	// MaxAllowedPacket is the largest packet a client may send, as
	// mysqld's max_allowed_packet: a bigger one gets error 1153 and the
	// connection is closed.
	MaxAllowedPacket int
	// QueryTimeout bounds each statement (0: no gate limit); it ends with
	// error 3024.
	QueryTimeout time.Duration
	// IdleTimeout closes a client connection idle this long between
	// statements (0: never), as mysqld's wait_timeout.
	IdleTimeout time.Duration
	// ConnectTimeout bounds a client's connection phase (greeting, TLS,
	// login), as mysqld's connect_timeout: a client that has not logged
	// in by then is disconnected.
	ConnectTimeout time.Duration
	// NetReadTimeout bounds each wait for more of a packet once its
	// first byte has arrived (and for each packet of a LOAD DATA LOCAL
	// file), as mysqld's net_read_timeout: a client that stops
	// half-way through a packet is disconnected.
	NetReadTimeout time.Duration
	// HealthCheckTimeout drops a tablet whose health stream is silent this long.
	HealthCheckTimeout time.Duration
	// TabletWait is how long a query waits for a serving tablet of its shard
	// (at startup, or while a replica comes back) before it fails.
	TabletWait time.Duration
	// MaxReplicaLag keeps replica and rdonly reads off tablets lagging more
	// than this behind their primary (0: no limit).
	MaxReplicaLag time.Duration
	// BufferWindow is how long primary requests of a shard wait in the
	// failover buffer, from the moment its primary stopped serving, for a
	// new primary (a reparent or failover) instead of failing. 0 turns
	// buffering off: they wait up to TabletWait like other requests.
	BufferWindow time.Duration
	// BufferSize caps the requests waiting in one shard's buffer; more
	// fail at once.
	BufferSize int
	// TabletStreams is how many Multiplex streams the gate keeps to each
	// tablet for its Execute calls; 0 sends each as a unary call.
	TabletStreams int
	// TabletSockets lets the gate reach a tablet on the same host through
	// the unix-domain socket the tablet publishes, instead of TCP.
	TabletSockets bool
	// ClusterTLS is the gate's certificate (role gate) and the cluster's
	// CA bundle: every connection to a tablet, by TCP or by its socket, is
	// mutual TLS, and the tablet must present a certificate of role
	// tablet valid for the host in its topo record. Required unless
	// Insecure.
	ClusterTLS *mtls.Source
	// Insecure connects to tablets in plaintext, without certificates.
	Insecure bool
	// MaxConnections caps client connections, logged in or not (0: no
	// cap); one more gets error 1040, as from mysqld. mysqld's default of
	// 151 fits a thread per connection; a gate connection is a goroutine
	// and about 60 KB of buffers when idle (and at most 66 KiB more while
	// it logs in), so the default, 2048, holds about 120 MB idle and
	// 250 MB at worst before login.
	MaxConnections int
	// MaxMemoryInFlight is the memory budget of statements in flight,
	// all connections together: packets being received and run (past
	// their first 64 KiB), prepared statements' long data, and the
	// parser's work on big statements. Work past it is refused with
	// error 1041 (0: no budget).
	MaxMemoryInFlight int64
	// TransactionMode is how a new session's transactions commit across
	// shards; a session changes its own with SET transaction_mode.
	TransactionMode TransactionMode
	// TwoPCAbandonAge is how old a distributed transaction must be before
	// the resolver finishes it for a coordinator that went away.
	TwoPCAbandonAge time.Duration
	// TwoPCResolveInterval is how often the resolver looks for
	// distributed transactions to finish (0: never).
	TwoPCResolveInterval time.Duration
	// LockHeartbeatInterval is how often the gate tells each tablet that
	// its sessions' lock sessions (reserved connections holding
	// GET_LOCK's locks) are still wanted; a tablet releases one not heard
	// from within its --reserved-timeout (30 s by default), so keep this
	// well below that.
	LockHeartbeatInterval time.Duration
	// TwoPCTestHook, for tests only, is called at each step of a
	// two-phase commit; a non-nil error stops the commit right there, as
	// if the gate had died.
	TwoPCTestHook func(step TwoPCStep, dtid string) error
	// BenchNoStatementSavepoint, for benchmarks only, runs statements that
	// reach several shards in a transaction without their implicit
	// savepoint (stmtatomic.go), to measure what it costs: such a
	// statement that fails on some shards then stays applied on the
	// others.
	BenchNoStatementSavepoint bool
	// BenchNoCommitCheck, for benchmarks only, commits a multi-mode
	// transaction that wrote on several shards without first asking each
	// shard whether its transaction is still there (commitShards), to
	// measure what the check costs: a shard transaction lost before COMMIT
	// then leaves the shards before it committed.
	BenchNoCommitCheck bool
	// CommandTestHook, for tests only, is called with each command a
	// client sends, on the connection's goroutine, before the gate
	// answers it.
	CommandTestHook func(cmd byte, data []byte)
	// Router configures planning.
	Router router.Config
}

// DefaultConfig returns the configuration of the local cluster's gate.
func DefaultConfig() Config {
	return Config{
		Cell:                  "zone1",
		MySQLAddr:             "127.0.0.1:15306",
		HTTPAddr:              "127.0.0.1:15000",
		ServerVersion:         "5.5.5-10.11.19-MariaDB-mosaic",
		DefaultAuthPlugin:     authNative,
		MaxAllowedPacket:      64 << 20,
		QueryTimeout:          0,
		ConnectTimeout:        10 * time.Second,
		NetReadTimeout:        30 * time.Second,
		HealthCheckTimeout:    6 * time.Second,
		TabletWait:            5 * time.Second,
		MaxReplicaLag:         30 * time.Second,
		BufferWindow:          10 * time.Second,
		BufferSize:            1000,
		MaxConnections:        2048,
		MaxMemoryInFlight:     1 << 30,
		TabletStreams:         2,
		TabletSockets:         true,
		TransactionMode:       TransactionModeMulti,
		TwoPCAbandonAge:       15 * time.Second,
		TwoPCResolveInterval:  5 * time.Second,
		LockHeartbeatInterval: 5 * time.Second,
		Router:                router.DefaultConfig(),
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	var errs []error
	if c.Cell == "" {
		errs = append(errs, errors.New("cell is empty"))
	}
	if c.MySQLAddr == "" {
		errs = append(errs, errors.New("mysql address is empty"))
	}
	if c.HealthCheckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("health check timeout %v must be positive", c.HealthCheckTimeout))
	}
	if c.LockHeartbeatInterval <= 0 {
		errs = append(errs, fmt.Errorf("lock heartbeat interval %v must be positive", c.LockHeartbeatInterval))
	}
	if c.TwoPCAbandonAge <= 0 || c.TwoPCResolveInterval < 0 {
		errs = append(errs, errors.New("two-phase commit abandon age must be positive, resolve interval not negative"))
	}
	if c.ConnectTimeout <= 0 || c.NetReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("connect timeout %v and net read timeout %v must be positive", c.ConnectTimeout, c.NetReadTimeout))
	}
	if c.MaxMemoryInFlight < 0 {
		errs = append(errs, fmt.Errorf("max memory in flight %d must not be negative", c.MaxMemoryInFlight))
	}
	if c.TabletWait < 0 || c.QueryTimeout < 0 || c.IdleTimeout < 0 || c.MaxConnections < 0 || c.MaxReplicaLag < 0 || c.BufferWindow < 0 || c.TabletStreams < 0 {
		errs = append(errs, errors.New("timeouts and limits must not be negative"))
	}
	if c.BufferWindow > 0 && c.BufferSize <= 0 {
		errs = append(errs, fmt.Errorf("buffer size %d must be positive when buffering is on", c.BufferSize))
	}
	if c.MaxAllowedPacket < 1024 || c.MaxAllowedPacket > 1<<30 {
		errs = append(errs, fmt.Errorf("max allowed packet %d must be between 1024 and 1 GiB", c.MaxAllowedPacket))
	}
	switch c.DefaultAuthPlugin {
	case authNative, authCachingSha2:
	default:
		errs = append(errs, fmt.Errorf("default auth plugin %q is neither %s nor %s", c.DefaultAuthPlugin, authNative, authCachingSha2))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("give both a TLS certificate and key, or neither"))
	}
	if c.RequireSecureTransport && c.TLSCertFile == "" {
		errs = append(errs, errors.New("require secure transport needs a TLS certificate and key"))
	}
	switch {
	case c.ClusterTLS == nil && !c.Insecure:
		errs = append(errs, errors.New("no cluster certificate for the connections to tablets: give one (role gate), or run insecure"))
	case c.ClusterTLS != nil && c.Insecure:
		errs = append(errs, errors.New("a cluster certificate and insecure are exclusive"))
	case c.ClusterTLS != nil && c.ClusterTLS.Role() != mtls.RoleGate:
		errs = append(errs, fmt.Errorf("the cluster certificate has role %s, want gate", c.ClusterTLS.Role()))
	}
	if err := c.Router.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// gateway returns the tablet gateway's part of c; the caller adds the
// credentials and the host id.
func (c Config) gateway() tabletgw.Config {
	return tabletgw.Config{
		Cell:               c.Cell,
		TabletWait:         c.TabletWait,
		MaxReplicaLag:      c.MaxReplicaLag,
		HealthCheckTimeout: c.HealthCheckTimeout,
		TabletStreams:      c.TabletStreams,
		BufferWindow:       c.BufferWindow,
		BufferSize:         c.BufferSize,
		FanoutWorkers:      tabletgw.DefaultConfig().FanoutWorkers,
	}
}
