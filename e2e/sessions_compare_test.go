package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// runScript runs statements one by one on conn and describes each
// outcome in a line: its columns and rows, or its MySQL error number.
// {t} in a statement is replaced by table.
func runScript(t *testing.T, conn *sql.Conn, table string, stmts []string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, q := range stmts {
		q = strings.ReplaceAll(q, "{t}", table)
		rows, err := conn.QueryContext(ctx, q)
		if err != nil {
			out = append(out, describeErr(err))
			continue
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var r []string
			for _, v := range vals {
				if v == nil {
					r = append(r, "NULL")
				} else {
					r = append(r, string(v))
				}
			}
			lines = append(lines, strings.Join(r, "|"))
		}
		if err := rows.Err(); err != nil {
			out = append(out, describeErr(err))
			continue
		}
		out = append(out, fmt.Sprintf("%v %s", cols, strings.Join(lines, " ; ")))
	}
	return out
}

func describeErr(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprintf("ERROR %d (%s)", me.Number, string(me.SQLState[:]))
	}
	return "ERROR " + err.Error()
}
