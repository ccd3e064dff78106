package mysqlctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// pollInterval is how often waits for mariadbd look again.
const pollInterval = 50 * time.Millisecond

// State is what the supervisor knows about mariadbd.
type State int

// States of a supervised mariadbd.
const (
	// Stopped: not started yet, or stopped for good.
	Stopped State = iota
	// Starting: the process was started and does not answer yet.
	Starting
	// Running: it answers queries.
	Running
	// Crashed: it died or failed to start; a restart is pending.
	Crashed
	// Held: stopped on purpose (Hold) until released, e.g. while its data
	// dir is replaced.
	Held
)

func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Crashed:
		return "crashed"
	case Held:
		return "held"
	}
	return "unknown"
}

// Mysqld supervises one mariadbd. Its methods are safe for concurrent use.
type Mysqld struct {
	cfg      Config
	log      *slog.Logger
	mariadbd string
	version  string
	// runAs is who mariadbd runs as; dbaUser is the tablet's own system
	// user, whose namesake mysqld account (unix_socket authentication,
	// no password) is the agent's DBA account.
	runAs   runAs
	dbaUser string
	// local are the passwords of the local accounts (accounts.go).
	local localPasswords

	mu       sync.Mutex
	state    State
	lastErr  error
	pid      int
	starts   int
	changed  chan struct{}
	runsOnce bool
	active   bool // Run is running
	fresh    bool
	// hold is non-nil while someone holds mysqld stopped: the running
	// process stops when it is set and Run waits until it is closed.
	hold     chan struct{}
	holdKill bool
	holdReq  chan struct{} // closed to ask the running process to stop
	// restored is set by Restore and cleared once mysqld runs: a copy
	// may hold transactions InnoDB prepared for the binlog, which the
	// copy leaves out (see recoverCopy).
	restored bool
}

// New checks cfg and finds the binaries. It starts nothing.
func New(cfg Config, log *slog.Logger) (*Mysqld, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bin, err := resolveBinary(cfg.MariadbdPath)
	if err != nil {
		return nil, err
	}
	ra, err := resolveRunAs(cfg.SystemUser)
	if err != nil {
		return nil, err
	}
	me, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("mysqlctl: the tablet's system user has no name (its unix_socket account is named after it): %w", err)
	}
	return &Mysqld{cfg: cfg, log: log, mariadbd: bin, runAs: ra, dbaUser: me.Username, local: newLocalPasswords(), changed: make(chan struct{}), holdReq: make(chan struct{})}, nil
}

// SocketPath is the unix socket mysqld listens on.
func (m *Mysqld) SocketPath() string { return m.cfg.socketPath() }

// Port is mysqld's TCP port.
func (m *Mysqld) Port() int { return m.cfg.Port }

// Version is `mariadbd --version`, known after Init.
func (m *Mysqld) Version() string { return m.version }

// DBAParams are the connection parameters of the agent's own connections:
// the account named after the tablet's system user (root when the tablet
// runs as root), which only that system user can use: unix_socket
// authentication over the unix socket, no password.
func (m *Mysqld) DBAParams() mysqlconn.Params {
	return mysqlconn.Params{Addr: m.cfg.socketPath(), User: m.dbaUser}
}

// legacyDBAParams reach the root account data dirs made before the DBA
// account had unix_socket authentication had: root@localhost without a
// password. lockDown ends that on the first start.
func (m *Mysqld) legacyDBAParams() mysqlconn.Params {
	return mysqlconn.Params{Addr: m.cfg.socketPath(), User: "root"}
}

// dialDBA connects as the DBA account, or, on a data dir of an older
// install that has none yet, as its passwordless root.
func (m *Mysqld) dialDBA(ctx context.Context) (*mysqlconn.Conn, error) {
	c, err := mysqlconn.Dial(ctx, m.DBAParams())
	if err == nil || !accessDenied(err) {
		return c, err
	}
	if c, lerr := mysqlconn.Dial(ctx, m.legacyDBAParams()); lerr == nil {
		return c, nil
	}
	return nil, err
}

// accessDenied reports mysqld's refusals of a login.
func accessDenied(err error) bool {
	var se *sqlerr.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Num {
	case sqlerr.ERAccessDenied, erAccessDeniedNoPassword:
		return true
	}
	return false
}

// erAccessDeniedNoPassword is 1698, a unix_socket login refused.
const erAccessDeniedNoPassword = 1698

// AppParams are the connection parameters of the query service for
// read-write gate users: the App account (Accounts), whose writes
// read_only stops.
func (m *Mysqld) AppParams() mysqlconn.Params {
	return m.localParams(m.cfg.Accounts.App, m.local.app)
}

