package mysqlconn

import (
	"errors"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// serverMoreResultsExists is the status flag of an OK or EOF packet that
// says another result of the same statement follows.
const serverMoreResultsExists = 0x0008

// MaxMoreResultsBytes bounds the rows of the results that follow a
// statement's first (a CALL's result sets), which are buffered whole;
// past it the statement fails with ErrMoreResultsTooLarge's error.
const MaxMoreResultsBytes = 64 << 20

// readMoreResults reads the results that follow first, while mysqld flags
// SERVER_MORE_RESULTS_EXISTS, into first.MoreResults. Only CALL answers
// with several results here (the connection does not enable
// multi-statements): each result set of the procedure, then the CALL's
// own OK. An error packet ends the sequence and fails the statement; the
// results read before it go with the error (sqlerr.Error.Results), as
// mysqld sends a client the result sets a procedure produced before it
// failed (a SIGNAL after a SELECT).
//
// The results are buffered: a stream (Stream) cannot carry several, so
// it fails, after reading them all to keep the connection usable, with a
// 1235 error; ExecuteSmall gives up past its limit as for one result.
func (c *Conn) readMoreResults(first *querypb.QueryResult, maxRows int, st *streamer, discard bool) (*querypb.QueryResult, error) {
	streaming := st != nil && !st.small
	limit := MaxMoreResultsBytes
	if st != nil && st.small {
		limit = st.chunk
	}
	size := resultBytes(first)
	var tooBig bool
	for c.status&serverMoreResultsExists != 0 {
		c.status = 0
		res, err := c.readResult(maxRows, nil, discard || streaming || tooBig)
		if err != nil {
			c.drainResults()
			var se *sqlerr.Error
			if !discard && !streaming && !tooBig && !c.broken && errors.As(err, &se) {
				before := append([]*querypb.QueryResult{first}, first.MoreResults...)
				first.MoreResults = nil
				se.Results = before
			}
			return nil, err
		}
		if discard || streaming || tooBig {
			continue
		}
		if size += resultBytes(res); size > limit {
			if st != nil && st.small {
				c.Close()
				return nil, ErrTooLarge
			}
			tooBig = true
			first.MoreResults = nil
			continue
		}
		first.MoreResults = append(first.MoreResults, res)
	}
	switch {
	case streaming:
		return nil, sqlerr.NotSupported("streaming a statement that returns several results (a CALL of a procedure that returns result sets); run it with Execute")
	case tooBig:
		return nil, sqlerr.Wrap(sqlerr.ERNotSupportedYet, ErrMoreResultsTooLarge,
			"Mosaic does not support results of a CALL over %d MiB: the result sets of a procedure are buffered whole", MaxMoreResultsBytes>>20)
	}
	return first, nil
}

// ErrMoreResultsTooLarge is wrapped by the error of a statement whose
// later results pass MaxMoreResultsBytes.
var ErrMoreResultsTooLarge = errors.New("results too large to buffer")

// drainResults reads and drops the results still to come after one that
// failed (too many rows) yet flagged more, so that the connection stays in
// step; on an I/O error the connection is broken anyway.
func (c *Conn) drainResults() {
	for c.status&serverMoreResultsExists != 0 && !c.broken {
		c.status = 0
		_, _ = c.readResult(0, nil, true)
	}
}

// resultBytes is about the size of a result's rows.
func resultBytes(r *querypb.QueryResult) int {
	n := 0
	for _, row := range r.Rows {
		n += len(row) + 4
	}
	return n
}
