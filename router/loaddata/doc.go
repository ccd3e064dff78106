// Package loaddata reads and writes the text format of LOAD DATA INFILE:
// fields and lines as a statement's FIELDS and LINES clauses describe
// them, read the way mysqld reads them (escapes, enclosed fields with
// embedded terminators, \N and the unenclosed word NULL as NULL, LINES
// STARTING BY prefixes, multi-byte terminators), and rows written back in
// one canonical format (tab-separated, backslash escapes, \N for NULL)
// that mysqld reads into the same values.
//
// The gate uses it to split a client's LOAD DATA LOCAL file between the
// shards of a sharded keyspace: it reads each row, finds the sharding
// column's value, and sends the row to its shard in the canonical format.
//
// It does no IO of its own beyond the io.Reader and io.Writer it is
// given, and knows nothing of shards. Only character sets in which no
// byte of a multi-byte character is an ASCII byte (utf8mb4, utf8mb3,
// latin1, ascii, binary, ...) can be split byte-wise; ASCIISafeCharset
// says which.
package loaddata
