package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
)

// StreamTable is the table of the streaming measurement: a select of the
// whole table through the gate must stream, not buffer.
const StreamTable = "bench_stream"

// PrepareStream makes StreamTable hold exactly rows rows of about 110
// bytes (ids 1..rows), inserting in batches; a table that already has
// that many rows is left alone.
func PrepareStream(ctx context.Context, db *sql.DB, rows int) error {
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+StreamTable).Scan(&n); err == nil && n == int64(rows) {
		return nil
	}
	if err := exec(ctx, db,
		"DROP TABLE IF EXISTS "+StreamTable,
		"CREATE TABLE "+StreamTable+" (id BIGINT NOT NULL, k INT NOT NULL, c CHAR(100) NOT NULL, PRIMARY KEY (id))",
	); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const batch = 2000
	var sb strings.Builder
	for lo := 1; lo <= rows; lo += batch {
		sb.Reset()
		sb.WriteString("INSERT INTO " + StreamTable + " (id, k, c) VALUES ")
		for id := lo; id < lo+batch && id <= rows; id++ {
			if id > lo {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d,%d,'%s')", id, rng.IntN(1<<30), randString(rng, 100))
		}
		if err := exec(ctx, db, sb.String()); err != nil {
			return fmt.Errorf("fill %s: %w", StreamTable, err)
		}
	}
	return nil
}

// StreamAll selects every row of StreamTable on one connection, reading
// them as they come, and returns how many rows and bytes of values it read.
func StreamAll(ctx context.Context, db *sql.DB) (rows, bytes int64, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	rs, err := conn.QueryContext(ctx, "SELECT id, k, c FROM "+StreamTable)
	if err != nil {
		return 0, 0, err
	}
	defer rs.Close()
	var id, k, c sql.RawBytes
	for rs.Next() {
		if err := rs.Scan(&id, &k, &c); err != nil {
			return rows, bytes, err
		}
		rows++
		bytes += int64(len(id) + len(k) + len(c))
	}
	return rows, bytes, rs.Err()
}
