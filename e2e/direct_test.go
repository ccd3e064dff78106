package e2e

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// openDirect opens a handle straight to a mysqld, closed when the test ends.
func openDirect(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// traversableTempDir is t.TempDir made passable (mode 0711, its parent too)
// for the tablets' mariadbd, which runs as its own system user when the
// tests run as root: t.TempDir's dirs are private (0700).
func traversableTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
