package sqlerr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// MySQL error numbers Mosaic itself produces. mysqld's own errors pass
// through with whatever number mysqld gave them.
const (
	ERConCount              = 1040
	ERAccessDenied          = 1045
	ERDBAccessDenied        = 1044
	ERNoDB                  = 1046
	ERBadDB                 = 1049
	ERDBCreateExists        = 1007
	ERDBDropExists          = 1008
	ERUnknownCom            = 1047
	ERBadFieldError         = 1054
	ERDupEntry              = 1062
	ERParseError            = 1064
	ERQueryInterrupted      = 1317
	ERNoSuchTable           = 1146
	ERTableAccessDenied     = 1142
	ERUnknownSystemVariable = 1193
	ERWrongValueForVar      = 1231
	ERNotSupportedYet       = 1235
	ERUnknown               = 1105
	ERNetPacketTooLarge     = 1153
	ERLockWaitTimeout       = 1205
	ERCantDoThisInTrans     = 1179
	ERReadOnly              = 1290
	// EROptionPreventsStatement is ERReadOnly's number under its MariaDB
	// name, for the other options that refuse a statement.
	EROptionPreventsStatement     = 1290
	ERQueryTimeout                = 3024
	ERNoSuchThread                = 1094
	ERServerShutdown              = 1053
	ERDeadlock                    = 1213
	ERSecureTransport             = 3159
	ERTooManyRows                 = 1172
	ERCantExecuteReadOnly         = 1792
	ERNoDefaultForField           = 1364
	ERWrongArguments              = 1210
	ERUnknownStmtHandler          = 1243
	ERServerGone                  = 2006
	ERServerLost                  = 2013 // a connection lost during a query: what it did is not known
	ERSpecifiedAccessDenied       = 1227
	ERKillDenied                  = 1095
	ERStatementTimeout            = 1969 // MariaDB's max_statement_time
	ERNotAllowedCommand           = 1148 // LOAD DATA LOCAL without the client's consent
	EREmptyQuery                  = 1065
	ERMallformedPacket            = 1835
	ERHandshakeError              = 1043
	ERErrorDuringCommit           = 1180
	ERErrorDuringRollback         = 1181
	ERCantChangeTxCharacteristics = 1568
	ERWrongValueCountOnRow        = 1136
	ERSPDoesNotExist              = 1305 // "SAVEPOINT x does not exist"
	ERSPBadSelect                 = 1312 // a procedure's result set the client cannot take
	ERWrongTableName              = 1103
	EROutOfResources              = 1041
	ERTooHighLevelOfNesting       = 1473 // "Too high level of nesting for select"
	ERStackOverrun                = 1436 // "Thread stack overrun"
	ERPacketsOutOfOrder           = 1156
	ERUnsupportedPS               = 1295 // "This command is not supported in the prepared statement protocol yet"
	ERInvalidDefaultParam         = 4032 // MariaDB: DEFAULT or IGNORE for a parameter that is not a whole value
)

// states maps the numbers above to their SQLSTATE. Numbers not listed get
// HY000, as in mysqld.
var states = map[uint16]string{
	ERConCount:                    "08004",
	ERAccessDenied:                "28000",
	ERDBAccessDenied:              "42000",
	ERNotAllowedCommand:           "42000",
	ERNoDB:                        "3D000",
	ERBadDB:                       "42000",
	ERDBCreateExists:              "HY000",
	ERDBDropExists:                "HY000",
	ERUnknownCom:                  "08S01",
	ERBadFieldError:               "42S22",
	ERDupEntry:                    "23000",
	ERParseError:                  "42000",
	ERQueryInterrupted:            "70100",
	ERNoSuchTable:                 "42S02",
	ERWrongValueCountOnRow:        "21S01",
	ERTableAccessDenied:           "42000",
	ERUnknownSystemVariable:       "HY000",
	ERWrongValueForVar:            "42000",
	ERNotSupportedYet:             "42000",
	ERNetPacketTooLarge:           "08S01",
	ERLockWaitTimeout:             "HY000",
	ERDeadlock:                    "40001",
	ERCantDoThisInTrans:           "25000",
	ERReadOnly:                    "HY000",
	ERSecureTransport:             "HY000",
	ERTooManyRows:                 "42000",
	ERCantExecuteReadOnly:         "25006",
	ERNoDefaultForField:           "HY000",
	ERWrongArguments:              "HY000",
	ERUnknownStmtHandler:          "HY000",
	ERSpecifiedAccessDenied:       "42000",
	ERStatementTimeout:            "70100",
	EREmptyQuery:                  "42000",
	ERHandshakeError:              "08S01",
	ERCantChangeTxCharacteristics: "25001",
	ERSPDoesNotExist:              "42000",
	ERSPBadSelect:                 "0A000",
	ERWrongTableName:              "42000",
	ERPacketsOutOfOrder:           "08S01",
}

