package mysqlconn

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// nullValue marks a NULL column in a text-protocol row.
const nullValue = 0xfb

// RowValues splits a text-protocol row payload into its ncols values; a
// NULL column is a nil slice. The values point into row.
func RowValues(row []byte, ncols int) ([][]byte, error) {
	return AppendRowValues(make([][]byte, 0, ncols), row, ncols)
}

// AppendRowValues is RowValues appending to out, so that a caller that
// splits many rows reuses one slice.
func AppendRowValues(out [][]byte, row []byte, ncols int) ([][]byte, error) {
	pos := 0
	for i := 0; i < ncols; i++ {
		if pos >= len(row) {
			return nil, fmt.Errorf("row has %d of %d columns", i, ncols)
		}
		if row[pos] == nullValue {
			out = append(out, nil)
			pos++
			continue
		}
		v, _, n, err := mysql.LengthEncodedString(row[pos:])
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", i, err)
		}
		if v == nil {
			v = []byte{}
		}
		out = append(out, v)
		pos += n
	}
	if pos != len(row) {
		return nil, fmt.Errorf("row has %d trailing bytes", len(row)-pos)
	}
	return out, nil
}

// EncodeRow builds a text-protocol row payload from values (nil = NULL).
// It is the inverse of RowValues, used by tests and by code that makes
// results of its own.
func EncodeRow(values [][]byte) []byte {
	var b []byte
	for _, v := range values {
		if v == nil {
			b = append(b, nullValue)
			continue
		}
		b = mysql.AppendLengthEncodedInteger(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// Row is one decoded row by column name; NULL columns are absent.
type Row map[string]string

// NamedRows decodes a whole result into rows by column name. It is for the
// agent's own small queries (SHOW SLAVE STATUS and the like), not for the
// query path.
func NamedRows(res *querypb.QueryResult) ([]Row, error) {
	out := make([]Row, 0, len(res.Rows))
	for _, raw := range res.Rows {
		vals, err := RowValues(raw, len(res.Fields))
		if err != nil {
			return nil, err
		}
		r := make(Row, len(vals))
		for i, v := range vals {
			if v != nil {
				r[res.Fields[i].Name] = string(v)
			}
		}
		out = append(out, r)
	}
	return out, nil
}
