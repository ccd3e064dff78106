package mysqlctl

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// startMysqld runs a supervised mariadbd until the test ends.
func startMysqld(t *testing.T, dir string, id uint32, edits ...func(*Config)) *Mysqld {
	t.Helper()
	m, ctx := initTestMysqld(t, dir, id, func(c *Config) {
		c.InnoDBBufferPoolSize = "32M"
		for _, e := range edits {
			e(c)
		}
	})
	if !m.Fresh() {
		t.Error("a new data dir is not reported fresh")
	}
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.Run(runCtx) }()
	t.Cleanup(func() { stop(); wg.Wait() })
	if err := m.WaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

func execAs(t *testing.T, p mysqlconn.Params, sqls ...string) error {
	t.Helper()
	c, err := mysqlconn.Dial(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range sqls {
		if err := c.Exec(s); err != nil {
			return err
		}
	}
	return nil
}

func queryAs(t *testing.T, p mysqlconn.Params, sql string) string {
	t.Helper()
	c, err := mysqlconn.Dial(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Execute(sql, 10)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	vals, err := mysqlconn.RowValues(res.Rows[0], len(res.Fields))
	if err != nil {
		t.Fatal(err)
	}
	return string(vals[0])
}

// TestBackupRestore copies one server's data into another with Backup and
// Restore while the second is held, and checks the app user's fence.
func TestBackupRestore(t *testing.T) {
	dir := shortTempDir(t)
	src := startMysqld(t, dir, 1)
	dst := startMysqld(t, dir, 2)

	root := src.DBAParams()
	if err := execAs(t, root, "SET GLOBAL read_only = OFF", "CREATE DATABASE IF NOT EXISTS d", "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO d.t VALUES (1, 'one'), (2, 'two')"); err != nil {
		t.Fatal(err)
	}
	// The app user writes while read_only is off and is refused once it is on.
	if err := execAs(t, src.AppParams(), "INSERT INTO d.t VALUES (3, 'three')"); err != nil {
		t.Fatalf("app user write: %v", err)
	}
	if err := execAs(t, root, "SET GLOBAL read_only = ON"); err != nil {
		t.Fatal(err)
	}
	err := execAs(t, src.AppParams(), "INSERT INTO d.t VALUES (4, 'four')")
	var se *sqlerr.Error
	if !errors.As(err, &se) || se.Num != sqlerr.ERReadOnly {
		t.Fatalf("app user write under read_only: %v, want error 1290", err)
	}
	wantPos := queryAs(t, root, "SELECT @@gtid_binlog_pos")

	pr, pw := io.Pipe()
	backupErr := make(chan error, 1)
	var srcInfo BinlogInfo
	go func() {
		var err error
		srcInfo, err = src.Backup(t.Context(), pw)
		pw.CloseWithError(err)
		backupErr <- err
	}()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	release, err := dst.Hold(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := dst.State(); st != Held {
		t.Fatalf("state while held = %v", st)
	}
	if !dst.DataDirPresent() {
		t.Fatal("data dir missing before restore")
	}
	info, err := dst.Restore(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	pos := info.GTID
	if info.File == "" || info.Offset <= 0 {
		t.Errorf("binlog info = %+v", info)
	}
	if err := <-backupErr; err != nil {
		t.Fatal(err)
	}
	if srcInfo != info {
		t.Errorf("source's binlog info %+v, the copy's %+v", srcInfo, info)
	}
	if pos != wantPos {
		t.Fatalf("restored position %q, want %q", pos, wantPos)
	}
	starts := dst.Starts()
	release()
	for dst.Starts() == starts {
		select {
		case <-dst.Changed():
		case <-ctx.Done():
			t.Fatal("mysqld did not start after the hold was released")
		}
	}
	if err := dst.WaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	if got := queryAs(t, dst.DBAParams(), "SELECT GROUP_CONCAT(v ORDER BY id) FROM d.t"); got != "one,two,three" {
		t.Fatalf("restored rows = %q", got)
	}
	// The copy holds the source's accounts: the destination sets its own
	// passwords again when it starts.
	if got := queryAs(t, dst.AppParams(), "SELECT COUNT(*) FROM d.t"); got != "3" {
		t.Fatalf("the app account sees %s rows on the restored server", got)
	}
	if got := queryAs(t, dst.DBAParams(), "SELECT @@server_id"); got != "2" {
		t.Fatalf("restored server runs as server_id %s", got)
	}
	if !strings.HasPrefix(pos, "0-1-") {
		t.Fatalf("position %q is not the source's", pos)
	}
}

// initTestMysqld makes a mariadbd of the tests (data dir dir/t<id>, a free
// port, not durable, quick restarts) with edit's changes to its config,
// and initializes its data dir. The context it returns ends with the test,
// two minutes at most.
func initTestMysqld(t *testing.T, dir string, id uint32, edit func(*Config)) (*Mysqld, context.Context) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir = filepath.Join(dir, "t"+string(rune('0'+id)))
	cfg.Port = freePort(t)
	cfg.ServerID = id
	cfg.TemplateDir = SharedTemplateDir()
	cfg.Durable = false
	cfg.RestartBackoff = 50 * time.Millisecond
	cfg.Database = "d"
	cfg.Secrets.ReplicationPassword = "test-replication"
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return m, ctx
}

// TestRestoreKeepsPreparedXA restores a copy taken while an XA branch was
// prepared (a twopc participant's, replicated or not): the restored server
// starts and keeps the branch prepared for its coordinator to decide,
// whatever its XID looks like (this one is shaped like mariadbd's own),
// and shows none of its rows yet.
func TestRestoreKeepsPreparedXA(t *testing.T) {
	dir := shortTempDir(t)
	src := startMysqld(t, dir, 1)
	dst := startMysqld(t, dir, 2)
	root := src.DBAParams()
	const xid = "X'4d7953514c58696401000000ffffffffffff0000', '', 1"
	if err := execAs(t, root, "SET GLOBAL read_only = OFF", "CREATE DATABASE IF NOT EXISTS d", "CREATE TABLE d.t (id INT PRIMARY KEY)",
		"INSERT INTO d.t VALUES (1)", "XA START "+xid, "INSERT INTO d.t VALUES (2)", "XA END "+xid, "XA PREPARE "+xid); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := src.Backup(t.Context(), pw)
		pw.CloseWithError(err)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	release, err := dst.Hold(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Restore(ctx, pr); err != nil {
		t.Fatal(err)
	}
	release()
	if err := dst.WaitRunning(ctx); err != nil {
		t.Fatalf("the restored copy does not start: %v", err)
	}
	if got := queryAs(t, dst.DBAParams(), "SELECT GROUP_CONCAT(id ORDER BY id) FROM d.t"); got != "1" {
		t.Fatalf("restored rows = %q, want the committed row only", got)
	}
	if got := queryAs(t, dst.DBAParams(), "SELECT COUNT(*) FROM information_schema.INNODB_TRX"); got != "1" {
		t.Fatalf("%s transactions open on the restored server, want the prepared XA branch", got)
	}
}
