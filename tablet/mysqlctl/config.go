package mysqlctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config describes one mariadbd.
type Config struct {
	// Dir is the tablet dir: my.cnf and mariadbd's dirs live here (see
	// Mysqld.Init for the layout and who owns what).
	Dir string
	// Port is mysqld's TCP port.
	Port int
	// BindAddress is the TCP address mysqld listens on.
	BindAddress string
	// ServerID is server_id; the tablet uses its uid.
	ServerID uint32
	// SocketPath overrides Dir/run/mysql.sock (unix socket paths are
	// limited to about 100 bytes).
	SocketPath string
	// SystemUser is the system user mariadbd runs as when the tablet runs
	// as root: its data, run, temp and files dirs belong to it, and every
	// ancestor of Dir must let it through. A tablet that is not root runs
	// mariadbd as itself and ignores it.
	SystemUser string

	// MariadbdPath and InstallDBPath name the binaries (looked up in PATH
	// and /usr/sbin when not absolute).
	MariadbdPath  string
	InstallDBPath string
	// TemplateDir caches an initialized data dir, keyed by server version
	// and redo log size; new data dirs are copied from it. Empty disables
	// the cache.
	TemplateDir string

	// InnoDBBufferPoolSize and InnoDBLogFileSize are my.cnf sizes ("64M").
	InnoDBBufferPoolSize string
	InnoDBLogFileSize    string
	// Durable makes every commit reach disk (sync_binlog=1,
	// innodb_flush_log_at_trx_commit=1). Tests turn it off for speed.
	Durable bool
	// LockWaitTimeout is innodb_lock_wait_timeout, whole seconds. A
	// deadlock whose transactions wait on each other on two shards is
	// invisible to each mysqld's deadlock detector: the waits end only
	// with this timeout (error 1205, which clients retry), so it must be
	// shorter than the tablet's query timeout, which would kill the
	// statement with a less helpful error.
	LockWaitTimeout time.Duration
	// ThreadPool runs mariadbd's connections on its thread pool
	// (thread_handling=pool-of-threads) instead of a thread each: a
	// worker that finishes a statement takes the next connection's
	// without sleeping, which at a tablet's load saves mysqld a fifth of
	// its CPU per point select. ThreadPoolStallLimit is how long a
	// statement may keep its thread group to itself (a long CPU-bound
	// query) before the pool wakes another worker for the group's other
	// connections; statements waiting on locks or I/O free the group at
	// once.
	ThreadPool           bool
	ThreadPoolStallLimit time.Duration
	// ExtraConfig lines are appended to the [mysqld] section as they are.
	ExtraConfig []string

	// Accounts names the mysqld accounts the tablet makes (accounts.go);
	// Secrets holds the passwords of those shared beyond the tablet.
	Accounts Accounts
	Secrets  Secrets
	// Database is the keyspace's database, made on every start: the
	// application accounts get their rights on it alone. Empty: none.
	Database string
	// MetadataDDL makes Mosaic's own tables in _mosaic, run on every
	// start (unbinlogged, like everything the tablet sets up) before the
	// accounts get their rights on them.
	MetadataDDL []string
	// AppMetadataGrants are the read-write application account's rights
	// on those tables ("<privileges> ON <table>"): the few statements of
	// Mosaic's own that run in the application's transactions.
	AppMetadataGrants []string

	// BackupPath and MbstreamPath name mariadb-backup and mbstream
	// (looked up in PATH when not absolute), for physical copies.
	BackupPath   string
	MbstreamPath string

	// StartTimeout bounds the wait until a started mariadbd answers.
	StartTimeout time.Duration
	// StopTimeout is how long a SIGTERM may take before SIGKILL.
	StopTimeout time.Duration
	// RestartBackoff and MaxRestartBackoff space restarts after crashes.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
}

