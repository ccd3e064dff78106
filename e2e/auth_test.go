package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	tidbauth "github.com/pingcap/tidb/pkg/parser/auth"
	tidbmysql "github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proxy"
)

// writeSelfSignedCert writes a certificate and key for 127.0.0.1.
func writeSelfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mosaic gate test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func nativeHashOf(pw string) string {
	s1 := sha1.Sum([]byte(pw))
	s2 := sha1.Sum(s1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(s2[:]))
}

// authUsersFile is the users file of the authentication test.
func authUsersFile() string {
	sha2 := func(pw string) string {
		return "0x" + hex.EncodeToString([]byte(tidbauth.NewHashPassword(pw, tidbmysql.AuthCachingSha2Password)))
	}
	return fmt.Sprintf(`users:
  - name: root
  - name: app
    password: apppw
  - name: hashed
    password_hash: "%s"
  - name: sha
    password: shapw
    plugin: caching_sha2_password
  - name: shatls
    password_hash: "%s"
  - name: sharsa
    password_hash: "%s"
  - name: shacli
    password_hash: "%s"
  - name: reader
    password: readpw
    keyspaces: [commerce]
    read_only: true
`, nativeHashOf("hashpw"), sha2("tlspw"), sha2("rsapw"), sha2("clipw"))
}

// testAuth covers the users file: plain and hashed passwords with
// mysql_native_password and caching_sha2_password (fast path, full
// authentication over TLS and with the RSA key), per-user keyspace and
// write rules, COM_CHANGE_USER, TLS and --require-secure-transport.
func testAuth(t *testing.T, c *cluster.Cluster) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSignedCert(t, dir)
	usersPath := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(usersPath, []byte(authUsersFile()), 0o600); err != nil {
		t.Fatal(err)
	}
	users, err := proxy.LoadUsersFile(usersPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := c.StartExtraGate(t, func(cfg *proxyConfig) {
		cfg.Users = users
		cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	})
	open := func(user, pw, db, params string) *sql.DB {
		dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s", user, pw, addr, db)
		if params != "" {
			dsn += "?" + params
		}
		return openDirect(t, dsn)
	}
	ping := func(db *sql.DB) error {
		var n int
		return db.QueryRow("select 1").Scan(&n)
	}
	for _, ok := range []struct{ user, pw, params string }{
		{"root", "", ""},
		{"app", "apppw", ""},
		{"hashed", "hashpw", ""},
		{"sha", "shapw", ""},
		{"shatls", "tlspw", "tls=skip-verify"}, // full authentication over TLS
		{"shatls", "tlspw", ""},                // then the fast path
		{"sharsa", "rsapw", ""},                // full authentication with the RSA key
		{"sharsa", "rsapw", ""},
		{"app", "apppw", "tls=skip-verify"},
	} {
		if err := ping(open(ok.user, ok.pw, "commerce", ok.params)); err != nil {
			t.Errorf("%s with %q: %v", ok.user, ok.params, err)
		}
	}
	for _, bad := range []struct{ user, pw string }{
		{"app", "wrong"}, {"app", ""}, {"hashed", "apppw"}, {"sha", "nope"}, {"sharsa", "nope"}, {"nosuch", "x"}, {"root", "x"},
	} {
		err := ping(open(bad.user, bad.pw, "commerce", ""))
		if code, state := mysqlErr(t, err); code != 1045 || state != "28000" {
			t.Errorf("%s/%s: %v", bad.user, bad.pw, err)
		}
	}

	// reader may use commerce only, and only read.
	reader := open("reader", "readpw", "commerce", "")
	if err := ping(reader); err != nil {
		t.Fatal(err)
	}
	mustExec(t, open("root", "", "commerce", ""), "create table if not exists authz (id bigint primary key)")
	_, err = reader.Exec("insert into authz values (1)")
	if code, _ := mysqlErr(t, err); code != 1142 {
		t.Fatalf("insert by a read-only user: %v", err)
	}
	if !strings.Contains(err.Error(), "INSERT command denied") {
		t.Fatalf("message %q", err)
	}
	if n := count(t, reader, "select count(*) from authz"); n != 0 {
		t.Fatalf("count = %d", n)
	}
	_, err = reader.Exec("use customer")
	if code, _ := mysqlErr(t, err); code != 1044 {
		t.Fatalf("use of a forbidden keyspace: %v", err)
	}
	_, err = reader.Exec("select * from customer.m")
	if code, _ := mysqlErr(t, err); code != 1044 {
		t.Fatalf("select from a forbidden keyspace: %v", err)
	}
	err = ping(open("reader", "readpw", "customer", ""))
	if code, _ := mysqlErr(t, err); code != 1044 {
		t.Fatalf("connect to a forbidden keyspace: %v", err)
	}

	// SHOW GRANTS gives the gate account's rights, not the tablets'.
	readerGrants := []string{"GRANT USAGE ON *.* TO `reader`@`%`", "GRANT SELECT ON `commerce`.* TO `reader`@`%`"}
	for _, q := range []string{"show grants", "show grants for current_user()", "show grants for current_user", "show grants for reader"} {
		if got := queryRows(t, reader, q); !slices.Equal(got, readerGrants) {
			t.Errorf("%s as reader = %q, want %q", q, got, readerGrants)
		}
	}
	if got := queryRows(t, open("root", "", "commerce", ""), "show grants"); !slices.Equal(got, []string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`%`"}) {
		t.Errorf("show grants as root = %q", got)
	}
	_, err = reader.Query("show grants for root")
	if code, _ := mysqlErr(t, err); code != 1044 {
		t.Fatalf("show grants for another account: %v", err)
	}

	// COM_CHANGE_USER: to reader (read-only from then on), and with a
	// wrong password (the connection ends).
	conn := rawConn(t, addr, "app", "apppw", "commerce")
	changeUser(t, conn, "reader", "readpw", "commerce")
	if _, err := conn.Execute("insert into authz values (2)"); myErrCode(err) != 1142 {
		t.Fatalf("insert after change user to reader: %v", err)
	}
	if err := changeUserErr(conn, "app", "wrong", "commerce"); myErrCode(err) != 1045 {
		t.Fatalf("change user with a wrong password: %v", err)
	}

	// The mariadb client authenticates with caching_sha2_password too.
	if _, err := lookPath("mariadb"); err == nil {
		host, port, _ := net.SplitHostPort(addr)
		out, err := runMariadb(t, "", "-h", host, "-P", port, "-u", "shacli", "-pclipw", "--ssl", "-N", "-e", "select 1+1")
		if err != nil || strings.TrimSpace(out) != "2" {
			t.Errorf("mariadb over TLS with caching_sha2_password: %q %v", out, err)
		}
		out, err = runMariadb(t, "", "-h", host, "-P", port, "-u", "shacli", "-pclipw", "--skip-ssl", "-N", "-e", "select 2+2")
		if err != nil || strings.TrimSpace(out) != "4" {
			t.Errorf("mariadb without TLS after the cache filled: %q %v", out, err)
		}
		out, err = runMariadb(t, "", "-h", host, "-P", port, "-u", "app", "-pwrong", "-e", "select 1")
		if err == nil || !strings.Contains(out, "1045") {
			t.Errorf("mariadb with a wrong password: %q %v", out, err)
		}
	}

	// --require-secure-transport: plain connections get 3159.
	secure := c.StartExtraGate(t, func(cfg *proxyConfig) {
		cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
		cfg.RequireSecureTransport = true
	})
	err = ping(openDirect(t, "root@tcp("+secure+")/commerce"))
	if code, _ := mysqlErr(t, err); code != 3159 {
		t.Fatalf("plain connection to a TLS-only gate: %v", err)
	}
	if err := ping(openDirect(t, "root@tcp("+secure+")/commerce?tls=skip-verify")); err != nil {
		t.Fatalf("TLS connection to a TLS-only gate: %v", err)
	}
}