// ReadOnlyParams are those of the query service for read-only gate users:
// the ReadOnly account, which may write nothing.
func (m *Mysqld) ReadOnlyParams() mysqlconn.Params {
	return m.localParams(m.cfg.Accounts.ReadOnly, m.local.readOnly)
}

// AgentParams are those of the agent's writes to _mosaic (heartbeat,
// two-phase commit records), which read_only stops.
func (m *Mysqld) AgentParams() mysqlconn.Params {
	return m.localParams(m.cfg.Accounts.Agent, m.local.agent)
}

// VReplParams are those of the replication engine (resharding): it reads
// rows and binlogs and writes rows and its progress in _mosaic.
func (m *Mysqld) VReplParams() mysqlconn.Params {
	return m.localParams(m.cfg.Accounts.VRepl, m.local.vrepl)
}

// ReplicationUser and ReplicationPassword are what a replica of this
// server logs in with.
func (m *Mysqld) ReplicationUser() string { return m.cfg.Accounts.Repl }

// ReplicationPassword is the password of ReplicationUser.
func (m *Mysqld) ReplicationPassword() Secret { return m.cfg.Secrets.ReplicationPassword }

// ServiceUsers are the accounts of the query service and the replication
// engine: what a fence kills.
func (m *Mysqld) ServiceUsers() []string {
	return []string{m.cfg.Accounts.App, m.cfg.Accounts.ReadOnly, m.cfg.Accounts.VRepl}
}

func (m *Mysqld) localParams(user string, pw Secret) mysqlconn.Params {
	return mysqlconn.Params{Addr: m.cfg.socketPath(), User: user, Password: pw.Reveal()}
}

// Fresh reports whether Init made a new, empty data dir.
func (m *Mysqld) Fresh() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fresh
}

// DataDirPresent reports whether the data dir still holds the system
// schema: false once someone deleted it under a running server.
func (m *Mysqld) DataDirPresent() bool {
	_, err := os.Stat(filepath.Join(m.cfg.dataDir(), "mysql"))
	return err == nil
}

// State returns the current state and, when not running, why.
func (m *Mysqld) State() (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.lastErr
}

// PID is the process id of the running mariadbd, or 0.
func (m *Mysqld) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pid
}

// Starts counts how many times mariadbd came up (1 after the first start).
func (m *Mysqld) Starts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.starts
}

// Changed returns a channel closed at the next state change.
func (m *Mysqld) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *Mysqld) setState(s State, err error, pid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s == Running && m.state != Running {
		m.starts++
	}
	m.state, m.lastErr, m.pid = s, err, pid
	close(m.changed)
	m.changed = make(chan struct{})
}

// WaitRunning blocks until mysqld runs or ctx ends.
func (m *Mysqld) WaitRunning(ctx context.Context) error {
	for {
		ch := m.Changed()
		if s, _ := m.State(); s == Running {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			_, err := m.State()
			return errors.Join(ctx.Err(), err)
		}
	}
}

// Init writes my.cnf and initializes the data dir when it is empty. It
// may take a few seconds the first time (mariadb-install-db).
func (m *Mysqld) Init(ctx context.Context) error {
	v, err := serverVersion(ctx, m.mariadbd)
	if err != nil {
		return err
	}
	m.version = v
	// Missing ancestors are made traversable (mariadbd's user passes
	// through them), the tablet dir itself private.
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(m.cfg.Dir)), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(m.cfg.Dir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := m.runAs.checkTraversable(m.cfg.Dir); err != nil {
		return err
	}
	if err := m.runAs.letThrough(m.cfg.Dir); err != nil {
		return err
	}
	for _, d := range m.cfg.mariadbdDirs() {
		if err := m.runAs.mkdirOwned(d, 0o750); err != nil {
			return err
		}
	}
	if sockDir := filepath.Dir(m.cfg.socketPath()); sockDir != m.cfg.runDir() {
		if err := os.MkdirAll(sockDir, 0o750); err != nil {
			return err
		}
		if err := m.runAs.checkTraversable(m.cfg.socketPath()); err != nil {
			return err
		}
	}
	if err := os.WriteFile(m.cfg.cnfPath(), []byte(m.cfg.myCnf(m.runAs.cnfUser())), 0o644); err != nil {
		return fmt.Errorf("write my.cnf: %w", err)
	}
	if err := m.initDataDir(ctx); err != nil {
		return fmt.Errorf("init data dir %s: %w", m.cfg.dataDir(), err)
	}
	// Data dirs of older installs belong to root.
	if err := m.runAs.chownTree(m.cfg.dataDir()); err != nil {
		return err
	}
	return nil
}

