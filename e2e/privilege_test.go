package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/testports"
)

// privilegeUsers is the users file of TestLeastPrivilege.
const privilegeUsers = `users:
  - name: root
    privileges: [PROCESS, CONNECTION ADMIN]
  - name: limited
    password: limitedpw
    keyspaces: [commerce]
  - name: reader
    password: readerpw
    keyspaces: [commerce]
    read_only: true
  - name: ops
    password: opspw
    privileges: [PROCESS, CONNECTION ADMIN]
`

// TestLeastPrivilege attacks a cluster as issue 13 did, through a gate
// with a users file: an account limited to commerce and a read-only one
// try to reach the server, other keyspaces, the tablets' own _mosaic
// database and each other's sessions; every attempt is refused or
// filtered as mysqld would, nothing is written, no password shows, and
// replication with semi-sync is healthy afterwards. mariadbd does not run
// as root.
func TestLeastPrivilege(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "commerce"}, {Name: "customer"}},
		Replicas:  1,
		Tablets:   tablettest.Options{SemiSync: true},
	})
	users, err := proxy.ParseUsers([]byte(privilegeUsers))
	if err != nil {
		t.Fatal(err)
	}
	httpPorts, err := testports.Free(1)
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", httpPorts[0])
	addr := c.StartExtraGate(t, func(cfg *proxyConfig) {
		cfg.Users = users
		cfg.HTTPAddr = httpAddr
	})
	open := func(user, pw, db string, params ...string) *sql.DB {
		dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s", user, pw, addr, db)
		if len(params) > 0 {
			dsn += "?" + strings.Join(params, "&")
		}
		db2 := openDirect(t, dsn)
		db2.SetMaxIdleConns(0)
		return db2
	}
	root := c.DB(t, "commerce")
	customerRoot := c.DB(t, "customer")
	limited := open("limited", "limitedpw", "commerce", "multiStatements=true")
	reader := open("reader", "readerpw", "commerce")
	ops := open("ops", "opspw", "")

	// refused checks that q fails with one of the codes; a message that
	// names a user names the gate account, never a tablet's.
	refused := func(t *testing.T, db *sql.DB, user, q string, codes ...uint16) {
		t.Helper()
		rows, err := db.Query(q)
		if err == nil {
			// Every result of a multi-statement query: the error may be
			// a later statement's.
			for err == nil {
				for rows.Next() {
				}
				if err = rows.Err(); err == nil && !rows.NextResultSet() {
					err = rows.Err()
					break
				}
			}
			rows.Close()
		}
		var me *mysql.MySQLError
		if !errors.As(err, &me) {
			t.Errorf("%s as %s: %v, want an error %v", q, user, err, codes)
			return
		}
		if !slices.Contains(codes, me.Number) {
			t.Errorf("%s as %s: %v, want an error %v", q, user, err, codes)
		}
		if strings.Contains(me.Message, "mosaic_") {
			t.Errorf("%s as %s: the error names a tablet account: %v", q, user, err)
		}
		if strings.Contains(me.Message, "to user") && !strings.Contains(me.Message, "'"+user+"'@") {
			t.Errorf("%s as %s: the error does not name the gate account: %v", q, user, err)
		}
	}

	mustExec(t, root, "create table sec_t (id int primary key, v varchar(20))")
	mustExec(t, root, "insert into sec_t values (1, 'one')")
	mustExec(t, root, "create table sec_log (id int auto_increment primary key, v varchar(20))")
	mustExec(t, root, "create sequence sec_seq")
	mustExec(t, root, "create function sec_fw() returns int modifies sql data begin insert into sec_log (v) values ('fw'); return 1; end")
	mustExec(t, root, "create procedure sec_pw() insert into sec_log (v) values ('pw')")
	mustExec(t, root, "create definer = `root`@`localhost` sql security definer view sec_vw as select sec_fw() as x")
	mustExec(t, customerRoot, "create table cust (id int primary key, secret varchar(20))")
	mustExec(t, customerRoot, "insert into cust values (1, 'customer-secret')")
	mustExec(t, customerRoot, "create procedure cust_p() select secret from cust")
	// A routine of definer rights made behind the gate's back (by a DBA
	// on mysqld): the read-only account's read-only session still stops
	// its write.
	direct := openDirect(t, c.DirectDSN("commerce", "0"))
	mustExec(t, direct, "create definer = 'mosaic_app'@'localhost' function sec_fdef() returns int modifies sql data sql security definer begin insert into sec_log (v) values ('fdef'); return 1; end")

	t.Run("RoutinesHaveInvokerRights", func(t *testing.T) {
		for _, q := range []string{"show create function sec_fw", "show create procedure sec_pw", "show create view sec_vw"} {
			rows := queryRows(t, root, q)
			if len(rows) != 1 || !strings.Contains(rows[0], "SQL SECURITY INVOKER") || strings.Contains(rows[0], "`root`@") {
				t.Errorf("%s: %q", q, rows)
			}
		}
	})

	t.Run("ReadOnlyAccount", func(t *testing.T) {
		for _, q := range []string{"select sec_fw()", "select * from sec_vw", "select sec_fdef()", "select nextval(sec_seq)",
			"select next value for sec_seq", "select setval(sec_seq, 100)", "call sec_pw()", "insert into sec_t values (2, 'two')"} {
			refused(t, reader, "reader", q, 1142, 1792)
		}
		if got := queryRows(t, reader, "select load_file('/etc/passwd')"); !slices.Equal(got, []string{"NULL"}) {
			t.Errorf("LOAD_FILE as reader: %q", got)
		}
		if n := count(t, root, "select count(*) from sec_log"); n != 0 {
			t.Errorf("the read-only account wrote %d rows", n)
		}
		if got := queryRows(t, root, "select nextval(sec_seq)"); !slices.Equal(got, []string{"1"}) {
			t.Errorf("the read-only account moved the sequence: next value %q", got)
		}
		// What it may do, it does.
		if got := queryRows(t, reader, "select v from sec_t"); !slices.Equal(got, []string{"one"}) {
			t.Errorf("reader reads %q", got)
		}
	})

	t.Run("ServerIsOutOfReach", func(t *testing.T) {
		refused(t, limited, "limited", "select * from mysql.user", 1142)
		refused(t, limited, "limited", "select * from mysql.global_priv", 1142)
		if got := queryRows(t, limited, "select load_file('/etc/passwd')"); !slices.Equal(got, []string{"NULL"}) {
			t.Errorf("LOAD_FILE as limited: %q", got)
		}
		refused(t, limited, "limited", "select 1 into outfile '/tmp/mosaic-security-outfile'", 1227)
		refused(t, limited, "limited", "select 1 into dumpfile '/tmp/mosaic-security-dumpfile'", 1227)
		refused(t, limited, "limited", "create user evil@'%' identified by 'x'", 1227)
		refused(t, limited, "limited", "grant all on *.* to limited", 1227)
		refused(t, limited, "limited", "set password for mosaic_repl@'%' = password('x')", 1044)
		refused(t, limited, "limited", "set password = password('x')", 1235)
		refused(t, limited, "limited", "reset master", 1227, 1235)
		refused(t, limited, "limited", "set global read_only = 1", 1235, 1227)
		refused(t, limited, "limited", "flush tables with read lock", 1227, 1235)
		refused(t, limited, "limited", "/* hidden */ xa recover", 1235)
		refused(t, limited, "limited", "/*!50000 XA */ ROLLBACK 'mosaic-x'", 1235, 1064)
		refused(t, limited, "limited", "kill hard query 1", 1235, 1064)
		refused(t, limited, "limited", "show explain for 1", 1235)
		refused(t, limited, "limited", "select * from information_schema.processlist", 1235)
		for _, f := range []string{"/tmp/mosaic-security-outfile", "/tmp/mosaic-security-dumpfile"} {
			if _, err := os.Stat(f); err == nil {
				os.Remove(f)
				t.Errorf("%s was written", f)
			}
		}
	})

	t.Run("TabletsOwnDatabase", func(t *testing.T) {
		refused(t, limited, "limited", "select * from _mosaic.dt_state", 1044)
		refused(t, limited, "limited", "select dtid from `_mosaic`.`dt_state`", 1044)
		refused(t, limited, "limited", "update _mosaic.dt_state set state = 'COMMIT'", 1044)
		refused(t, limited, "limited", "create view sec_peek as select dtid, state from _mosaic.dt_state", 1044)
		refused(t, limited, "limited", "create trigger sec_tr after insert on sec_t for each row update _mosaic.dt_state set state = 'COMMIT'", 1044)
		// A session on one shard sends statements unparsed: the names are
		// checked all the same.
		conn, err := limited.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(t.Context(), "use commerce:0"); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"select dtid, state from _mosaic.dt_state", "update _mosaic.dt_state set state = 'ROLLBACK'", "/*!40000 select * from _mosaic.heartbeat */"} {
			_, err := conn.ExecContext(t.Context(), q)
			if code, _ := mysqlErr(t, err); code != 1044 {
				t.Errorf("%s on commerce:0: %v", q, err)
			}
		}
		_, err = conn.ExecContext(t.Context(), "xa recover")
		if code, _ := mysqlErr(t, err); code != 1235 {
			t.Errorf("xa recover on commerce:0: %v", err)
		}
	})

	t.Run("OtherKeyspaces", func(t *testing.T) {
		if got := queryRows(t, limited, "show databases"); !slices.Equal(got, []string{"information_schema", "commerce"}) {
			t.Errorf("SHOW DATABASES as limited: %q", got)
		}
		if got := queryRows(t, limited, "select schema_name from information_schema.schemata order by schema_name"); !slices.Equal(got, []string{"commerce", "information_schema"}) {
			t.Errorf("SCHEMATA as limited: %q", got)
		}
		if got := queryRows(t, limited, "select count(*) from information_schema.schemata where schema_name = 'customer'"); !slices.Equal(got, []string{"0"}) {
			t.Errorf("SCHEMATA as limited counts customer: %q", got)
		}
		if got := queryRows(t, ops, "show databases"); !slices.Equal(got, []string{"information_schema", "commerce", "customer"}) {
			t.Errorf("SHOW DATABASES as an account of every keyspace: %q", got)
		}
		for _, q := range []string{
			"select * from customer.cust",
			"explain format=mosaic select * from customer.cust",
			"explain select * from customer.cust",
			"select table_name from information_schema.tables where table_schema = 'customer'",
			"show tables from customer",
			"show columns from cust from customer",
			"show create table customer.cust",
			"call customer.cust_p()",
			"use customer",
			"delete from customer.cust",
			"set @x = (select secret from customer.cust)",
			"select 1; select * from customer.cust",
		} {
			refused(t, limited, "limited", q, 1044)
		}
		// A prepared statement (go-sql-driver prepares on the server
		// without interpolateParams).
		stmt, err := limited.Prepare("select secret from customer.cust where id = ?")
		if err == nil {
			_, err = stmt.Exec(1)
			stmt.Close()
		}
		if code, _ := mysqlErr(t, err); code != 1044 {
			t.Errorf("prepared statement on customer: %v", err)
		}
		mysql.RegisterReaderHandler("sec_rows", func() io.Reader { return strings.NewReader("2\tstolen\n") })
		defer mysql.DeregisterReaderHandler("sec_rows")
		_, err = limited.Exec("load data local infile 'Reader::sec_rows' into table customer.cust")
		if code, _ := mysqlErr(t, err); code != 1044 {
			t.Errorf("LOAD DATA LOCAL into customer: %v", err)
		}
		if n := count(t, customerRoot, "select count(*) from cust"); n != 1 {
			t.Errorf("customer.cust has %d rows", n)
		}
	})

	t.Run("SessionsOfOthers", func(t *testing.T) {
		victim, err := reader.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer victim.Close()
		var victimID int64
		if err := victim.QueryRowContext(t.Context(), "select connection_id()").Scan(&victimID); err != nil {
			t.Fatal(err)
		}
		ids := func(db *sql.DB) []string {
			var out []string
			for _, r := range queryRows(t, db, "show processlist") {
				out = append(out, strings.Split(r, "|")[0])
			}
			return out
		}
		id := strconv.FormatInt(victimID, 10)
		if slices.Contains(ids(limited), id) {
			t.Error("limited sees reader's connection in SHOW PROCESSLIST")
		}
		if !slices.Contains(ids(ops), id) {
			t.Error("ops (PROCESS) does not see reader's connection")
		}
		refused(t, limited, "limited", "kill "+id, 1095)
		refused(t, limited, "limited", "kill query "+id, 1095)
		if err := victim.PingContext(t.Context()); err != nil {
			t.Fatalf("a refused KILL ended the connection: %v", err)
		}
		mustExec(t, ops, "kill "+id)
		err = victim.QueryRowContext(t.Context(), "select 1").Scan(new(int))
		if err == nil {
			t.Error("ops's KILL did not end the connection")
		}
	})

	t.Run("NoPasswordShows", func(t *testing.T) {
		const secret = "topsecret-4711"
		done := make(chan error, 1)
		go func() {
			_, err := limited.Exec("select sleep(3), password('" + secret + "')")
			done <- err
		}()
		var info string
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) && info == "" {
			for _, r := range queryRows(t, ops, "show full processlist") {
				if strings.Contains(r, "sleep(3)") {
					info = r
				}
			}
			if info == "" {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if info == "" {
			t.Fatal("the sleeping statement never showed in SHOW FULL PROCESSLIST")
		}
		if strings.Contains(info, secret) || !strings.Contains(info, "password('***')") {
			t.Errorf("SHOW FULL PROCESSLIST shows %q", info)
		}
		pages := map[string]string{"gate": "http://" + httpAddr + "/debug/status"}
		pages["tablet"] = "http://" + c.Shards["commerce"]["0"].Primary().HTTPAddr + "/debug/status"
		for name, url := range pages {
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), secret) {
				t.Errorf("the %s's status page shows the password", name)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + httpAddr + "/debug/status")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), secret) {
			t.Error("the gate's status page shows the password among its plans")
		}
	})

	t.Run("ReplicationStillHealthy", func(t *testing.T) {
		mustExec(t, root, "insert into sec_t values (100, 'after')")
		sh := c.Shards["commerce"]["0"]
		replica := sh.Replicas()[0]
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		for {
			n, err := mysqldInt(ctx, replica.DBAParams(), "SELECT COUNT(*) FROM sec_t WHERE id = 100")
			if err == nil && n == 1 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("the replica never got the row: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n, err := mysqldInt(ctx, sh.Primary().DBAParams(), "SELECT variable_value = 'ON' FROM information_schema.global_status WHERE variable_name = 'Rpl_semi_sync_master_status'"); err != nil || n != 1 {
			t.Errorf("semi-sync is off on the primary: %d %v", n, err)
		}
		if n, err := mysqldInt(ctx, sh.Primary().DBAParams(), "SELECT variable_value FROM information_schema.global_status WHERE variable_name = 'Rpl_semi_sync_master_clients'"); err != nil || n < 1 {
			t.Errorf("no semi-sync replica: %d %v", n, err)
		}
		if n, err := mysqldInt(ctx, replica.DBAParams(), "SELECT COUNT(*) FROM sec_log"); err != nil || n != 0 {
			t.Errorf("the replica's sec_log: %d %v", n, err)
		}
	})

	t.Run("MariadbdIsNotRoot", func(t *testing.T) {
		for ks, shards := range c.Shards {
			for sh, s := range shards {
				for _, tb := range s.Tablets {
					pid := tb.Agent.Mysqld().PID()
					out, err := exec.Command("ps", "-o", "user=", "-p", strconv.Itoa(pid)).Output()
					user := strings.TrimSpace(string(out))
					if err != nil || user == "" || user == "root" {
						t.Errorf("mariadbd of %s/%s (pid %d) runs as %q: %v", ks, sh, pid, user, err)
					}
				}
			}
		}
	})
}

// mysqldInt runs a one-number query on a mysqld with p.
func mysqldInt(ctx context.Context, p mysqlconn.Params, q string) (int, error) {
	c, err := mysqlconn.Dial(ctx, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	res, err := c.Execute(q, 1)
	if err != nil {
		return 0, err
	}
	if len(res.Rows) != 1 {
		return 0, fmt.Errorf("%s: %d rows", q, len(res.Rows))
	}
	vals, err := mysqlconn.RowValues(res.Rows[0], 1)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(vals[0]))
}
