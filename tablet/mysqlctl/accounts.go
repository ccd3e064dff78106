package mysqlctl

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// Accounts names the mysqld accounts a tablet makes, one per purpose, each
// with the least it needs. The tablet makes them on every start of mysqld
// (a restored data dir holds its donor's) and takes back any privilege
// they had beyond these. Local accounts ('name'@'localhost') are reached
// over the unix socket only, with passwords each tablet process makes for
// itself; the others over TCP with passwords from Secrets.
//
//	account    where      for                       privileges
//	App        localhost  gate users (read-write)   DML and DDL on Database only;
//	                                                 Config.AppMetadataGrants on _mosaic
//	ReadOnly   localhost  gate users (read-only)    SELECT, SHOW VIEW, EXECUTE on Database
//	Agent      localhost  heartbeat, 2PC records    _mosaic's tables (no READ_ONLY ADMIN:
//	                                                 a read-only server stops its writes)
//	Backup     localhost  mariadb-backup            RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR
//	VRepl      localhost  the replication engine    rows of Database and _mosaic, binlog reads
//	Repl       %          replicas                  REPLICATION SLAVE
//	DBA        %          operators (optional)      ALL PRIVILEGES WITH GRANT OPTION
//	Monitor    %          monitoring (optional)     PROCESS, SLAVE MONITOR, BINLOG MONITOR
//
// No account has FILE, SUPER, SHUTDOWN, CREATE USER or GRANT OPTION but
// the DBA accounts: the agent's own (named after its system user, by
// unix_socket) and the optional TCP one.
type Accounts struct {
	App, ReadOnly, Agent, Backup, VRepl string
	Repl, DBA, Monitor                  string
}

// DefaultAccounts are the accounts' names.
func DefaultAccounts() Accounts {
	return Accounts{
		App:      "mosaic_app",
		ReadOnly: "mosaic_ro",
		Agent:    "mosaic_agent",
		Backup:   "mosaic_backup",
		VRepl:    "mosaic_vrepl",
		Repl:     "mosaic_repl",
		DBA:      "mosaic_dba",
		Monitor:  "mosaic_monitor",
	}
}

func (a Accounts) names() []string {
	return []string{a.App, a.ReadOnly, a.Agent, a.Backup, a.VRepl, a.Repl, a.DBA, a.Monitor}
}

// appPrivileges are the application's rights on its database: data, schema,
// views, stored programs, triggers, events, temporary tables and the
// table locks of mariadb-dump. Nothing global.
const appPrivileges = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES, " +
	"CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, " +
	"ALTER ROUTINE, EVENT, TRIGGER, DELETE HISTORY"

// localPasswords are the passwords of the local accounts, made by the
// process: nobody else needs them.
type localPasswords struct {
	app, readOnly, agent, backup, vrepl Secret
}

func newLocalPasswords() localPasswords {
	return localPasswords{app: newPassword(), readOnly: newPassword(), agent: newPassword(), backup: newPassword(), vrepl: newPassword()}
}

// grant is one account and what it may do.
type grant struct {
	user, host string
	password   Secret
	// privileges are GRANT statements' "<privileges> ON <what>" parts.
	privileges []string
}

// grants lists every account the tablet makes; an account of Secrets
// without a password is dropped instead (dropped lists them).
func (m *Mysqld) grants() (keep []grant, dropped []grant) {
	a, db := m.cfg.Accounts, quoteIdent(m.cfg.Database)
	var app, ro, vrepl []string
	if m.cfg.Database != "" {
		app = []string{appPrivileges + " ON " + db + ".*"}
		ro = []string{"SELECT, SHOW VIEW, EXECUTE ON " + db + ".*"}
		vrepl = []string{"SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, REFERENCES, LOCK TABLES ON " + db + ".*"}
	}
	if m.cfg.hasMetadata() {
		app = append(app, m.cfg.AppMetadataGrants...)
	}
	keep = []grant{
		{user: a.App, host: "localhost", password: m.local.app, privileges: app},
		{user: a.ReadOnly, host: "localhost", password: m.local.readOnly, privileges: ro},
		{user: a.Agent, host: "localhost", password: m.local.agent, privileges: []string{"SELECT, INSERT, UPDATE, DELETE, CREATE ON `_mosaic`.*"}},
		{user: a.Backup, host: "localhost", password: m.local.backup, privileges: []string{"RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.*"}},
		{user: a.VRepl, host: "localhost", password: m.local.vrepl, privileges: append(vrepl,
			"SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX ON `_mosaic`.*",
			"REPLICATION SLAVE, BINLOG MONITOR, SLAVE MONITOR ON *.*")},
	}
	shared := []grant{
		{user: a.Repl, host: "%", password: m.cfg.Secrets.ReplicationPassword, privileges: []string{"REPLICATION SLAVE ON *.*"}},
		{user: a.DBA, host: "%", password: m.cfg.Secrets.DBAPassword, privileges: []string{"ALL PRIVILEGES ON *.* WITH GRANT OPTION"}},
		{user: a.Monitor, host: "%", password: m.cfg.Secrets.MonitorPassword, privileges: []string{"PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.*"}},
	}
	for _, g := range shared {
		if g.password == "" {
			dropped = append(dropped, g)
		} else {
			keep = append(keep, g)
		}
	}
	return keep, dropped
}

