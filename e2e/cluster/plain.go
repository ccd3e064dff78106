package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/testports"
)

// Plain is one plain mariadbd, without a tablet or a gate: the reference
// that differential tests compare the gate with.
type Plain struct {
	// Port is mysqld's TCP port on 127.0.0.1 (user root, no password).
	Port int
}

// DSN returns a go-sql-driver DSN to database db ("" for none) with extra
// parameters such as "interpolateParams=true".
func (p *Plain) DSN(db string, params ...string) string {
	dsn := fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", p.Port, db)
	sep := "?"
	for _, prm := range params {
		dsn += sep + prm
		sep = "&"
	}
	return dsn
}

// StartPlain starts a plain mariadbd with the same server settings as the
// tablets' (utf8mb4_general_ci, ROW binlog) but writable, and waits until
// it answers. It stops when the test ends. It reports failure as an error
// rather than failing t, so it may run beside cluster.Start in another
// goroutine.
func StartPlain(t testing.TB) (*Plain, error) {
	ports, err := testports.Free(1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
	dir, err := os.MkdirTemp("", "mosaic-plain-")
	if err != nil {
		return nil, err
	}
	// mariadbd's system user passes through (MkdirTemp makes it 0700).
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	cfg := mysqlctl.DefaultConfig()
	cfg.Dir = filepath.Join(dir, "m")
	cfg.Port = port
	cfg.ServerID = uint32(port)
	cfg.TemplateDir = mysqlctl.SharedTemplateDir()
	cfg.Durable = false
	cfg.InnoDBBufferPoolSize = "64M"
	cfg.StopTimeout = 20 * time.Second
	m, err := mysqlctl.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t.Cleanup(func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	})
	if err := m.Init(ctx); err != nil {
		done <- nil
		return nil, fmt.Errorf("init plain mariadbd: %w", err)
	}
	go func() { done <- m.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	if err := m.WaitRunning(wctx); err != nil {
		return nil, fmt.Errorf("plain mariadbd: %w", err)
	}
	p := &Plain{Port: port}
	// The config starts every server read-only (the tablet agent decides
	// its role); this one has no agent. The reference server is every
	// test's, with root open over TCP as on a fresh MariaDB of old.
	c, err := mysqlconn.Dial(wctx, m.DBAParams())
	if err != nil {
		return nil, fmt.Errorf("plain mariadbd: %w", err)
	}
	defer c.Close()
	for _, q := range []string{"SET GLOBAL read_only = OFF", "CREATE USER 'root'@'127.0.0.1'", "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"} {
		if err := c.Exec(q); err != nil {
			return nil, fmt.Errorf("plain mariadbd: %s: %w", q, err)
		}
	}
	return p, nil
}
