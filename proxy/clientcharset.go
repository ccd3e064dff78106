package proxy

import (
	"github.com/pingcap/tidb/pkg/parser/charset"

	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/sqltext"
)

// A client names its collation in the handshake (and again in
// COM_CHANGE_USER), and mysqld makes it the connection's character set
// and collation for the client, the connection and the results, as SET
// NAMES cs COLLATE coll does. The tablets' connections to mysqld are
// utf8mb4_general_ci (the gate's greeting announces it); a session whose
// client asked for another collation gets a SET NAMES setting, replayed
// on every tablet connection it uses as the other settings are.

// clientCollation is a collation id a client sent in its handshake (one
// byte) or in COM_CHANGE_USER (two).
type clientCollation uint16

// mariadbMaxCollationID is the highest one-byte collation id MariaDB
// 10.11 has: MySQL 8's gb18030 (248-250) and utf8mb4_0900_ai_ci (255) are
// unknown to it, and it falls back to its default for them, as for any
// id it does not know.
const mariadbMaxCollationID = 247

// unsupportedClientCharsets cannot be a client's character set (their
// characters are not ASCII-compatible): mysqld refuses them at connect
// with 1231, before authentication.
var unsupportedClientCharsets = map[string]bool{"ucs2": true, "utf16": true, "utf16le": true, "utf32": true}

// setting returns the session setting that gives a tablet connection
// collation id, and false when the tablets' own collation serves: the id
// is theirs, or unknown to mysqld (which then keeps its default). A
// character set no client may use is refused with mysqld's error.
func (id clientCollation) setting() (setting, bool, error) {
	if id == collationUtf8mb4 || id > mariadbMaxCollationID {
		return setting{}, false, nil
	}
	co, err := charset.GetCollationByID(int(id))
	if err != nil || co.CharsetName == "" {
		return setting{}, false, nil
	}
	if unsupportedClientCharsets[co.CharsetName] {
		return setting{}, false, sqlerr.New(sqlerr.ERWrongValueForVar,
			"Variable 'character_set_client' can't be set to the value of '%s'", co.CharsetName)
	}
	return setting{name: "names", sql: "SET NAMES '" + co.CharsetName + "' COLLATE '" + co.Name + "'"}, true, nil
}

// charsetName returns the character set of collation id, "" for the
// tablets' own or an id mysqld does not know.
func (id clientCollation) charsetName() string {
	if id == collationUtf8mb4 || id > mariadbMaxCollationID {
		return ""
	}
	co, err := charset.GetCollationByID(int(id))
	if err != nil {
		return ""
	}
	return co.CharsetName
}

// checkClientText refuses statement text the gate's parser would read
// differently from mysqld in the session's character set (see
// sqltext.MisreadMultibyte): a multi-byte character of gbk, big5, sjis or
// cp932 whose second byte is a '\' in a string, a '`' in a quoted name,
// or punctuation in a bare name. Values with such characters go through
// safely as parameters of prepared statements.
func (cc *clientConn) checkClientText(sql string) error {
	cs := cc.s.ClientCharset
	if cs == "" || !sqltext.HasASCIITrailBytes(cs) {
		return nil
	}
	if sqltext.MisreadMultibyte(sql, cs, cc.s.ParseMode&router.NoBackslashEscapes == 0) {
		return sqlerr.NotSupported("statement text in character set %s with a multi-byte character whose second byte is an ASCII '\\', '`' or punctuation (the gate would read it otherwise than mysqld); use utf8mb4, or send the value as a prepared statement parameter unless its character ends in '\\'", cs)
	}
	return nil
}

// checkClientArgs refuses prepared statement parameters that the gate
// cannot write into a statement for mysqld in the session's character
// set: a value with a two-byte character whose second byte is '\' (see
// sqltext.BackslashTrail); quoted with backslash escapes, mysqld would
// read another value, or another statement.
func (cc *clientConn) checkClientArgs(args []any) error {
	cs := cc.s.ClientCharset
	if cs == "" || !sqltext.HasASCIITrailBytes(cs) {
		return nil
	}
	for i, a := range args {
		var text string
		switch v := a.(type) {
		case string:
			text = v
		case []byte:
			text = string(v)
		default:
			continue
		}
		if sqltext.BackslashTrail(text, cs) {
			return sqlerr.NotSupported("parameter %d in character set %s holds a multi-byte character whose second byte is '\\', which the gate cannot write into a statement safely; use utf8mb4", i+1, cs)
		}
	}
	return nil
}
