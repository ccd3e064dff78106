package router

import (
	"strconv"
	"strings"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// rowKeyer builds grouping keys from chosen columns (all when cols is nil).
type rowKeyer struct {
	cols  []int
	comps []*sqltypes.Comparator
	// weights[i] is the column holding the WEIGHT_STRING of cols[i] when
	// that column is text, else -1.
	weights []int
}

// newRowKeyer returns a keyer over cols; weights maps a column to the
// column holding its WEIGHT_STRING (text values then key by it).
func newRowKeyer(fields []*querypb.Field, cols []int, weights map[int]int) (*rowKeyer, error) {
	if cols == nil {
		cols = make([]int, len(fields))
		for i := range cols {
			cols[i] = i
		}
	}
	k := &rowKeyer{cols: cols}
	for _, c := range cols {
		if c >= len(fields) {
			return nil, sqlerr.New(sqlerr.ERUnknown, "column %d out of range of %d result columns", c, len(fields))
		}
		comp, err := sqltypes.NewComparator(fields[c])
		if err != nil {
			return nil, sqlerr.NotSupported("grouping across shards here: %v", err)
		}
		k.comps = append(k.comps, comp)
		w := -1
		if wc, ok := weights[c]; ok && comp.Class() == sqltypes.ClassText {
			if w, err = colIndex(wc, len(fields)); err != nil {
				return nil, err
			}
		}
		k.weights = append(k.weights, w)
	}
	return k, nil
}

func (k *rowKeyer) key(row [][]byte) string {
	var sb strings.Builder
	for i, c := range k.cols {
		b := cellKey(row, c, k.weights[i], k.comps[i])
		sb.WriteString(strconv.Itoa(len(b)))
		sb.WriteByte(':')
		sb.Write(b)
	}
	return sb.String()
}

// cellKey keys the value in column col by its weight (in column w, -1 for
// none) when there is one, else by its comparator.
func cellKey(row [][]byte, col, w int, comp *sqltypes.Comparator) []byte {
	if w >= 0 && row[col] != nil && row[w] != nil {
		return append([]byte{2}, row[w]...)
	}
	return comp.Key(row[col])
}
