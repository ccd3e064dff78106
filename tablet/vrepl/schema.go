package vrepl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// Column is one column of a table as information_schema describes it.
type Column struct {
	Name string
	// DataType is DATA_TYPE, lower case: "int", "varchar", "datetime".
	DataType string
	// ColumnType is COLUMN_TYPE: "int(10) unsigned", "enum('a','b')".
	ColumnType string
	// Charset and Collation are set for character columns only.
	Charset   string
	Collation string
	// MaxChars is CHARACTER_MAXIMUM_LENGTH (character columns).
	MaxChars  int64
	Unsigned  bool
	Generated bool
}

// Table is the schema of one table: its columns in order, which of them a
// copy carries (all but generated ones) and its primary key.
type Table struct {
	Name string
	Cols []Column
	// Copy are the indexes in Cols of the columns rows carry.
	Copy []int
	// PK are the indexes in Cols of the primary-key columns, in key order.
	PK []int
	// order says how each PK column is ordered; weights are the positions,
	// among the PK columns, of those ordered by a sort key (orderWeight).
	order   []pkOrder
	weights []int
	// copyPos maps an index in Cols to its position in Copy (-1 if none).
	copyPos []int
}

// Executor runs a statement and returns its whole result (a
// mysqlconn.Conn, or a tablet's ExecuteFetchAsDba).
type Executor interface {
	Execute(sql string, maxRows int) (*querypb.QueryResult, error)
}

// CheckTables checks that the engine can copy and follow the named tables
// of db: they exist and have a primary key mysqld orders in a way the
// engine reproduces. mosaicctl runs it against a source before it
// creates a workflow.
//
// It also refuses foreign keys whose actions cascade (CASCADE, SET NULL,
// SET DEFAULT): InnoDB carries them out inside the source without
// writing them to the binlog as row changes, so a stream would never see
// them.
func CheckTables(c Executor, db string, names []string) error {
	if _, err := loadTables(c, db, names); err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	var list []string
	for _, n := range names {
		list = append(list, sqlString(n))
	}
	res, err := c.Execute(`SELECT TABLE_NAME AS t, CONSTRAINT_NAME AS c, UPDATE_RULE AS u, DELETE_RULE AS d
FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = `+sqlString(db)+` AND TABLE_NAME IN (`+strings.Join(list, ",")+`)`, 0)
	if err != nil {
		return fmt.Errorf("read foreign keys of %s: %w", db, err)
	}
	rows, err := mysqlconn.NamedRows(res)
	if err != nil {
		return err
	}
	for _, r := range rows {
		for _, rule := range []string{r["u"], r["d"]} {
			if rule != "RESTRICT" && rule != "NO ACTION" {
				return fmt.Errorf("table %s: foreign key %s has ON UPDATE %s / ON DELETE %s: the changes it cascades are not in the binlog, so resharding cannot follow them; make it RESTRICT or drop it first", r["t"], r["c"], r["u"], r["d"])
			}
		}
	}
	return nil
}

