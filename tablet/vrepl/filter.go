package vrepl

import (
	"fmt"
	"strings"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/router/vindexes"
)

// rowFilter keeps the rows of one table that belong to a key range.
type rowFilter struct {
	table  string
	kr     *topodatapb.KeyRange
	vindex vindexes.Vindex // nil: by pinned, or every row
	column string
	// col is the vindex column's position in the rows filtered.
	col int
	// pinned: every row or none.
	pinned []byte
	// skipNulls: a row with NULL in the vindex column is left out.
	skipNulls bool
}

// newRowFilter builds the filter of f for rows whose columns are named by
// columns.
func newRowFilter(f *vreplicationpb.TableFilter, kr *topodatapb.KeyRange, columns []string) (*rowFilter, error) {
	rf := &rowFilter{table: f.Name, kr: kr, col: -1, pinned: f.Pinned, skipNulls: f.SkipNulls}
	if f.VindexType == "" {
		return rf, nil
	}
	v, err := vindexes.New(f.VindexType, nil)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", f.Name, err)
	}
	rf.vindex, rf.column = v, f.VindexColumn
	if err := rf.setColumns(columns); err != nil {
		return nil, err
	}
	return rf, nil
}

// setColumns points the filter at the vindex column among columns.
func (f *rowFilter) setColumns(columns []string) error {
	if f.vindex == nil {
		return nil
	}
	for i, c := range columns {
		if strings.EqualFold(c, f.column) {
			f.col = i
			return nil
		}
	}
	return fmt.Errorf("table %s: vindex column %s is not among its columns %v", f.table, f.column, columns)
}

// match reports whether a row (its values in text form) belongs to the
// key range. A row whose vindex column has no keyspace id (NULL, a value
// the vindex cannot map) is an error: it would otherwise vanish; except a
// NULL under skipNulls (a lookup's rows: NULL has no entry).
func (f *rowFilter) match(vals [][]byte) (bool, error) {
	switch {
	case f.pinned != nil:
		return keyrange.Contains(f.kr, f.pinned), nil
	case f.vindex == nil:
		return true, nil
	}
	v := vals[f.col]
	if v == nil {
		if f.skipNulls {
			return false, nil
		}
		return false, fmt.Errorf("table %s: a row has NULL in vindex column %s, so it belongs to no shard", f.table, f.column)
	}
	ksid, ok := f.vindex.Map(v)
	if !ok {
		return false, fmt.Errorf("table %s: value %q of vindex column %s has no keyspace id by vindex %s", f.table, v, f.column, f.vindex.Type())
	}
	return keyrange.Contains(f.kr, ksid), nil
}
