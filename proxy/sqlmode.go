package proxy

import (
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// A session's sql_mode reaches the tablets as one of its settings
// (sessionvars.go), and the gate parses the session's statements by the
// modes of it that change parsing (router.ParseMode): both must agree, or
// a statement the gate accepts fails on mysqld, or the reverse. SET
// sql_mode reads the resulting mode back from a tablet and sets both.

// ignoreSpaceSetting adds IGNORE_SPACE to a tablet connection's sql_mode,
// whatever the rest of it is: a client that connected with
// CLIENT_IGNORE_SPACE has it added to the server's default mode, as
// mysqld does at connect. Running it twice changes nothing.
const ignoreSpaceSetting = "SET @@SESSION.sql_mode = CONCAT(@@SESSION.sql_mode, ',IGNORE_SPACE')"

// setIgnoreSpace gives a new session IGNORE_SPACE, for a client that
// connected with CLIENT_IGNORE_SPACE (MariaDB Connector/J does). A later
// SET sql_mode replaces it, as on mysqld.
func (s *Session) setIgnoreSpace() {
	s.ParseMode |= router.IgnoreSpace
	s.SetSettings(withSetting(s.Settings(), "sql_mode", ignoreSpaceSetting))
}

// quote writes str as a string literal for a statement of the session:
// with backslash escapes, or, under NO_BACKSLASH_ESCAPES, with doubled
// quotes only. The literals the gate writes into settings (sqlLiteral)
// are in a form both modes read alike.
func (s *Session) quote(str string) string {
	return string(sqltypes.AppendQuotedIn(nil, str, s.ParseMode&router.NoBackslashEscapes != 0))
}
