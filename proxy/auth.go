package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	tidbauth "github.com/pingcap/tidb/pkg/parser/auth"
	tidbmysql "github.com/pingcap/tidb/pkg/parser/mysql"
)

// credential is what the gate knows of an account's password: the plain
// text, or only hashes. Every check here runs in constant time in the
// secret's length.
type credential struct {
	plain    string
	hasPlain bool
	// native is SHA1(SHA1(password)), the mysql_native_password hash.
	native []byte
	// sha2Crypt is a caching_sha2_password authentication string
	// ($A$005$ salt hash) when that is all we have.
	sha2Crypt []byte
	// empty is true for an account without a password.
	empty bool
}

func newCredential(u *User) (credential, error) {
	switch {
	case u.PasswordHash == "" && u.Password == "":
		return credential{empty: true, hasPlain: true}, nil
	case u.PasswordHash == "":
		return credential{plain: u.Password, hasPlain: true, native: nativeHash(u.Password)}, nil
	case strings.HasPrefix(u.PasswordHash, "*"):
		h, err := parseNativeHash(u.PasswordHash)
		return credential{native: h}, err
	default:
		h, err := parseSha2Crypt(u.PasswordHash)
		return credential{sha2Crypt: h}, err
	}
}

// nativeHash returns SHA1(SHA1(password)).
func nativeHash(password string) []byte {
	s1 := sha1.Sum([]byte(password))
	s2 := sha1.Sum(s1[:])
	return s2[:]
}

// parseNativeHash decodes "*" and 40 hex digits.
func parseNativeHash(s string) ([]byte, error) {
	if len(s) != 41 || s[0] != '*' {
		return nil, errors.New("a mysql_native_password hash is * and 40 hex digits")
	}
	h, err := hex.DecodeString(s[1:])
	if err != nil {
		return nil, fmt.Errorf("mysql_native_password hash: %w", err)
	}
	return h, nil
}

// parseSha2Crypt checks a caching_sha2_password authentication string:
// "$A$" + 3 hex digits of rounds/1000 + "$" + 20 bytes of salt + 43 of
// hash, either as it is or as "0x" and its hex (mysqld's salt may hold
// control characters, so SELECT HEX(authentication_string) is the easy
// way to copy one).
func parseSha2Crypt(s string) ([]byte, error) {
	b := []byte(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		var err error
		if b, err = hex.DecodeString(s[2:]); err != nil {
			return nil, fmt.Errorf("caching_sha2_password hash: %w", err)
		}
	}
	if len(b) != 70 || !bytes.HasPrefix(b, []byte("$A$")) || b[6] != '$' {
		return nil, errors.New("a caching_sha2_password hash is $A$005$ followed by 20 bytes of salt and 43 of hash")
	}
	return b, nil
}

// isEmpty reports whether the account has no password.
func (c credential) isEmpty() bool { return c.empty }

// checkNativeScramble verifies a mysql_native_password response to salt.
func (c credential) checkNativeScramble(salt, resp []byte) bool {
	if c.empty {
		return len(resp) == 0
	}
	if len(resp) != sha1.Size {
		return false
	}
	if c.native == nil {
		return false // a caching_sha2 hash cannot check this
	}
	// resp = SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))): undo the XOR and
	// hash what is left.
	h := sha1.New()
	h.Write(salt)
	h.Write(c.native)
	stage1 := h.Sum(nil)
	for i := range stage1 {
		stage1[i] ^= resp[i]
	}
	got := sha1.Sum(stage1)
	return subtle.ConstantTimeCompare(got[:], c.native) == 1
}

// sha2Stage2 returns SHA256(SHA256(password)), what a fast
// caching_sha2_password check needs, when the plain password is known.
func (c credential) sha2Stage2() []byte {
	if !c.hasPlain || c.empty {
		return nil
	}
	return sha2Stage2(c.plain)
}

func sha2Stage2(password string) []byte {
	s1 := sha256.Sum256([]byte(password))
	s2 := sha256.Sum256(s1[:])
	return s2[:]
}

// checkSha2Scramble verifies a caching_sha2_password fast-path response:
// resp = SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + salt).
func checkSha2Scramble(stage2, salt, resp []byte) bool {
	if len(resp) != sha256.Size || len(stage2) != sha256.Size {
		return false
	}
	h := sha256.New()
	h.Write(stage2)
	h.Write(salt)
	x := h.Sum(nil)
	for i := range x {
		x[i] ^= resp[i]
	}
	got := sha256.Sum256(x)
	return subtle.ConstantTimeCompare(got[:], stage2) == 1
}

// checkPlain verifies a password received in full (over TLS or RSA).
func (c credential) checkPlain(pw string) bool {
	switch {
	case c.empty:
		return pw == ""
	case c.hasPlain:
		return subtle.ConstantTimeCompare([]byte(pw), []byte(c.plain)) == 1
	case c.native != nil:
		return subtle.ConstantTimeCompare(nativeHash(pw), c.native) == 1
	case c.sha2Crypt != nil:
		ok, err := tidbauth.CheckHashingPassword(c.sha2Crypt, pw, tidbmysql.AuthCachingSha2Password)
		return err == nil && ok
	}
	return false
}

// newSalt returns a 20-byte scramble of printable bytes without NUL or
// '$', from crypto/rand.
func newSalt() []byte {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range b {
		b[i] = 0x21 + b[i]%0x5e // '!'..'~'
		if b[i] == '$' {
			b[i] = '#'
		}
	}
	return b
}

// xorSalt undoes the XOR of a password with the repeated salt that
// caching_sha2_password applies before RSA encryption.
func xorSalt(b, salt []byte) {
	for i := range b {
		b[i] ^= salt[i%len(salt)]
	}
}

// PasswordHash returns what a users file's password_hash holds for
// password with plugin: "*" and 40 hex digits for mysql_native_password,
// "0x" and the hex of the $A$005$ authentication string for
// caching_sha2_password (its salt may hold any byte).
func PasswordHash(password, plugin string) (string, error) {
	switch plugin {
	case authNative, "":
		return "*" + strings.ToUpper(hex.EncodeToString(nativeHash(password))), nil
	case authCachingSha2:
		return "0x" + hex.EncodeToString([]byte(tidbauth.NewHashPassword(password, tidbmysql.AuthCachingSha2Password))), nil
	}
	return "", fmt.Errorf("unknown plugin %q (mysql_native_password or caching_sha2_password)", plugin)
}
