// Package sqlerr is the one place where Mosaic makes the MySQL errors a
// client sees: an error number, a SQLSTATE and a message.
//
// Errors travel between processes as gRPC statuses that carry a
// querypb.MySQLError in their details, never as text to be parsed back.
// FromError turns any error (a context error, a gRPC status, a wrapped
// *Error) into the *Error a client should get.
package sqlerr
