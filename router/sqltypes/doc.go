// Package sqltypes decodes, compares and encodes the values of MySQL
// text-protocol rows, as the gate needs to merge results from several
// shards: ordering with the column's collation, grouping keys, sums of
// exact decimals, and bind values rendered back into SQL literals.
//
// It knows nothing of plans or shards; it must stay free of any IO.
//
// Collations: binary and every *_bin collation compare bytes (the _bin ones
// ignore trailing spaces as MariaDB's PAD SPACE collations do).
// utf8mb4_general_ci / utf8_general_ci / latin1_swedish_ci use a weight of
// our own: each character is decomposed (NFD), its first code point kept,
// and upper-cased; characters outside the BMP weigh as U+FFFD. This is exact
// for Latin letters with accents and for ASCII, and an approximation
// elsewhere (MariaDB's table differs for a few letters such as ß).
// Every other case-insensitive collation (utf8mb4_unicode_ci,
// utf8mb4_unicode_520_ci, uca1400 ai_ci, ...) uses the CLDR root collation
// of golang.org/x/text at primary strength (case and accent insensitive),
// which agrees with UCA for letters and digits but not exactly for
// punctuation and ignorable characters.
package sqltypes
