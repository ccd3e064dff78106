package tablet_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
)

// testNoDirtyConnections runs, outside and inside transactions, the
// statements that leave state on a mysqld connection (table locks, user
// locks, temporary tables, SQL prepared statements, user variables
// assigned in a statement, a global read lock), then checks that no
// pooled connection handed out afterwards carries any of it, and that
// mysqld holds no lock from them. The query service resets such a
// connection before it returns to its pool.
func testNoDirtyConnections(t *testing.T, pc *tmclient.Client, target *querypb.Target, primary *tablettest.Tablet, poolSize int) {
	ctx := t.Context()
	exec := func(txID int64, sql string) (*querypb.QueryResult, error) {
		resp, err := pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, TransactionId: txID, Sql: sql})
		if err != nil {
			return nil, err
		}
		return resp.Result, nil
	}
	mustExec := func(txID int64, sql string) {
		t.Helper()
		if _, err := exec(txID, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	mustExec(0, "CREATE TABLE dirty_probe (id INT PRIMARY KEY)")
	mustExec(0, "INSERT INTO dirty_probe VALUES (1)")

	for _, sql := range []string{
		"LOCK TABLES users WRITE",
		"LOCK TABLE users READ",
		"SELECT GET_LOCK('mosaic_dirty', 0)",
		"DO GET_LOCK('mosaic_dirty_do', 0)",
		"CREATE TEMPORARY TABLE tmp_dirty (id INT)",
		"PREPARE dirty_stmt FROM 'SELECT 1'",
		"SELECT @dirty_var := 42",
		"SELECT 7 INTO @dirty_into",
		"HANDLER dirty_probe OPEN",
	} {
		mustExec(0, sql)
	}
	// A global read lock would stop the whole server: the application's
	// account may not take one (RELOAD is the backup account's).
	for _, sql := range []string{"FLUSH TABLES WITH READ LOCK", "BACKUP STAGE START"} {
		if _, err := exec(0, sql); err == nil || !strings.Contains(err.Error(), "RELOAD") {
			t.Errorf("%s as the application: %v, want a refusal for want of RELOAD", sql, err)
		}
	}
	// Inside a transaction: the connection is reset when the
	// transaction ends.
	be, err := pc.Query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: "SELECT GET_LOCK('mosaic_dirty_tx', 0)"})
	if err != nil || be.Error != nil {
		t.Fatalf("begin execute: %v %v", err, be.GetError())
	}
	mustExec(be.TransactionId, "CREATE TEMPORARY TABLE tmp_dirty_tx (id INT)")
	mustExec(be.TransactionId, "SELECT @dirty_tx_var := 1")
	if _, err := pc.Query.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: be.TransactionId}); err != nil {
		t.Fatal(err)
	}

	// Enough concurrent callers to take every connection of the pool.
	checks := map[string]string{
		"SELECT COUNT(*) FROM dirty_probe": "1",
		"SELECT CONCAT_WS(',', IS_USED_LOCK('mosaic_dirty'), IS_USED_LOCK('mosaic_dirty_do'), IS_USED_LOCK('mosaic_dirty_tx'), @dirty_var, @dirty_into, @dirty_tx_var, 'clean')": "clean",
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*poolSize*len(checks))
	for i := 0; i < 3*poolSize; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sql, want := range checks {
				res, err := exec(0, sql)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", sql, err)
					continue
				}
				vals, err := mysqlconn.RowValues(res.Rows[0], len(res.Fields))
				if err != nil || len(vals) != 1 {
					errs <- fmt.Errorf("%s: row %v: %v", sql, vals, err)
					continue
				}
				if got := string(vals[0]); got != want {
					errs <- fmt.Errorf("%s = %q, want %q", sql, got, want)
				}
			}
			for _, tmp := range []string{"tmp_dirty", "tmp_dirty_tx"} {
				if _, err := exec(0, "SELECT * FROM "+tmp); err == nil {
					errs <- fmt.Errorf("temporary table %s of another caller visible", tmp)
				}
			}
			if _, err := exec(0, "EXECUTE dirty_stmt"); err == nil {
				errs <- fmt.Errorf("EXECUTE dirty_stmt found the prepared statement of another caller")
			}
			if _, err := exec(0, "HANDLER dirty_probe READ FIRST"); err == nil {
				errs <- fmt.Errorf("HANDLER READ found the handler of another caller")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// mysqld itself: no table or global lock left behind blocks a writer.
	primary.ExecuteFetchAsDba(t, "SET STATEMENT lock_wait_timeout = 10 FOR INSERT INTO commerce.users (name) VALUES ('after-locks')")
	primary.ExecuteFetchAsDba(t, "SET STATEMENT lock_wait_timeout = 10 FOR ALTER TABLE commerce.dirty_probe ADD COLUMN c INT")
}
