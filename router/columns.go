package router

// ColumnSource gives the columns of tables as the shards' schema has them,
// for INSERT and REPLACE statements without a column list: the router must
// know which value of a row is the sharding column's. The proxy implements
// it with what it learned from the shards' information_schema; golden
// tests use a map.
type ColumnSource interface {
	// Columns returns the columns of keyspace's table, spelled as the
	// schema has them, in their ordinal order (the columns an INSERT without a column list
	// fills), and false when they are not known. It must not block on IO:
	// the router asks for what it does not know with a
	// *ColumnsNeededError. The caller must not modify the slice.
	Columns(keyspace, table string) ([]string, bool)
}

// ColumnsNeededError is the error Plan returns when planning needs the
// columns of a table that the ColumnSource does not know, or knows with a
// different count than a row of the statement has (the table may have
// changed since). The caller should learn the table's columns afresh, call
// ColumnsChanged when they differ from what it knew, and plan again; when
// planning again returns a ColumnsNeededError too, Err is the error for the
// client. A caller that does not learn columns just sees Err (it is what
// Error and Unwrap give).
type ColumnsNeededError struct {
	// Keyspace and Table name the table as the VSchema has them.
	Keyspace, Table string
	// Err is the error if the columns learned afresh do not help: 1136
	// for a row of the wrong length, 1235 when no columns are known.
	Err error
}

func (e *ColumnsNeededError) Error() string { return e.Err.Error() }

func (e *ColumnsNeededError) Unwrap() error { return e.Err }

// ColumnsChanged says the columns a ColumnSource gives changed: cached plans
// built with the old ones are planned again.
func (r *Router) ColumnsChanged() { r.colGen.Add(1) }

// fresh reports whether a cached plan may still be used: one built with
// learned columns is stale once they changed.
func (r *Router) fresh(p *Plan) bool {
	return !p.learned || p.colGen == r.colGen.Load()
}

// columnsNeeded returns the error for a table whose columns planning lacks.
func columnsNeeded(t *Table, err error) error {
	return &ColumnsNeededError{Keyspace: t.Keyspace.Name, Table: t.Name, Err: err}
}
