package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/mysql"
)

// ParseMode is the part of a session's sql_mode that changes how the
// router parses its statements. The zero value is MySQL's default
// parsing.
//
// A plan is cached for the mode it was parsed in and never serves another:
// `SELECT COUNT (*) FROM t` is a syntax error without IGNORE_SPACE and a
// count with it, and with IGNORE_SPACE the names of built-in functions
// are keywords wherever a parenthesis follows, spaces or not.
type ParseMode uint8

const (
	// IgnoreSpace is sql_mode's IGNORE_SPACE: spaces may separate a
	// built-in function's name from its parenthesis. mysqld sets it for
	// a client that connects with CLIENT_IGNORE_SPACE (MariaDB
	// Connector/J does).
	IgnoreSpace ParseMode = 1 << iota
)

// ParseModeOf returns the parse mode of an @@sql_mode value ("ANSI",
// "IGNORE_SPACE,STRICT_TRANS_TABLES", ...): the modes it holds that the
// router parses by. mysqld reads combination modes such as ANSI back as
// the modes they stand for.
func ParseModeOf(sqlMode string) ParseMode {
	var m ParseMode
	for _, name := range strings.Split(sqlMode, ",") {
		switch strings.ToUpper(strings.TrimSpace(name)) {
		case "IGNORE_SPACE", "ANSI":
			m |= IgnoreSpace
		}
	}
	return m
}

// sqlMode is the parser's SQL mode for m.
func (m ParseMode) sqlMode() mysql.SQLMode {
	var out mysql.SQLMode
	if m&IgnoreSpace != 0 {
		out |= mysql.ModeIgnoreSpace
	}
	return out
}

// String names the modes set in m as sql_mode does.
func (m ParseMode) String() string {
	if m&IgnoreSpace != 0 {
		return "IGNORE_SPACE"
	}
	return ""
}
