package vrepl

import "github.com/mosaicdb/mosaic/tablet/mysqlconn"

// LoadRowsForTest writes rows (the values of every column of table, which
// must have no generated column and no character-string key) into table
// of db over c, as the copy does with LOAD DATA, in one transaction.
func LoadRowsForTest(c *mysqlconn.Conn, db, table string, rows [][][]byte) error {
	tables, err := loadTables(c, db, []string{table})
	if err != nil {
		return err
	}
	raw := make([][]byte, len(rows))
	for i, r := range rows {
		raw[i] = mysqlconn.EncodeRow(r)
	}
	a := &applier{conn: c, db: db}
	return a.loadTx(tables[table], raw)
}
