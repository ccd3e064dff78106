package sqltext

import "strings"

// Redacted is what RedactSecrets puts in place of a secret string.
const Redacted = "'***'"

// secretWords are the words after which, for a few tokens, a string is a
// password: IDENTIFIED BY 'pw', IDENTIFIED VIA plugin USING 'pw',
// PASSWORD('pw'), SET PASSWORD = 'hash', MASTER_PASSWORD = 'pw'.
var secretWords = map[string]bool{
	"IDENTIFIED": true, "USING": true, "PASSWORD": true, "OLD_PASSWORD": true,
	"MASTER_PASSWORD": true, "ENCODE": true, "DECODE": true, "AES_ENCRYPT": true, "AES_DECRYPT": true,
	"DES_ENCRYPT": true, "DES_DECRYPT": true,
}

// secretReach is how many tokens after a secret word a string is taken for
// a secret (IDENTIFIED VIA ed25519 USING PASSWORD ( 'pw' )).
const secretReach = 5

// RedactSecrets returns sql with the strings that may be passwords or
// keys replaced by '***', for showing a statement where others may read
// it (process lists, status pages, logs). It errs on the side of hiding:
// a user name next to a password goes too. A statement without the words
// PASSWORD, IDENTIFIED, USING, ENCODE, DECODE or _ENCRYPT/_DECRYPT comes
// back as it is, without a copy.
func RedactSecrets(sql string) string {
	if !mayHoldSecret(sql) {
		return sql
	}
	var b strings.Builder
	at, reach := 0, 0
	for i := 0; ; {
		t, ok := Next(sql, i)
		if !ok {
			break
		}
		i = t.End
		switch t.Kind {
		case Comment:
			continue
		case Word:
			if secretWords[strings.ToUpper(t.Text(sql))] {
				reach = secretReach + 1
			}
		case Quoted:
			if reach > 0 && sql[t.Start] != '`' {
				b.WriteString(sql[at:t.Start])
				b.WriteString(Redacted)
				at = t.End
			}
		}
		if reach > 0 {
			reach--
		}
	}
	if at == 0 {
		return sql
	}
	b.WriteString(sql[at:])
	return b.String()
}

// mayHoldSecret is RedactSecrets' quick test.
func mayHoldSecret(sql string) bool {
	for _, w := range []string{"password", "identified", "using", "encode", "decode", "crypt"} {
		if containsFold(sql, w) {
			return true
		}
	}
	return false
}

// containsFold reports whether s holds sub (lower-case ASCII) in any case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for ; j < len(sub); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}