// Run starts mariadbd and keeps it running until ctx ends, then stops it
// (SIGTERM, then SIGKILL after StopTimeout) and returns. Init must have
// succeeded. Run may be called once.
func (m *Mysqld) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.runsOnce {
		m.mu.Unlock()
		return errors.New("mysqlctl: Run called twice")
	}
	m.runsOnce = true
	m.active = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.active = false
		m.mu.Unlock()
		m.setState(Stopped, nil, 0)
	}()

	m.stopLeftover()
	backoff := m.cfg.RestartBackoff
	for {
		if err := m.waitHold(ctx); err != nil {
			return nil
		}
		started := time.Now()
		err := m.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errHeld) {
			backoff = m.cfg.RestartBackoff
			continue
		}
		if time.Since(started) > 30*time.Second {
			backoff = m.cfg.RestartBackoff
		}
		m.log.Error("mysqld is down; restarting", "err", err, "backoff", backoff)
		m.setState(Crashed, err, 0)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-m.holdRequested():
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		backoff = min(backoff*2, m.cfg.MaxRestartBackoff)
	}
}

// runOnce runs one mariadbd process until it exits or ctx ends.
func (m *Mysqld) runOnce(ctx context.Context) error {
	m.setState(Starting, nil, 0)
	out, err := os.OpenFile(filepath.Join(m.cfg.Dir, "mariadbd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	m.removeStaleSocket()
	cmd := exec.Command(m.mariadbd, "--defaults-file="+m.cfg.cnfPath())
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group keeps a terminal's Ctrl-C away from it: the
	// agent stops it. Pdeathsig stops it if the agent dies without that.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	pid := cmd.Process.Pid
	m.log.Info("mysqld started", "pid", pid, "port", m.cfg.Port)

	if err := m.waitReady(ctx, p); err != nil {
		m.stopProcess(p)
		if strings.Contains(err.Error(), "tc-heuristic-recover") && m.takeRestored() {
			m.recoverCopy(ctx, out)
		}
		return err
	}
	m.takeRestored()
	if err := m.afterStart(ctx); err != nil {
		m.stopProcess(p)
		return fmt.Errorf("set up mysqld after start: %w", err)
	}
	m.setState(Running, nil, pid)
	m.log.Info("mysqld is running", "pid", pid)
	select {
	case <-p.done:
		return fmt.Errorf("mariadbd exited: %v: %s", p.err, m.errorLogTail())
	case <-ctx.Done():
		m.stopProcess(p)
		m.log.Info("mysqld stopped", "pid", pid)
		return nil
	case <-m.holdRequested():
		m.mu.Lock()
		kill := m.holdKill
		m.mu.Unlock()
		if kill {
			m.killProcess(p)
		} else {
			m.stopProcess(p)
		}
		m.log.Info("mysqld stopped and held", "pid", pid, "killed", kill)
		return errHeld
	}
}

// takeRestored reports whether the data dir is a restored copy that has
// not run yet, and forgets it.
func (m *Mysqld) takeRestored() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.restored
	m.restored = false
	return r
}

// recoverCopy rolls back what a restored copy holds prepared for the
// binlog. A copy is taken while commits are blocked, so a transaction
// InnoDB had prepared then had not reached the binlog at the copy's
// position, and the copy carries no binlog to decide it by: mariadbd
// refuses to start ("Found N prepared transactions"). Such a transaction
// is not part of the copy (replication brings it again from the copy's
// position), so one run with --tc-heuristic-recover=ROLLBACK rolls it
// back, and exits; Run then starts mariadbd as usual. Transactions
// prepared by XA PREPARE are not the server's own and stay prepared.
func (m *Mysqld) recoverCopy(ctx context.Context, out *os.File) {
	m.log.Warn("the restored copy holds transactions prepared for a binlog it does not have; rolling them back once")
	// mariadbd exits after the recovery; StartTimeout bounds it anyway.
	rctx, cancel := context.WithTimeout(ctx, m.cfg.StartTimeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, m.mariadbd, "--defaults-file="+m.cfg.cnfPath(), "--tc-heuristic-recover=ROLLBACK")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	m.removeStaleSocket()
	err := cmd.Run()
	m.log.Info("heuristic recovery of the restored copy ended", "exit", err)
}

// process is a started mariadbd. done is closed once it has exited and
// been reaped; err is then its exit status. Any number of waiters may
// watch done: a check that sees the exit does not hide it from the stop
// that follows.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startProcess starts cmd and reaps it in a goroutine that ends when the
// process does.
func startProcess(cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// errHeld ends runOnce when someone holds mysqld stopped.
var errHeld = errors.New("mysqld held")

// holdRequested returns a channel closed when a Hold asks the running
// process to stop.
func (m *Mysqld) holdRequested() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holdReq
}

// waitHold blocks while mysqld is held, or until ctx ends.
func (m *Mysqld) waitHold(ctx context.Context) error {
	m.mu.Lock()
	hold := m.hold
	m.mu.Unlock()
	if hold == nil {
		return nil
	}
	m.setState(Held, nil, 0)
	select {
	case <-hold:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Hold stops mysqld (SIGTERM and a clean shutdown, or SIGKILL when kill is
// set: a server whose data dir is gone cannot shut down cleanly) and keeps
// it stopped until release is called; then Run starts it again. It
// returns once mysqld is down, or when ctx ends. Only one hold at a time.
func (m *Mysqld) Hold(ctx context.Context, kill bool) (release func(), err error) {
	m.mu.Lock()
	if m.hold != nil {
		m.mu.Unlock()
		return nil, errors.New("mysqlctl: mysqld is already held")
	}
	hold := make(chan struct{})
	m.hold, m.holdKill = hold, kill
	close(m.holdReq)
	m.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			m.mu.Lock()
			m.hold = nil
			m.holdReq = make(chan struct{})
			m.mu.Unlock()
			close(hold)
		})
	}
	for {
		ch := m.Changed()
		if st, _ := m.State(); st == Held || !m.running() {
			return release, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
}

// running reports whether Run is active.
func (m *Mysqld) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.active
}

// waitReady polls until mariadbd answers a query.
func (m *Mysqld) waitReady(ctx context.Context, p *process) error {
	deadline := time.Now().Add(m.cfg.StartTimeout)
	var lastErr error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("mariadbd exited during start: %v: %s", p.err, m.errorLogTail())
		default:
		}
		if lastErr = m.ping(ctx); lastErr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbd did not answer within %v: %w", m.cfg.StartTimeout, lastErr)
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

func (m *Mysqld) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := m.dialDBA(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Exec("SELECT 1")
}

// afterStart locks the server down, makes the keyspace's database and
// Mosaic's own tables, and makes the accounts (accounts.go), all without
// binlogging, so that no GTID of this server's own making appears.
func (m *Mysqld) afterStart(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := m.dialDBA(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Exec("SET SESSION sql_log_bin = 0"); err != nil {
		return err
	}
	if err := m.lockDown(c); err != nil {
		return err
	}
	var ddl []string
	if m.cfg.Database != "" {
		ddl = append(ddl, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(m.cfg.Database))
	}
	for _, q := range append(ddl, m.cfg.MetadataDDL...) {
		if err := c.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return m.makeAccounts(c)
}

// stopProcess sends SIGTERM, waits up to StopTimeout, then SIGKILLs.
func (m *Mysqld) stopProcess(p *process) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(m.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	m.log.Warn("mysqld did not stop in time; killing it", "pid", p.cmd.Process.Pid, "timeout", m.cfg.StopTimeout)
	m.killProcess(p)
}

// killProcess sends SIGKILL and waits for the exit, at most StopTimeout:
// a process stuck in the kernel (uninterruptible I/O) can outlive
// SIGKILL, and the agent must still be able to stop. Its reaper ends
// when it does.
func (m *Mysqld) killProcess(p *process) {
	_ = p.cmd.Process.Kill()
	t := time.NewTimer(m.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		m.log.Error("mysqld did not exit after SIGKILL; leaving it", "pid", p.cmd.Process.Pid, "timeout", m.cfg.StopTimeout)
	}
}

// stopLeftover stops a mariadbd left running on this data dir by an agent
// that died (its pid file names a live mariadbd using our my.cnf): two
// servers cannot share a data dir, and this agent is the owner now.
func (m *Mysqld) stopLeftover() {
	data, err := os.ReadFile(m.cfg.pidPath())
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), m.cfg.cnfPath()) {
		return
	}
	m.log.Warn("stopping a leftover mysqld on this data dir", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(m.cfg.StopTimeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(pollInterval)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func (m *Mysqld) errorLogTail() string {
	// mariadbd's user owns the log's dir: never follow a link it put
	// there to a file only the tablet may read.
	f, err := os.OpenFile(m.cfg.errorLog(), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return ""
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return lastLines(string(data), 5)
}

// QuoteString quotes s as a MySQL string literal.
func QuoteString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
