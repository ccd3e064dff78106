package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// noInputs is embedded by operators without inputs.
type noInputs struct{}

func (noInputs) Inputs() []Primitive { return nil }

// streamChunkRows bounds the rows of one chunk when an operator streams a
// result it computed in memory.
const streamChunkRows = 256

// streamResult hands a computed result to callback in chunks.
func streamResult(res *querypb.QueryResult, callback func(*querypb.QueryResult) error) error {
	if len(res.Rows) <= streamChunkRows {
		return callback(res)
	}
	first := true
	for start := 0; start < len(res.Rows); start += streamChunkRows {
		end := min(start+streamChunkRows, len(res.Rows))
		chunk := &querypb.QueryResult{Rows: res.Rows[start:end]}
		if first {
			chunk.Fields = res.Fields
			chunk.RowsAffected, chunk.InsertId = res.RowsAffected, res.InsertId
			first = false
		}
		if err := callback(chunk); err != nil {
			return err
		}
	}
	return nil
}

// colIndex resolves a column index that may count from the end (-1 is the
// last column).
func colIndex(i, n int) (int, error) {
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return 0, sqlerr.New(sqlerr.ERUnknown, "column %d out of range of %d result columns", i, n)
	}
	return i, nil
}

// decodeRows decodes every row of res.
func decodeRows(res *querypb.QueryResult) ([][][]byte, error) {
	out := make([][][]byte, len(res.Rows))
	for i, raw := range res.Rows {
		cells, err := sqltypes.DecodeRow(raw, len(res.Fields))
		if err != nil {
			return nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "decode shard row: %v", err)
		}
		out[i] = cells
	}
	return out, nil
}

func encodeRows(rows [][][]byte) [][]byte {
	out := make([][]byte, len(rows))
	for i, r := range rows {
		out[i] = sqltypes.EncodeRow(r)
	}
	return out
}

// cellValue turns a result cell into a bind value of the matching type.
func cellValue(cell []byte, f *querypb.Field) any {
	if cell == nil {
		return nil
	}
	switch sqltypes.ClassOf(f.GetType(), f.GetFlags(), f.GetCharset()) {
	case sqltypes.ClassSigned:
		var v int64
		if _, err := fmt.Sscan(string(cell), &v); err == nil {
			return v
		}
	case sqltypes.ClassUnsigned:
		var v uint64
		if _, err := fmt.Sscan(string(cell), &v); err == nil {
			return v
		}
	case sqltypes.ClassDecimal:
		return sqltypes.DecimalLiteral(cell)
	case sqltypes.ClassFloat:
		var v float64
		if _, err := fmt.Sscan(string(cell), &v); err == nil {
			return v
		}
	case sqltypes.ClassBinary:
		return append([]byte(nil), cell...)
	}
	return string(cell)
}

// errStopStream stops a stream early once an operator has what it needs.
var errStopStream = errors.New("stream stopped: enough rows")

// ensureOne checks an executor returned one result per query.
func ensureCount(res []*querypb.QueryResult, n int) error {
	if len(res) != n {
		return sqlerr.New(sqlerr.ERUnknown, "executor returned %d results for %d queries", len(res), n)
	}
	return nil
}

// executeAll is Execute for a primitive that only knows how to compute a
// whole result; it lets such operators share one Stream.
func streamViaExecute(ctx context.Context, p Primitive, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	res, err := p.Execute(ctx, exec, bv)
	if err != nil {
		return err
	}
	// Once streamed on, the rows are the consumer's to hold or not.
	defer statementMemory(ctx).release(resultSize(res))
	return streamResult(res, callback)
}

// withBinds returns a copy of bv with extra values; bv is never changed
// because cached plans share the BindVars of their statement text.
func withBinds(bv BindVars, kv ...any) BindVars {
	out := make(BindVars, len(bv)+len(kv)/2)
	for k, v := range bv {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// copyResult returns a new result with res's metadata and rows slice.
func copyResult(res *querypb.QueryResult) *querypb.QueryResult {
	return &querypb.QueryResult{Fields: res.Fields, RowsAffected: res.RowsAffected, InsertId: res.InsertId,
		Rows: res.Rows, Warnings: res.Warnings, Info: res.Info}
}
