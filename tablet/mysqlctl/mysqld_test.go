package mysqlctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/testports"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

func freePort(t *testing.T) int {
	t.Helper()
	ports, err := testports.Free(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mosaic-mysqlctl-")
	if err != nil {
		t.Fatal(err)
	}
	// mariadbd's system user must pass through (MkdirTemp makes 0700).
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestMyCnf(t *testing.T) {
	c := DefaultConfig()
	c.Dir, c.Port, c.ServerID = "/x", 17101, 101
	c.ExtraConfig = []string{"max_allowed_packet=64M"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cnf := c.myCnf("mysql")
	for _, want := range []string{"port=17101", "server_id=101", "socket=/x/run/mysql.sock", "user=mysql", "secure_file_priv=/x/files", "pid-file=/x/run/mysqld.pid", "read_only=ON", "log_bin=", "binlog_format=ROW", "gtid_strict_mode=ON", "log_slave_updates=ON", "innodb_buffer_pool_size=64M", "bind-address=127.0.0.1", "max_allowed_packet=64M", "skip_slave_start", "thread_handling=pool-of-threads", "thread_pool_stall_limit=20"} {
		if !strings.Contains(cnf, want+"\n") && !strings.Contains(cnf, want) {
			t.Errorf("my.cnf lacks %q:\n%s", want, cnf)
		}
	}
	c.ThreadPool = false
	if cnf := c.myCnf("mysql"); strings.Contains(cnf, "thread_handling") {
		t.Errorf("my.cnf without the thread pool names it:\n%s", cnf)
	}
	c.ExtraConfig = []string{"[client]"}
	if c.Validate() == nil {
		t.Error("a section in ExtraConfig validated")
	}
	c = DefaultConfig()
	if c.Validate() == nil {
		t.Error("empty Dir validated")
	}
	c.Dir, c.Port, c.ServerID = "/x", 17101, 101
	for _, db := range []string{"mysql", "_mosaic", "Information_Schema", "sys", "performance_schema"} {
		c.Database = db
		if c.Validate() == nil {
			t.Errorf("database %s validated: the application would get its rights on it", db)
		}
	}
}

func TestQuoteString(t *testing.T) {
	if got := QuoteString(`a'b\c`); got != `'a\'b\\c'` {
		t.Errorf("QuoteString = %s", got)
	}
}

// TestLifecycle inits a data dir from the template, starts mariadbd, kills
// it with SIGKILL, waits for the supervisor to bring it back, and stops it.
func TestLifecycle(t *testing.T) {
	m, ctx := initTestMysqld(t, shortTempDir(t), 1, nil)
	cfg := m.cfg
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.Run(runCtx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	defer func() { stop(); wg.Wait() }()

	if err := m.WaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	query := func() string {
		c, err := mysqlconn.Dial(ctx, m.DBAParams())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		res, err := c.Execute("SELECT @@server_id, @@read_only, @@log_bin, (SELECT COUNT(*) FROM mysql.user WHERE user = 'mosaic_repl')", 0)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := mysqlconn.RowValues(res.Rows[0], len(res.Fields))
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, v := range vals {
			s = append(s, string(v))
		}
		return strings.Join(s, ",")
	}
	if got := query(); got != "1,1,1,1" {
		t.Fatalf("server_id,read_only,log_bin,repl user = %s, want 1,1,1,1", got)
	}

	pid := m.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for m.Starts() < 2 {
		if time.Now().After(deadline) {
			st, err := m.State()
			t.Fatalf("mysqld not restarted after kill -9: state %v, %v", st, err)
		}
		select {
		case <-m.Changed():
		case <-time.After(time.Second):
		}
	}
	if m.PID() == pid {
		t.Fatal("pid did not change after restart")
	}
	if got := query(); got != "1,1,1,1" {
		t.Fatalf("after restart: %s", got)
	}

	stop()
	wg.Wait()
	if st, _ := m.State(); st != Stopped {
		t.Fatalf("state after stop = %v", st)
	}
	if _, err := os.Stat(cfg.pidPath()); !os.IsNotExist(err) {
		t.Errorf("pid file still there after a clean stop: %v", err)
	}
}

// TestExitDuringStart: a mariadbd that exits while it starts (here an
// unknown option) is a crash the supervisor retries, and Run still stops
// at once when its context ends. The wait for the process's exit used to
// be consumed by the readiness check, so the stop that followed waited
// for a second exit forever ("did not stop in time; killing it").
func TestExitDuringStart(t *testing.T) {
	m, ctx := initTestMysqld(t, shortTempDir(t), 1, func(c *Config) {
		c.ExtraConfig = []string{"mosaic_no_such_option=1"}
		c.StopTimeout = 2 * time.Second
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := m.Run(runCtx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	defer func() {
		stop()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("Run did not return a minute after its context ended")
		}
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		ch := m.Changed()
		st, err := m.State()
		if st == Crashed {
			if err == nil || !strings.Contains(err.Error(), "exited during start") {
				t.Fatalf("crash reason %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a mariadbd that exits during start is not seen as crashed: state %v, %v", st, err)
		}
		select {
		case <-ch:
		case <-time.After(time.Second):
		}
	}
	stop()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after its context ended")
	}
}

// TestLeastPrivilege: mariadbd runs as its system user when the tests run
// as root, reads and writes files only in its files dir, and no account
// gets in without a password or the DBA's unix_socket identity, even on a
// data dir that an older install left open (simulated here: a passwordless
// root over TCP and an anonymous account, dropped at the next start).
func TestLeastPrivilege(t *testing.T) {
	m := startMysqld(t, shortTempDir(t), 1)
	ctx := t.Context()
	if os.Geteuid() == 0 {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.PID()))
		if err != nil {
			t.Fatal(err)
		}
		u, err := user.Lookup(m.cfg.SystemUser)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^Uid:\s+` + u.Uid + `\s`).Match(status) {
			t.Errorf("mariadbd does not run as %s (uid %s):\n%s", m.cfg.SystemUser, u.Uid, status)
		}
		st, err := os.Stat(m.cfg.dataDir())
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; fmt.Sprint(uid) != u.Uid {
			t.Errorf("data dir owned by uid %d, want %s", uid, u.Uid)
		}
	}
	if got := queryAs(t, m.DBAParams(), "SELECT @@secure_file_priv"); strings.TrimSuffix(got, "/") != m.cfg.filesDir() {
		t.Errorf("secure_file_priv = %q, want %s", got, m.cfg.filesDir())
	}
	tcpRoot := mysqlconn.Params{Addr: fmt.Sprintf("127.0.0.1:%d", m.Port()), User: "root"}
	if c, err := mysqlconn.Dial(ctx, tcpRoot); err == nil {
		c.Close()
		t.Fatal("root logged in over TCP without a password")
	}
	if err := execAs(t, m.DBAParams(),
		"SET SESSION sql_log_bin = 0",
		"CREATE USER 'root'@'127.0.0.1'",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1'",
		"CREATE USER ''@'localhost'",
	); err != nil {
		t.Fatal(err)
	}
	if c, err := mysqlconn.Dial(ctx, tcpRoot); err != nil {
		t.Fatalf("the simulated open root does not work: %v", err)
	} else {
		c.Close()
	}
	starts := m.Starts()
	if err := syscall.Kill(m.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for m.Starts() == starts {
		select {
		case <-m.Changed():
		case <-ctx.Done():
			t.Fatal("mysqld did not come back")
		}
	}
	if c, err := mysqlconn.Dial(ctx, tcpRoot); err == nil {
		c.Close()
		t.Error("a passwordless root over TCP survived a restart")
	}
	if got := queryAs(t, m.DBAParams(), "SELECT COUNT(*) FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost')"); got != "0" {
		t.Errorf("%s open accounts left", got)
	}
}

// TestUntraversableDir: a tablet dir whose parent mariadbd's user cannot
// pass through is refused at Init with a clear error, not a vague failure
// of mariadbd later.
func TestUntraversableDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mariadbd runs as the tests' own user")
	}
	parent := shortTempDir(t)
	if err := os.Chmod(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Dir, cfg.Port, cfg.ServerID = filepath.Join(parent, "t"), freePort(t), 1
	m, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Init(t.Context())
	if !errors.Is(err, errNotTraversable) || !strings.Contains(err.Error(), parent) {
		t.Fatalf("Init under a 0700 dir: %v", err)
	}
}
