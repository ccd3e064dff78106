package e2e

import (
	"database/sql"
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
