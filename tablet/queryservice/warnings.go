package queryservice

import (
	"strconv"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// readWarnings returns the conditions of the statement that just ran on c
// and reported n warnings, read with SHOW WARNINGS before anything else
// runs on c. The gate answers the client's SHOW WARNINGS with them. A
// failure to read them is not the statement's failure: it returns nil.
func readWarnings(c *PooledConn, n uint32) []*querypb.Warning {
	if n == 0 || c.IsBroken() {
		return nil
	}
	res, err := c.Execute("SHOW WARNINGS", 0)
	if err != nil {
		return nil
	}
	out := make([]*querypb.Warning, 0, len(res.Rows))
	for _, row := range res.Rows {
		vals, err := mysqlconn.RowValues(row, 3)
		if err != nil {
			return out
		}
		code, _ := strconv.ParseUint(string(vals[1]), 10, 32)
		out = append(out, &querypb.Warning{Level: string(vals[0]), Code: uint32(code), Message: string(vals[2])})
	}
	return out
}

// addWarnings fills res.WarningList when res has warnings: those of its
// last result when the statement returned several (a CALL's final OK
// counts the procedure's).
func addWarnings(c *PooledConn, res *querypb.QueryResult) {
	if res == nil {
		return
	}
	n := res.Warnings
	if m := len(res.MoreResults); m > 0 {
		n = res.MoreResults[m-1].Warnings
	}
	if n > 0 {
		res.WarningList = readWarnings(c, n)
	}
}