// DefaultConfig returns a Config for a local, small mariadbd. Dir, Port and
// ServerID must still be set.
func DefaultConfig() Config {
	return Config{
		BindAddress:          "127.0.0.1",
		SystemUser:           "mysql",
		MariadbdPath:         "mariadbd",
		InstallDBPath:        "mariadb-install-db",
		InnoDBBufferPoolSize: "64M",
		InnoDBLogFileSize:    "16M",
		LockWaitTimeout:      20 * time.Second,
		ThreadPool:           true,
		ThreadPoolStallLimit: 20 * time.Millisecond,
		Durable:              true,
		Accounts:             DefaultAccounts(),
		BackupPath:           "mariadb-backup",
		MbstreamPath:         "mbstream",
		StartTimeout:         60 * time.Second,
		StopTimeout:          30 * time.Second,
		RestartBackoff:       200 * time.Millisecond,
		MaxRestartBackoff:    10 * time.Second,
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("mysqlctl: Dir is required"))
	}
	if c.Port <= 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("mysqlctl: bad port %d", c.Port))
	}
	if c.ServerID == 0 {
		errs = append(errs, errors.New("mysqlctl: ServerID must be positive"))
	}
	if len(c.socketPath()) > 100 {
		errs = append(errs, fmt.Errorf("mysqlctl: socket path %q is too long for a unix socket; set SocketPath", c.socketPath()))
	}
	if c.SystemUser == "" {
		errs = append(errs, errors.New("mysqlctl: SystemUser is required"))
	}
	if c.MariadbdPath == "" || c.InstallDBPath == "" {
		errs = append(errs, errors.New("mysqlctl: MariadbdPath and InstallDBPath are required"))
	}
	if c.LockWaitTimeout < time.Second || c.LockWaitTimeout%time.Second != 0 {
		errs = append(errs, fmt.Errorf("mysqlctl: lock wait timeout %v must be whole seconds, at least 1s", c.LockWaitTimeout))
	}
	if IsSystemDatabase(c.Database) {
		errs = append(errs, fmt.Errorf("mysqlctl: database %q is mysqld's or Mosaic's own; a keyspace cannot use it", c.Database))
	}
	seen := map[string]bool{}
	for _, n := range c.Accounts.names() {
		if n == "" || n == "root" || seen[n] {
			errs = append(errs, fmt.Errorf("mysqlctl: account names must be set, distinct and not root: %q", n))
		}
		seen[n] = true
	}
	if c.StartTimeout <= 0 || c.StopTimeout <= 0 || c.RestartBackoff <= 0 || c.MaxRestartBackoff < c.RestartBackoff {
		errs = append(errs, errors.New("mysqlctl: timeouts and backoffs must be positive"))
	}
	for _, l := range c.ExtraConfig {
		if strings.ContainsAny(l, "\n[") {
			errs = append(errs, fmt.Errorf("mysqlctl: extra config line %q may not contain a newline or a section", l))
		}
	}
	return errors.Join(errs...)
}

func (c Config) socketPath() string {
	if c.SocketPath != "" {
		return c.SocketPath
	}
	return filepath.Join(c.runDir(), "mysql.sock")
}

// The tablet dir's layout. The tablet's user owns Dir and my.cnf;
// mariadbd's user owns data/, run/ (pid file, socket, error log), tmp/
// and files/ (secure_file_priv), and never a dir the tablet writes into
// as root.
func (c Config) dataDir() string  { return filepath.Join(c.Dir, "data") }
func (c Config) cnfPath() string  { return filepath.Join(c.Dir, "my.cnf") }
func (c Config) runDir() string   { return filepath.Join(c.Dir, "run") }
func (c Config) pidPath() string  { return filepath.Join(c.runDir(), "mysqld.pid") }
func (c Config) tmpDir() string   { return filepath.Join(c.Dir, "tmp") }
func (c Config) filesDir() string { return filepath.Join(c.Dir, "files") }
func (c Config) errorLog() string { return filepath.Join(c.runDir(), "error.log") }

// IsSystemDatabase reports the databases that hold the server's accounts
// and state, or Mosaic's: a keyspace's database may not be one of them,
// since the application's accounts get every data right on it.
func IsSystemDatabase(name string) bool {
	switch strings.ToLower(name) {
	case "mysql", "information_schema", "performance_schema", "sys", "_mosaic":
		return true
	}
	return false
}

