// Package evalengine evaluates SQL expressions in the gate, over the rows
// shards return, following MariaDB's type rules: what a value's type is
// (1 + 1.5 is a DECIMAL, 1 + '1.5' a DOUBLE, 7 / 2 a DECIMAL with four
// more decimals), how values of two types compare (a number and a string
// as doubles, two strings by their collation, a date and a string as
// dates), how NULL passes through every operator, and how each result is
// shown (a DECIMAL with its scale, a DOUBLE as MariaDB prints it).
//
// The router uses it where a plan computes in the gate what no single
// shard can: conditions and expressions over columns of a join across
// shards, over aggregates merged from several shards, over the rows of a
// derived table. It covers literals, columns, bind variables, arithmetic,
// comparisons, logic, IS [NOT] NULL/TRUE/FALSE, IN, BETWEEN, CASE, IF,
// IFNULL, COALESCE, NULLIF and a few functions. Anything else is refused
// when an expression is compiled: the router then has a shard compute it,
// or refuses the statement. An expression the gate cannot evaluate as
// MariaDB would must fail, never answer something else.
//
// Expressions are built once, when a statement is planned (Expr), and
// compiled for each execution against the column definitions of the rows
// they read and the statement's bind values (Compile): the types of the
// columns are only known then. The package does no IO and keeps no
// state between calls.
package evalengine