// StateFor returns the SQLSTATE of a MySQL error number.
func StateFor(num uint16) string {
	if s, ok := states[num]; ok {
		return s
	}
	return "HY000"
}

// Error is a MySQL error as a client sees it.
type Error struct {
	Num     uint16
	State   string
	Message string
	// Retryable says the statement was not run at all, so it may be sent
	// to another tablet (the tablet does not serve that target now).
	Retryable bool
	// TxEnded says the transaction the statement ran in no longer exists
	// (rolled back for being idle, by a deadlock, or with its connection):
	// the gate must end the client's whole transaction.
	TxEnded bool
	// Deadlock describes the cycle when the statement's transaction was
	// aborted as the victim of a deadlock across shards (1213); empty
	// otherwise.
	Deadlock string
	// TableMoved says the statement names a table MoveTables moved away
	// from the tablet's keyspace: it did not run (MySQLError.table_moved).
	TableMoved bool
	// Results are the results a statement that answers with several (a
	// CALL) gave before it failed, in order: mysqld sends them to the
	// client before the error (ResultsBefore).
	Results []*querypb.QueryResult
	cause   error
}

// New returns an Error with the SQLSTATE that belongs to num.
func New(num uint16, format string, args ...any) *Error {
	return &Error{Num: num, State: StateFor(num), Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error that keeps cause for errors.Is/As.
func Wrap(num uint16, cause error, format string, args ...any) *Error {
	e := New(num, format, args...)
	e.cause = cause
	return e
}

func (e *Error) Error() string {
	return fmt.Sprintf("ERROR %d (%s): %s", e.Num, e.State, e.Message)
}

func (e *Error) Unwrap() error { return e.cause }

// NotSupported is the error for anything Mosaic does not do: 1235.
func NotSupported(format string, args ...any) *Error {
	return New(ERNotSupportedYet, "Mosaic does not support "+format, args...)
}

// Proto returns the error as it travels in gRPC status details.
func (e *Error) Proto() *querypb.MySQLError {
	return &querypb.MySQLError{Code: uint32(e.Num), State: e.State, Message: e.Message, Retryable: e.Retryable, TransactionEnded: e.TxEnded, Deadlock: e.Deadlock, TableMoved: e.TableMoved,
		ResultsBefore: ResultsBefore(e)}
}

// FromProto turns a querypb.MySQLError back into an Error.
func FromProto(m *querypb.MySQLError) *Error {
	if m == nil {
		return nil
	}
	state := m.State
	if state == "" {
		state = StateFor(uint16(m.Code))
	}
	return &Error{Num: uint16(m.Code), State: state, Message: m.Message, Retryable: m.Retryable, TxEnded: m.TransactionEnded, Deadlock: m.Deadlock, TableMoved: m.TableMoved, Results: m.ResultsBefore}
}

// NotServing is the error of a tablet asked for a target it does not serve
// now: the statement did not run and the gate may retry elsewhere.
func NotServing(format string, args ...any) *Error {
	e := New(ERUnknown, format, args...)
	e.Retryable = true
	return e
}

// CommitOutcomeUnknown returns the error of a commit whose answer was
// lost: the connection to mysqld failed once the commit was on its way, so
// mysqld may have committed it or not. It is 2013, as a MySQL client names
// a connection lost during a query, never the error of a commit refused:
// the gate must not report it as nothing committed. The transaction is
// gone from the tablet either way.
func CommitOutcomeUnknown(cause error, sql string) *Error {
	e := Wrap(ERServerLost, cause, "Lost connection to mysqld during %s: whether the transaction committed is not known: %v", sql, cause)
	e.TxEnded = true
	return e
}

// IsOutcomeUnknown reports whether err says a commit may have committed or
// not (CommitOutcomeUnknown).
func IsOutcomeUnknown(err error) bool {
	e := FromError(err)
	return e != nil && e.Num == ERServerLost
}

// TxEndedError returns an error saying a transaction is gone.
func TxEndedError(format string, args ...any) *Error {
	e := New(ERUnknown, format, args...)
	e.TxEnded = true
	return e
}

// IsTxEnded reports whether err says the statement's transaction no longer
// exists.
func IsTxEnded(err error) bool {
	e := FromError(err)
	return e != nil && e.TxEnded
}

// IsRetryable reports whether err says the statement did not run because
// the tablet does not serve its target.
func IsRetryable(err error) bool {
	e := FromError(err)
	return e != nil && e.Retryable
}

// NotRetryable returns err, a non-nil error, as an *Error that says the
// request must not be sent again: it may have run, or rows of its result
// went out already.
func NotRetryable(err error) error {
	e := FromError(err)
	if !e.Retryable {
		return e
	}
	c := *e
	c.Retryable = false
	return &c
}

// GRPCStatus lets grpc send an Error as a status with the MySQL error in
// its details; FromError reads it back on the other side.
func (e *Error) GRPCStatus() *status.Status {
	code := codes.Unknown
	switch e.Num {
	case ERQueryInterrupted:
		code = codes.Canceled
	case ERQueryTimeout:
		code = codes.DeadlineExceeded
	case ERNotSupportedYet:
		code = codes.Unimplemented
	}
	if e.Retryable {
		code = codes.FailedPrecondition
	}
	// The status message is for people (logs, a client without the
	// details); google.rpc.Status must be UTF-8, or gRPC drops the details
	// with it. The details keep the message byte for byte: one quoting a
	// binary value ("Duplicate entry '\xff'") is not UTF-8.
	st := status.New(code, strings.ToValidUTF8(e.Message, "?"))
	detail := e.Proto()
	if resultsBytes(detail.ResultsBefore) > maxResultsInStatus {
		// The details travel in the trailers: too many rows would fail
		// the call, and the error alone is better than none.
		detail.ResultsBefore = nil
	}
	if withDetails, err := st.WithDetails(detail); err == nil {
		return withDetails
	}
	return st
}

// maxResultsInStatus bounds the rows of Error.Results that travel with
// the error in a gRPC status (whose details go in the trailers).
const maxResultsInStatus = 1 << 20

func resultsBytes(results []*querypb.QueryResult) int {
	n := 0
	for _, r := range results {
		for _, row := range r.Rows {
			n += len(row)
		}
	}
	return n
}

// ResultsBefore returns the results err's statement gave before it failed
// (Error.Results), wherever in err's chain they are.
func ResultsBefore(err error) []*querypb.QueryResult {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if se, ok := e.(*Error); ok && len(se.Results) > 0 {
			return se.Results
		}
	}
	return nil
}

// FromError returns the MySQL error a client should see for err. It never
// returns nil for a non-nil err.
func FromError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		for _, d := range st.Details() {
			if m, ok := d.(*querypb.MySQLError); ok {
				return FromProto(m)
			}
		}
		switch st.Code() {
		case codes.Canceled:
			return Wrap(ERQueryInterrupted, err, "Query execution was interrupted")
		case codes.DeadlineExceeded:
			return Wrap(ERQueryTimeout, err, "Query execution was interrupted, maximum statement execution time exceeded")
		case codes.Unavailable:
			return Wrap(ERUnknown, err, "tablet unavailable: %s", st.Message())
		}
		return Wrap(ERUnknown, err, "%s", st.Message())
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Wrap(ERQueryInterrupted, err, "Query execution was interrupted")
	case errors.Is(err, context.DeadlineExceeded):
		return Wrap(ERQueryTimeout, err, "Query execution was interrupted, maximum statement execution time exceeded")
	}
	return Wrap(ERUnknown, err, "%s", err.Error())
}

// ToGRPC returns err in the form a gRPC handler should return: a status
// that carries the MySQL error.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	return FromError(err).GRPCStatus().Err()
}