// changeUser sends COM_CHANGE_USER with an empty answer and an unknown
// plugin, so the gate asks again with an authentication switch, which it
// answers with mysql_native_password.
func changeUserErr(conn *client.Conn, user, pw, db string) error {
	p := []byte{0x11}
	p = append(p, user...)
	p = append(p, 0, 0) // empty auth response
	p = append(p, db...)
	p = append(p, 0, 45, 0)
	p = append(p, "none"...)
	p = append(p, 0)
	conn.ResetSequence()
	if err := conn.WritePacket(append([]byte{0, 0, 0, 0}, p...)); err != nil {
		return err
	}
	data, err := conn.ReadPacket()
	if err != nil {
		return err
	}
	if data[0] != 0xfe {
		return fmt.Errorf("no auth switch: %x", data)
	}
	plugin, rest, _ := strings.Cut(string(data[1:]), "\x00")
	if plugin != "mysql_native_password" {
		return fmt.Errorf("switch to %q", plugin)
	}
	salt := []byte(strings.TrimSuffix(rest, "\x00"))
	if err := conn.WritePacket(append([]byte{0, 0, 0, 0}, gomysql.CalcPassword(salt, []byte(pw))...)); err != nil {
		return err
	}
	if data, err = conn.ReadPacket(); err != nil {
		return err
	}
	switch data[0] {
	case 0x00:
		return nil
	case 0xff:
		return conn.HandleErrorPacket(data)
	}
	return fmt.Errorf("unexpected packet %x", data)
}

func changeUser(t *testing.T, conn *client.Conn, user, pw, db string) {
	t.Helper()
	if err := changeUserErr(conn, user, pw, db); err != nil {
		t.Fatalf("change user to %s: %v", user, err)
	}
}