// makeAccounts makes every account as grants says, on a DBA connection
// with binlogging off: each is created if missing, gets its password, loses
// every privilege and gets back exactly its own. Errors never show a
// password.
func (m *Mysqld) makeAccounts(c *mysqlconn.Conn) error {
	keep, dropped := m.grants()
	for _, g := range dropped {
		if err := c.Exec("DROP USER IF EXISTS " + account(g.user, g.host)); err != nil {
			return fmt.Errorf("drop account %s: %w", g.user, err)
		}
	}
	for _, g := range keep {
		acct := account(g.user, g.host)
		if err := c.Exec("CREATE USER IF NOT EXISTS " + acct + " IDENTIFIED BY " + QuoteString(g.password.Reveal())); err != nil {
			return fmt.Errorf("create account %s: %w", g.user, redactErr(err, g.password))
		}
		if err := c.Exec("ALTER USER " + acct + " IDENTIFIED BY " + QuoteString(g.password.Reveal())); err != nil {
			return fmt.Errorf("set the password of %s: %w", g.user, redactErr(err, g.password))
		}
		stmts := []string{"REVOKE ALL PRIVILEGES, GRANT OPTION FROM " + acct}
		for _, p := range g.privileges {
			on, opt, _ := strings.Cut(p, " WITH ")
			q := "GRANT " + on + " TO " + acct
			if opt != "" {
				q += " WITH " + opt
			}
			stmts = append(stmts, q)
		}
		for _, q := range stmts {
			if err := c.Exec(q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
	}
	return nil
}

// redactErr replaces the password in err's text (mysqld may quote the
// statement near a syntax error).
func redactErr(err error, pw Secret) error {
	if pw == "" || !strings.Contains(err.Error(), pw.Reveal()) {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), pw.Reveal(), redacted))
}

// quoteIdent quotes a MySQL identifier with backquotes.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// lockDown closes what a data dir of an older install left open, on every
// start: root with a password anybody knows (none) over TCP or the socket,
// and anonymous accounts. The DBA account, named after the tablet's system
// user, authenticates by unix_socket only: the kernel vouches for the
// peer's uid, so only that system user gets in, and there is no password
// to keep. c is a DBA connection with binlogging off.
func (m *Mysqld) lockDown(c *mysqlconn.Conn) error {
	res, err := c.Execute("SELECT User, Host FROM mysql.global_priv WHERE (User = 'root' AND Host <> 'localhost') OR User = ''", 0)
	if err != nil {
		return fmt.Errorf("list open accounts: %w", err)
	}
	rows, err := mysqlconn.NamedRows(res)
	if err != nil {
		return err
	}
	var stmts []string
	for _, r := range rows {
		stmts = append(stmts, "DROP USER IF EXISTS "+account(r["User"], r["Host"]))
	}
	dba := account(m.dbaUser, "localhost")
	stmts = append(stmts,
		"CREATE USER IF NOT EXISTS "+dba+" IDENTIFIED VIA unix_socket",
		"ALTER USER "+dba+" IDENTIFIED VIA unix_socket",
		"GRANT ALL PRIVILEGES ON *.* TO "+dba+" WITH GRANT OPTION",
		// root too (the same account when the tablet runs as root): an
		// operator logged in as root reaches mysqld, nobody else does.
		"CREATE USER IF NOT EXISTS 'root'@'localhost' IDENTIFIED VIA unix_socket",
		"ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket",
	)
	for _, q := range stmts {
		if err := c.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if len(rows) > 0 {
		m.log.Warn("dropped mysqld accounts that needed no password", "accounts", len(rows))
	}
	return nil
}

// account renders 'user'@'host'.
func account(user, host string) string {
	return QuoteString(user) + "@" + QuoteString(host)
}

// removeStaleSocket removes a socket file mariadbd's user cannot replace
// (left by a mariadbd that ran as another user, in a sticky dir such as
// /tmp), which would stop mariadbd from binding its socket. A live
// server's socket is never another user's: the leftover server on this
// data dir was stopped before.
func (m *Mysqld) removeStaleSocket() {
	if !m.runAs.other {
		return
	}
	st, err := os.Lstat(m.cfg.socketPath())
	if err != nil || st.Mode()&os.ModeSocket == 0 {
		return
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != m.runAs.uid {
		_ = os.Remove(m.cfg.socketPath())
	}
}
