// Package sqltext reads MariaDB SQL text without parsing it: words,
// quoted strings and names, comments and punctuation, with MariaDB's
// rules for each. The gate uses it where statements are looked at before
// (or instead of) the parser: splitting multi-statement text, finding a
// RETURNING clause or a stored program's end, classifying statements the
// parser rejects, measuring a statement's nesting and size before the
// parser sees it (Measure); tablets use it to classify what they run.
// RedactSecrets hides the passwords of a statement shown where others may
// read it.
package sqltext