// loadTables reads the schema of the named tables of db from the
// information_schema of the mysqld behind c. names are matched without
// regard to case; the result is keyed by the name as given. A missing
// table, one without a primary key, or one whose key mysqld orders in a
// way this package does not reproduce is an error.
func loadTables(c Executor, db string, names []string) (map[string]*Table, error) {
	if len(names) == 0 {
		return map[string]*Table{}, nil
	}
	want := map[string]string{}
	var list []string
	for _, n := range names {
		want[strings.ToLower(n)] = n
		list = append(list, sqlString(n))
	}
	in := strings.Join(list, ",")
	res, err := c.Execute(`SELECT TABLE_NAME AS t, COLUMN_NAME AS c, DATA_TYPE AS dt, COLUMN_TYPE AS ct,
  IFNULL(CHARACTER_SET_NAME, '') AS cs, IFNULL(COLLATION_NAME, '') AS co,
  IFNULL(CHARACTER_MAXIMUM_LENGTH, 0) AS ml, IS_GENERATED AS g
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = `+sqlString(db)+` AND TABLE_NAME IN (`+in+`)
ORDER BY TABLE_NAME, ORDINAL_POSITION`, 0)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", db, err)
	}
	rows, err := mysqlconn.NamedRows(res)
	if err != nil {
		return nil, err
	}
	out := map[string]*Table{}
	for _, r := range rows {
		name, ok := want[strings.ToLower(r["t"])]
		if !ok {
			continue
		}
		t := out[name]
		if t == nil {
			t = &Table{Name: r["t"]}
			out[name] = t
		}
		ml, _ := strconv.ParseInt(r["ml"], 10, 64)
		t.Cols = append(t.Cols, Column{
			Name:       r["c"],
			DataType:   strings.ToLower(r["dt"]),
			ColumnType: r["ct"],
			Charset:    r["cs"],
			Collation:  r["co"],
			MaxChars:   ml,
			Unsigned:   strings.Contains(strings.ToLower(r["ct"]), "unsigned"),
			Generated:  r["g"] == "ALWAYS",
		})
	}
	res, err = c.Execute(`SELECT TABLE_NAME AS t, COLUMN_NAME AS c, IFNULL(SUB_PART, 0) AS sp
FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = `+sqlString(db)+` AND TABLE_NAME IN (`+in+`) AND INDEX_NAME = 'PRIMARY'
ORDER BY TABLE_NAME, SEQ_IN_INDEX`, 0)
	if err != nil {
		return nil, fmt.Errorf("read primary keys of %s: %w", db, err)
	}
	rows, err = mysqlconn.NamedRows(res)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		t := out[want[strings.ToLower(r["t"])]]
		if t == nil {
			continue
		}
		if r["sp"] != "0" {
			return nil, fmt.Errorf("table %s: its primary key uses a prefix of column %s; resharding needs whole columns", t.Name, r["c"])
		}
		i := t.colIndex(r["c"])
		if i < 0 {
			return nil, fmt.Errorf("table %s: primary key column %s not among its columns", t.Name, r["c"])
		}
		t.PK = append(t.PK, i)
	}
	for _, n := range names {
		t := out[n]
		if t == nil {
			return nil, fmt.Errorf("table %s.%s does not exist", db, n)
		}
		if err := t.prepare(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prepare fills the derived fields once Cols and PK are known.
func (t *Table) prepare() error {
	if len(t.PK) == 0 {
		return fmt.Errorf("table %s has no primary key: resharding copies and follows rows by primary key", t.Name)
	}
	t.copyPos = make([]int, len(t.Cols))
	t.Copy = t.Copy[:0]
	for i, c := range t.Cols {
		t.copyPos[i] = -1
		if !c.Generated {
			t.copyPos[i] = len(t.Copy)
			t.Copy = append(t.Copy, i)
		}
	}
	t.order = make([]pkOrder, len(t.PK))
	t.weights = nil
	for k, i := range t.PK {
		c := t.Cols[i]
		if c.Generated {
			return fmt.Errorf("table %s: primary key column %s is generated", t.Name, c.Name)
		}
		o, err := orderOf(c)
		if err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
		t.order[k] = o
		if o == orderWeight {
			t.weights = append(t.weights, k)
		}
	}
	return nil
}

func (t *Table) colIndex(name string) int {
	for i, c := range t.Cols {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

// copyColumns are the names of the columns rows carry, in order.
func (t *Table) copyColumns() []string {
	out := make([]string, len(t.Copy))
	for j, i := range t.Copy {
		out[j] = t.Cols[i].Name
	}
	return out
}

// pkColumns are the names of the primary-key columns.
func (t *Table) pkColumns() []string {
	out := make([]string, len(t.PK))
	for k, i := range t.PK {
		out[k] = t.Cols[i].Name
	}
	return out
}

// sameColumns checks that a row stream's columns are the copied columns
// of t, in order: the source and target schemas agree.
func (t *Table) sameColumns(names []string) error {
	want := t.copyColumns()
	if len(names) != len(want) {
		return fmt.Errorf("table %s: the source sends %d columns %v, the target has %d %v: the schemas differ", t.Name, len(names), names, len(want), want)
	}
	for i := range want {
		if !strings.EqualFold(names[i], want[i]) {
			return fmt.Errorf("table %s: the source sends column %s where the target has %s: the schemas differ", t.Name, names[i], want[i])
		}
	}
	return nil
}
