package mysqlctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// TestAccounts checks what each account may do on a real mariadbd: the
// application accounts reach their database and nothing of the server,
// the read-only one writes nothing, the agent's writes stop under
// read_only, and the TCP accounts exist only with a password.
func TestAccounts(t *testing.T) {
	m := startMysqld(t, shortTempDir(t), 1, func(c *Config) {
		c.MetadataDDL = []string{
			"CREATE DATABASE IF NOT EXISTS _mosaic",
			"CREATE TABLE IF NOT EXISTS _mosaic.dt_state (dtid VARBINARY(64) PRIMARY KEY, state ENUM('PREPARE','COMMIT','ROLLBACK') NOT NULL, time_created BIGINT NOT NULL, participants TEXT NOT NULL)",
		}
		c.AppMetadataGrants = []string{"SELECT (dtid, state), UPDATE (state) ON `_mosaic`.`dt_state`"}
		c.Secrets.DBAPassword = "dba-pw"
	})
	dba := m.DBAParams()
	if err := execAs(t, dba, "SET GLOBAL read_only = OFF", "CREATE TABLE d.t (id INT PRIMARY KEY)", "CREATE SEQUENCE d.s",
		"INSERT INTO _mosaic.dt_state VALUES ('x', 'PREPARE', 1, '')"); err != nil {
		t.Fatal(err)
	}
	app, ro, agent := m.AppParams(), m.ReadOnlyParams(), m.AgentParams()
	app.DB, ro.DB = "d", "d"
	refused := func(p mysqlconn.Params, sql string, codes ...uint16) {
		t.Helper()
		err := execAs(t, p, sql)
		var se *sqlerr.Error
		if !errors.As(err, &se) {
			t.Errorf("%s as %s: %v, want an error %v", sql, p.User, err, codes)
			return
		}
		for _, c := range codes {
			if se.Num == c {
				return
			}
		}
		t.Errorf("%s as %s: %v, want an error %v", sql, p.User, err, codes)
	}
	allowed := func(p mysqlconn.Params, sqls ...string) {
		t.Helper()
		if err := execAs(t, p, sqls...); err != nil {
			t.Errorf("as %s: %v", p.User, err)
		}
	}
	const denied, noAccess, dbDenied, needPriv = 1142, 1045, 1044, 1227
	allowed(app, "INSERT INTO t VALUES (1)", "CREATE TABLE t2 (id INT)", "DROP TABLE t2", "SELECT NEXTVAL(s)",
		"CREATE TEMPORARY TABLE tmp (id INT)", "UPDATE _mosaic.dt_state SET state = 'COMMIT' WHERE dtid = 'x' AND state = 'PREPARE'")
	for _, q := range []string{"SELECT * FROM mysql.user", "SELECT * FROM mysql.global_priv", "SELECT participants FROM _mosaic.dt_state",
		"INSERT INTO _mosaic.dt_state VALUES ('y', 'PREPARE', 1, '')", "DELETE FROM _mosaic.dt_state"} {
		refused(app, q, denied, 1143)
	}
	refused(app, "CREATE TABLE _mosaic.x (id INT)", denied, dbDenied)
	refused(app, "SELECT 1 INTO OUTFILE '/tmp/mosaic-accounts-test'", needPriv)
	refused(app, "SELECT 1 INTO DUMPFILE '/tmp/mosaic-accounts-test'", needPriv)
	refused(app, "LOAD DATA INFILE '/etc/passwd' INTO TABLE t", noAccess, needPriv)
	for _, q := range []string{"CREATE USER x@'%'", "SET PASSWORD FOR " + m.cfg.Accounts.Repl + "@'%' = PASSWORD('x')", "RESET MASTER", "SET GLOBAL read_only = ON",
		"SHUTDOWN", "KILL 1", "FLUSH PRIVILEGES", "GRANT SELECT ON d.* TO " + m.cfg.Accounts.ReadOnly + "@localhost"} {
		refused(app, q, needPriv, denied, sqlerr.ERNoSuchThread, 1044, sqlerr.ERDBAccessDenied)
	}
	if got := queryAs(t, app, "SELECT LOAD_FILE('/etc/passwd') IS NULL"); got != "1" {
		t.Error("LOAD_FILE read a file as the app account")
	}
	// A table's files stay in the data dir (symbolic_links=OFF): DATA
	// DIRECTORY is ignored.
	elsewhere := filepath.Join(shortTempDir(t), "elsewhere")
	if err := os.Mkdir(elsewhere, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(elsewhere, 0o777); err != nil {
		t.Fatal(err)
	}
	allowed(app, "CREATE TABLE elsewhere (id INT) DATA DIRECTORY = '"+elsewhere+"'")
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("a table of the app account has files in %s: %v", elsewhere, entries)
	}

	allowed(ro, "SELECT * FROM t")
	for _, q := range []string{"INSERT INTO t VALUES (2)", "SELECT NEXTVAL(s)", "SELECT SETVAL(s, 100)", "CREATE TABLE t3 (id INT)", "DELETE FROM t"} {
		refused(ro, q, denied, dbDenied)
	}

	allowed(agent, "UPDATE _mosaic.dt_state SET participants = 'a' WHERE dtid = 'x'")
	refused(agent, "SELECT * FROM d.t", denied, dbDenied)
	allowed(dba, "SET GLOBAL read_only = ON")
	refused(agent, "UPDATE _mosaic.dt_state SET participants = 'b' WHERE dtid = 'x'", sqlerr.ERReadOnly)
	refused(app, "INSERT INTO t VALUES (3)", sqlerr.ERReadOnly)

	tcp := func(user, pw string) error {
		c, err := mysqlconn.Dial(t.Context(), mysqlconn.Params{Addr: fmt.Sprintf("127.0.0.1:%d", m.Port()), User: user, Password: pw})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := tcp(m.cfg.Accounts.DBA, "dba-pw"); err != nil {
		t.Errorf("DBA over TCP: %v", err)
	}
	if err := tcp(m.cfg.Accounts.Monitor, ""); err == nil {
		t.Error("a monitor account exists without a monitor password")
	}
	if err := tcp(m.cfg.Accounts.Repl, "test-replication"); err != nil {
		t.Errorf("replication account: %v", err)
	}
	for _, u := range []string{m.cfg.Accounts.App, m.cfg.Accounts.ReadOnly, m.cfg.Accounts.Agent} {
		if err := tcp(u, ""); err == nil {
			t.Errorf("%s logged in over TCP", u)
		}
	}
	// Every local account has a password: someone else on the host who
	// reaches the socket gets nothing without it.
	for _, p := range []mysqlconn.Params{app, ro, agent, m.VReplParams()} {
		p.Password = ""
		if c, err := mysqlconn.Dial(t.Context(), p); err == nil {
			c.Close()
			t.Errorf("%s logged in without its password", p.User)
		}
	}
	grants := queryAs(t, dba, "SELECT GROUP_CONCAT(User) FROM mysql.user WHERE (Super_priv = 'Y' OR File_priv = 'Y' OR Shutdown_priv = 'Y' OR Create_user_priv = 'Y' OR Grant_priv = 'Y') AND User LIKE 'mosaic%'")
	if grants != m.cfg.Accounts.DBA {
		t.Errorf("accounts with server-wide powers: %q, want only %s", grants, m.cfg.Accounts.DBA)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", m.cfg, m.cfg, m.cfg), "dba-pw") {
		t.Error("a printed config shows a password")
	}
}
