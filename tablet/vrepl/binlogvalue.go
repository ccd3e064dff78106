package vrepl

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// binlogTable turns the row images of one table map into the engine's
// text form: the text mysqld gives for the value in a SELECT under SET
// NAMES binary and time_zone '+00:00' (except FLOAT and DOUBLE, which
// come in their shortest exact form).
type binlogTable struct {
	columns  []string
	unsigned map[int]bool
	enums    map[int][]string
	sets     map[int][]string
}

func newBinlogTable(tm *replication.TableMapEvent) (*binlogTable, error) {
	names := tm.ColumnNameString()
	if len(names) != int(tm.ColumnCount) {
		return nil, fmt.Errorf("table %s.%s: the binlog carries no column names (mysqld needs binlog_row_metadata=FULL)", tm.Schema, tm.Table)
	}
	return &binlogTable{
		columns:  names,
		unsigned: tm.UnsignedMap(),
		enums:    tm.EnumStrValueMap(),
		sets:     tm.SetStrValueMap(),
	}, nil
}

// row converts one image.
func (bt *binlogTable) row(tm *replication.TableMapEvent, image []any) ([][]byte, error) {
	if len(image) != len(bt.columns) {
		return nil, fmt.Errorf("table %s.%s: row image has %d values for %d columns", tm.Schema, tm.Table, len(image), len(bt.columns))
	}
	out := make([][]byte, len(image))
	for i, v := range image {
		b, err := bt.value(tm, i, v)
		if err != nil {
			return nil, fmt.Errorf("table %s.%s column %s: %w", tm.Schema, tm.Table, bt.columns[i], err)
		}
		out[i] = b
	}
	return out, nil
}

func (bt *binlogTable) value(tm *replication.TableMapEvent, i int, v any) ([]byte, error) {
	u := bt.unsigned[i]
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int8:
		if u {
			return strconv.AppendUint(nil, uint64(uint8(x)), 10), nil
		}
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int16:
		if u {
			return strconv.AppendUint(nil, uint64(uint16(x)), 10), nil
		}
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int32:
		if u {
			if tm.ColumnType[i] == mysql.MYSQL_TYPE_INT24 {
				return strconv.AppendUint(nil, uint64(uint32(x)&0xffffff), 10), nil
			}
			return strconv.AppendUint(nil, uint64(uint32(x)), 10), nil
		}
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int64:
		switch {
		case tm.IsEnumColumn(i):
			names := bt.enums[i]
			if x <= 0 || int(x) > len(names) {
				return []byte{}, nil
			}
			return []byte(names[x-1]), nil
		case tm.IsSetColumn(i):
			names := bt.sets[i]
			var picked []string
			for bit := 0; bit < len(names) && bit < 64; bit++ {
				if x&(1<<bit) != 0 {
					picked = append(picked, names[bit])
				}
			}
			return []byte(strings.Join(picked, ",")), nil
		case tm.ColumnType[i] == mysql.MYSQL_TYPE_BIT:
			meta := tm.ColumnMeta[i]
			nbits := (meta>>8)*8 + meta&0xff
			n := int(nbits+7) / 8
			var full [8]byte
			binary.BigEndian.PutUint64(full[:], uint64(x))
			return append([]byte(nil), full[8-n:]...), nil
		case u:
			return strconv.AppendUint(nil, uint64(x), 10), nil
		}
		return strconv.AppendInt(nil, x, 10), nil
	case int:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(nil, x, 10), nil
	case float32:
		return strconv.AppendFloat(nil, float64(x), 'g', -1, 32), nil
	case float64:
		return strconv.AppendFloat(nil, x, 'g', -1, 64), nil
	case string:
		return []byte(x), nil
	case []byte:
		if x == nil {
			return []byte{}, nil
		}
		return x, nil
	}
	return nil, fmt.Errorf("unexpected binlog value %T", v)
}