func (c Config) hasMetadata() bool { return len(c.MetadataDDL) > 0 }

// mariadbdDirs are the dirs mariadbd writes into, which its user owns.
func (c Config) mariadbdDirs() []string {
	return []string{c.runDir(), c.tmpDir(), c.filesDir()}
}

// myCnf renders the server's config file; user is the system user
// mariadbd switches to ("" when it runs as the tablet's user).
func (c Config) myCnf(user string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by the mosaic tablet agent on every start; edits are lost.")
	w("[mysqld]")
	w("datadir=%s", c.dataDir())
	w("socket=%s", c.socketPath())
	w("port=%d", c.Port)
	w("bind-address=%s", c.BindAddress)
	w("pid-file=%s", c.pidPath())
	w("log-error=%s", c.errorLog())
	w("tmpdir=%s", c.tmpDir())
	if user != "" {
		w("user=%s", user)
	}
	// LOAD_FILE, SELECT ... INTO OUTFILE and LOAD DATA INFILE (FILE
	// privilege, which only the DBA account has) reach only this dir.
	w("secure_file_priv=%s", c.filesDir())
	// Tables may not be links to files elsewhere.
	w("symbolic_links=OFF")
	w("server_id=%d", c.ServerID)
	w("log_bin=mysql-bin")
	w("relay_log=relay-bin")
	w("binlog_format=ROW")
	// Resharding streams row events (tablet/vrepl): every column of the
	// before and after images, with the column names, signedness and
	// enum/set values in the table map, so a stream needs no schema
	// lookup per event.
	w("binlog_row_image=FULL")
	w("binlog_row_metadata=FULL")
	w("log_slave_updates=ON")
	w("gtid_strict_mode=ON")
	w("gtid_domain_id=0")
	// Accounts without SUPER may create stored functions: with row-based
	// binlogs a function's effects replicate as rows, never by calling it
	// again on a replica, which is what the restriction protects.
	w("log_bin_trust_function_creators=ON")
	// The agent decides what this server is after every start: a restarted
	// primary must not take writes, and a replica starts replicating only
	// once the agent knows its source.
	w("read_only=ON")
	w("skip_slave_start")
	w("skip_name_resolve")
	w("character_set_server=utf8mb4")
	w("collation_server=utf8mb4_general_ci")
	w("innodb_buffer_pool_size=%s", c.InnoDBBufferPoolSize)
	w("innodb_log_file_size=%s", c.InnoDBLogFileSize)
	w("innodb_lock_wait_timeout=%d", int(c.LockWaitTimeout/time.Second))
	w("max_connections=500")
	if c.ThreadPool {
		w("thread_handling=pool-of-threads")
		w("thread_pool_stall_limit=%d", max(10, int(c.ThreadPoolStallLimit/time.Millisecond)))
	}
	// The gate enforces its clients' max_allowed_packet; mysqld must not
	// refuse what the gate accepted.
	w("max_allowed_packet=1G")
	w("performance_schema=OFF")
	w("slave_net_timeout=10")
	// Replicas apply in parallel, committing in the primary's order, so
	// that they keep up with a primary's group commits: an emergency
	// reparent waits for the winner to apply what it received.
	w("slave_parallel_threads=4")
	w("slave_parallel_mode=optimistic")
	if c.Durable {
		w("sync_binlog=1")
		w("innodb_flush_log_at_trx_commit=1")
	} else {
		w("sync_binlog=0")
		w("innodb_flush_log_at_trx_commit=2")
		w("innodb_doublewrite=0")
	}
	for _, l := range c.ExtraConfig {
		w("%s", l)
	}
	return b.String()
}

// SharedTemplateDir is a template cache under the system temp dir, shared
// by every process of this machine's user (tests of several packages,
// local clusters): templates are keyed by server version and by who made
// them, so sharing is safe.
func SharedTemplateDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("mosaic-mysqld-templates-%d", os.Geteuid()))
}
