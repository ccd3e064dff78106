package vrepl

import (
	"fmt"
	"io"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// The copy writes a batch of rows with one LOAD DATA LOCAL statement
// rather than INSERTs: mysqld then parses no SQL per value, and the
// target builds no literals. Values go as mysqld gave them (its text
// form, bytes as stored), tab-separated with backslash escapes, in a file
// of character set binary, so nothing is converted: what a column gets
// is the same as from the INSERT's literal.

// loadable reports whether the copy may write t's rows with LOAD DATA:
// every copied column is of a type whose text form LOAD DATA stores back
// unchanged. Other tables (spatial columns, types this list does not know)
// are copied with INSERTs.
func loadable(t *Table) bool {
	for _, i := range t.Copy {
		switch t.Cols[i].DataType {
		case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float", "double", "real",
			"date", "datetime", "timestamp", "time", "year",
			"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set",
			"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "json":
		default:
			return false
		}
	}
	return true
}

// loadStatement is the LOAD DATA LOCAL statement of t's copied columns.
func loadStatement(t *Table) string {
	return "LOAD DATA LOCAL INFILE 'mosaic-copy' INTO TABLE " + quoteIdent(t.Name) +
		" CHARACTER SET binary FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\'" +
		" LINES TERMINATED BY '\\n' STARTING BY '' (" + joinQuoted(t.copyColumns()) + ")"
}

// appendLoadRows appends rows of a row stream (copied columns, then sort
// keys) to b in the file format of loadStatement.
func appendLoadRows(b []byte, t *Table, rows [][]byte) ([]byte, error) {
	ncols := len(t.Copy) + len(t.weights)
	vals := make([][]byte, 0, ncols)
	for _, raw := range rows {
		var err error
		vals, err = mysqlconn.AppendRowValues(vals[:0], raw, ncols)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t.Name, err)
		}
		for j := range t.Copy {
			if j > 0 {
				b = append(b, '\t')
			}
			b = appendLoadValue(b, vals[j])
		}
		b = append(b, '\n')
	}
	return b, nil
}

// appendLoadValue appends v escaped for LOAD DATA: \N for NULL; the
// escape character, the field and line terminators and NUL bytes behind a
// backslash.
func appendLoadValue(b, v []byte) []byte {
	if v == nil {
		return append(b, '\\', 'N')
	}
	start := 0
	for i, c := range v {
		var e byte
		switch c {
		case '\\':
			e = '\\'
		case '\t':
			e = 't'
		case '\n':
			e = 'n'
		case 0:
			e = '0'
		default:
			continue
		}
		b = append(b, v[start:i]...)
		b = append(b, '\\', e)
		start = i + 1
	}
	return append(b, v[start:]...)
}

// loadRows writes rows into t with one LOAD DATA LOCAL statement, in the
// transaction open on a's connection. Every row must go in: LOAD DATA
// LOCAL skips a row whose key exists (mysqld cannot stop the client's
// file half-way), so fewer rows than sent is an error and the caller
// rolls back. A copied row therefore still fails loudly
// when it is copied twice.
func (a *applier) loadRows(t *Table, rows [][]byte) error {
	if len(rows) == 0 {
		return nil
	}
	data, err := appendLoadRows(a.loadBuf[:0], t, rows)
	if err != nil {
		return err
	}
	a.loadBuf = data
	sent := false
	res, err := a.conn.LoadData(loadStatement(t), func() ([]byte, error) {
		if sent {
			return nil, io.EOF
		}
		sent = true
		return data, nil
	})
	if err != nil {
		return fmt.Errorf("load rows of %s: %w", t.Name, err)
	}
	if res.RowsAffected != uint64(len(rows)) {
		return fmt.Errorf("load rows of %s: %d of %d rows went in (%s): a key was copied twice", t.Name, res.RowsAffected, len(rows), res.Info)
	}
	return nil
}
