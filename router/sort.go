package router

import (
	"bytes"
	"context"
	"sort"
	"strconv"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

func itoa(i int) string { return strconv.Itoa(i) }

// sortResult sorts res's rows by keys in place (stable).
func sortResult(res *querypb.QueryResult, keys []orderKey) error {
	rows, err := decodeRows(res)
	if err != nil {
		return err
	}
	cmp, err := rowComparator(res.Fields, keys)
	if err != nil {
		return err
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return cmp(rows[idx[a]], rows[idx[b]]) < 0 })
	sorted := make([][]byte, len(rows))
	for i, j := range idx {
		sorted[i] = res.Rows[j]
	}
	res.Rows = sorted
	return nil
}

// rowComparator compares decoded rows by keys, with each column's type
// and collation. A key with a weight column compares text values by
// their weights (see orderKey).
func rowComparator(fields []*querypb.Field, keys []orderKey) (func(a, b [][]byte) int, error) {
	type key struct {
		col    int
		desc   bool
		c      *sqltypes.Comparator
		weight int // -1: none, or the value is not text
	}
	ks := make([]key, len(keys))
	for i, k := range keys {
		col, err := colIndex(k.col, len(fields))
		if err != nil {
			return nil, err
		}
		c, err := sqltypes.NewComparator(fields[col])
		if err != nil {
			return nil, sqlerr.NotSupported("ordering across shards here: %v", err)
		}
		ks[i] = key{col: col, desc: k.desc, c: c, weight: -1}
		if k.hasWeight && c.Class() == sqltypes.ClassText {
			if ks[i].weight, err = colIndex(k.weight, len(fields)); err != nil {
				return nil, err
			}
		}
	}
	return func(a, b [][]byte) int {
		for _, k := range ks {
			var c int
			if k.weight >= 0 && a[k.col] != nil && b[k.col] != nil && a[k.weight] != nil && b[k.weight] != nil {
				c = bytes.Compare(a[k.weight], b[k.weight])
			} else {
				c = k.c.Compare(a[k.col], b[k.col])
			}
			if c != 0 {
				if k.desc {
					return -c
				}
				return c
			}
		}
		return 0
	}, nil
}

// Sort orders its input's rows in the gate.
type Sort struct {
	Input Primitive
	Keys  []orderKey
}

func (s *Sort) Inputs() []Primitive { return []Primitive{s.Input} }

func (s *Sort) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	res, err := s.Input.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	if len(res.Rows) > 1 {
		if err := sortResult(res, s.Keys); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (s *Sort) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, s, exec, bv, callback)
}

func (s *Sort) Describe() map[string]any {
	return map[string]any{"operator": "Sort", "order_by": describeKeys(s.Keys), "inputs": []any{s.Input.Describe()}}
}
