package proxy

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	tidbauth "github.com/pingcap/tidb/pkg/parser/auth"
	tidbmysql "github.com/pingcap/tidb/pkg/parser/mysql"
)

func TestSplitStatements(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"select 1", []string{"select 1"}},
		{"select 1;", []string{"select 1"}},
		{"select 1; select 2 ;\n", []string{"select 1", "select 2"}},
		{"insert into t values ('a;b', \"c;d\", `e;f`); select 'it''s;'", []string{"insert into t values ('a;b', \"c;d\", `e;f`)", "select 'it''s;'"}},
		{`select 'a\';b'; select 2`, []string{`select 'a\';b'`, "select 2"}},
		{"select 1 -- a; comment\n; select 2", []string{"select 1 -- a; comment", "select 2"}},
		{"select 1 # x;y\n;select 2", []string{"select 1 # x;y", "select 2"}},
		{"select 1 /* ; */; /*+ hint */ select 2", []string{"select 1 /* ; */", "/*+ hint */ select 2"}},
		{"select 3--1; select 2", []string{"select 3--1", "select 2"}},
		{";; ; -- only\n", nil},
		{"select 1; /* trailing */", []string{"select 1"}},
		{"select '", []string{"select '"}},
		// Stored programs and compound statements keep their bodies' semicolons.
		{"CREATE PROCEDURE p(IN b INT, OUT id INT)\nBEGIN\n  INSERT INTO t (v) VALUES (b);\n  SET id = LAST_INSERT_ID();\nEND; select 2",
			[]string{"CREATE PROCEDURE p(IN b INT, OUT id INT)\nBEGIN\n  INSERT INTO t (v) VALUES (b);\n  SET id = LAST_INSERT_ID();\nEND", "select 2"}},
		{"create definer=`root`@`localhost` procedure p() begin if (select 1) then select 'a;'; elseif 1 then begin end; else select if(1, 2, 3); end if; end; select 3",
			[]string{"create definer=`root`@`localhost` procedure p() begin if (select 1) then select 'a;'; elseif 1 then begin end; else select if(1, 2, 3); end if; end", "select 3"}},
		{"CREATE OR REPLACE FUNCTION f(x INT) RETURNS INT DETERMINISTIC RETURN x + 1; select f(1)",
			[]string{"CREATE OR REPLACE FUNCTION f(x INT) RETURNS INT DETERMINISTIC RETURN x + 1", "select f(1)"}},
		{"create trigger tr after insert on t for each row begin insert into a values (new.id); update c set n = n + 1; end;\nselect 1",
			[]string{"create trigger tr after insert on t for each row begin insert into a values (new.id); update c set n = n + 1; end", "select 1"}},
		{"create procedure q() begin declare i int default 0; lbl: loop set i = i + 1; if i > 3 then leave lbl; end if; end loop lbl; while i > 0 do set i = i - 1; end while; repeat set i = i + 1; until i > 2 end repeat; case i when 1 then select 1; else select case when i > 1 then 'x' else 'y' end; end case; end; select 4",
			[]string{"create procedure q() begin declare i int default 0; lbl: loop set i = i + 1; if i > 3 then leave lbl; end if; end loop lbl; while i > 0 do set i = i - 1; end while; repeat set i = i + 1; until i > 2 end repeat; case i when 1 then select 1; else select case when i > 1 then 'x' else 'y' end; end case; end", "select 4"}},
		{"create event e on schedule every 1 hour do begin delete from t; insert into t values (1); end; select 5",
			[]string{"create event e on schedule every 1 hour do begin delete from t; insert into t values (1); end", "select 5"}},
		{"BEGIN NOT ATOMIC DECLARE x INT; SET x = 1; SELECT x; END; select 6",
			[]string{"BEGIN NOT ATOMIC DECLARE x INT; SET x = 1; SELECT x; END", "select 6"}},
		{"begin; insert into t values (1); commit", []string{"begin", "insert into t values (1)", "commit"}},
		{"create table function_log (id int); create view v as select 1; select 7",
			[]string{"create table function_log (id int)", "create view v as select 1", "select 7"}},
		{"create procedure single() select 1; select 8", []string{"create procedure single() select 1", "select 8"}},
	}
	for _, c := range cases {
		if got := splitStatements(c.in, 0); !reflect.DeepEqual(got, c.want) {
			t.Errorf("split %q\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestParseUsers(t *testing.T) {
	yamlFile := `
users:
  - name: app
    password: s3cret
  - name: reporting
    password_hash: "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
    keyspaces: [customer]
    read_only: true
  - name: modern
    password: pw
    plugin: caching_sha2_password
`
	users, err := ParseUsers([]byte(yamlFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 3 || users[0].Plugin != authNative || users[1].Plugin != authNative || !users[1].ReadOnly ||
		users[2].Plugin != authCachingSha2 || !reflect.DeepEqual(users[1].Keyspaces, []string{"customer"}) {
		t.Fatalf("users %+v", users)
	}
	jsonFile := `{"users": [{"name": "app", "password": "x"}, {"name": "sha", "password_hash": "0x` + hexUpper([]byte(tidbauth.NewHashPassword("pw", tidbmysql.AuthCachingSha2Password))) + `"}]}`
	users, err = ParseUsers([]byte(jsonFile))
	if err != nil {
		t.Fatal(err)
	}
	if users[1].Plugin != authCachingSha2 {
		t.Fatalf("plugin of a caching_sha2 hash: %q", users[1].Plugin)
	}
	for _, bad := range []string{
		`users: []`,
		`users: [{name: a, password: x, password_hash: "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"}]`,
		`users: [{name: a, password_hash: "*123"}]`,
		`users: [{name: a, password_hash: "plain"}]`,
		`users: [{name: a, plugin: sha256_password}]`,
		`users: [{name: a}, {name: a}]`,
		`users: [{name: a, pasword: x}]`,
		`users: [{password: x}]`,
	} {
		if _, err := ParseUsers([]byte(bad)); err == nil {
			t.Errorf("no error for %s", bad)
		}
	}
}

func TestCredentialChecks(t *testing.T) {
	salt := newSalt()
	if bytes.IndexByte(salt, 0) >= 0 || bytes.IndexByte(salt, '$') >= 0 {
		t.Fatalf("salt %q has NUL or $", salt)
	}
	plain, _ := newCredential(&User{Name: "a", Password: "pw"})
	hashed, _ := newCredential(&User{Name: "b", PasswordHash: "*" + hexUpper(nativeHash("pw"))})
	sha, err := newCredential(&User{Name: "c", PasswordHash: tidbauth.NewHashPassword("pw", tidbmysql.AuthCachingSha2Password)})
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := newCredential(&User{Name: "d"})
	good := mysql.CalcPassword(salt, []byte("pw"))
	bad := mysql.CalcPassword(salt, []byte("nope"))
	for name, c := range map[string]credential{"plain": plain, "native hash": hashed} {
		if !c.checkNativeScramble(salt, good) || c.checkNativeScramble(salt, bad) || c.checkNativeScramble(salt, nil) {
			t.Errorf("%s: native scramble check wrong", name)
		}
		if !c.checkPlain("pw") || c.checkPlain("nope") {
			t.Errorf("%s: plain check wrong", name)
		}
	}
	if sha.checkNativeScramble(salt, good) {
		t.Error("a caching_sha2 hash passed a native scramble")
	}
	if !sha.checkPlain("pw") || sha.checkPlain("nope") || sha.checkPlain("") {
		t.Error("caching_sha2 hash: plain check wrong")
	}
	if !empty.checkNativeScramble(salt, nil) || empty.checkNativeScramble(salt, good) || !empty.checkPlain("") {
		t.Error("empty password checks wrong")
	}
	// The caching_sha2 fast path.
	resp := mysql.CalcCachingSha2Password(salt, "pw")
	if !checkSha2Scramble(plain.sha2Stage2(), salt, resp) || checkSha2Scramble(plain.sha2Stage2(), salt, mysql.CalcCachingSha2Password(salt, "x")) {
		t.Error("caching_sha2 fast check wrong")
	}
	if sha.sha2Stage2() != nil || hashed.sha2Stage2() != nil {
		t.Error("a hash-only credential claims to know SHA256(SHA256(pw))")
	}
	// SHA1 of a SHA1: what MariaDB's PASSWORD('pw') shows.
	s1 := sha1.Sum([]byte("pw"))
	s2 := sha1.Sum(s1[:])
	if !bytes.Equal(nativeHash("pw"), s2[:]) {
		t.Error("native hash is not SHA1(SHA1(pw))")
	}
}

func hexUpper(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestLikeMatch(t *testing.T) {
	for _, c := range []struct {
		s, p string
		ok   bool
	}{{"name", "%", true}, {"name", "na%", true}, {"name", "n_me", true}, {"name", "x%", false}, {"a_b", `a\_b`, true}, {"axb", `a\_b`, false}, {"", "%", true}} {
		if likeMatch(c.s, c.p) != c.ok {
			t.Errorf("like(%q, %q) != %v", c.s, c.p, c.ok)
		}
	}
}

func TestHandshakeResponseParse(t *testing.T) {
	caps := mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_CONNECT_WITH_DB | mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	b = append(b, "app\x00"...)
	b = append(b, 3, 1, 2, 3)
	b = append(b, "commerce\x00"...)
	b = append(b, "caching_sha2_password\x00"...)
	r, ssl, err := parseHandshakeResponse(b)
	if err != nil || ssl {
		t.Fatal(err, ssl)
	}
	if r.user != "app" || !bytes.Equal(r.authData, []byte{1, 2, 3}) || r.db != "commerce" || r.plugin != authCachingSha2 {
		t.Fatalf("parsed %+v", r)
	}
	for i := 32; i < len(b)-1; i++ {
		parseHandshakeResponse(b[:i]) // must not panic
	}
	sslReq := binary.LittleEndian.AppendUint32(nil, caps|mysql.CLIENT_SSL)
	sslReq = append(sslReq, make([]byte, 28)...)
	if _, ssl, err := parseHandshakeResponse(sslReq); err != nil || !ssl {
		t.Fatalf("SSL request: ssl=%v err=%v", ssl, err)
	}
}
