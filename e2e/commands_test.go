package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proxy"
)

type proxyConfig = proxy.Config

// rawConn opens a go-mysql client connection, which can send any command.
func rawConn(t *testing.T, addr, user, password, db string) *client.Conn {
	t.Helper()
	conn, err := client.Connect(addr, user, password, db)
	if err != nil {
		t.Fatalf("connect %s as %s: %v", addr, user, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// command sends a bare command packet and returns the first response
// packet.
func command(t *testing.T, conn *client.Conn, payload ...byte) []byte {
	t.Helper()
	conn.ResetSequence()
	if err := conn.WritePacket(append([]byte{0, 0, 0, 0}, payload...)); err != nil {
		t.Fatal(err)
	}
	data, err := conn.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func myErrCode(err error) uint16 {
	var me *gomysql.MyError
	if errors.As(err, &me) {
		return me.Code
	}
	return 0
}

// testCommands covers COM_PING, COM_FIELD_LIST, COM_STATISTICS,
// COM_SET_OPTION and COM_RESET_CONNECTION (COM_CHANGE_USER is in the
// authentication test).
func testCommands(t *testing.T, c *cluster.Cluster) {
	conn := rawConn(t, c.GateAddr, "root", "", "commerce")
	if err := conn.Ping(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Execute("create table fl (id bigint primary key, name varchar(10), note text)"); err != nil {
		t.Fatal(err)
	}
	fields, err := conn.FieldList("fl", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fields {
		names = append(names, string(f.Name))
	}
	if strings.Join(names, ",") != "id,name,note" {
		t.Fatalf("field list %v", names)
	}
	if fields, err = conn.FieldList("fl", "n%"); err != nil || len(fields) != 2 {
		t.Fatalf("field list with wildcard: %d fields, %v", len(fields), err)
	}
	if _, err := conn.FieldList("nosuch", ""); myErrCode(err) != 1146 {
		t.Fatalf("field list of a missing table: %v", err)
	}

	if stats := string(command(t, conn, 0x09)); !strings.HasPrefix(stats, "Uptime: ") || !strings.Contains(stats, "Threads: ") {
		t.Fatalf("statistics %q", stats)
	}

	// COM_SET_OPTION turns multi-statements off and on again.
	if r := command(t, conn, 0x1b, 1, 0); r[0] != 0xfe {
		t.Fatalf("set option off: %x", r)
	}
	if _, err := conn.Execute("select 1; select 2"); myErrCode(err) != 1064 {
		t.Fatalf("batch with multi-statements off: %v", err)
	}
	if r := command(t, conn, 0x1b, 0, 0); r[0] != 0xfe {
		t.Fatalf("set option on: %x", r)
	}
	n := 0
	if _, err := conn.ExecuteMultiple("select 1; select 2", func(*gomysql.Result, error) { n++ }); err != nil || n != 2 {
		t.Fatalf("batch with multi-statements on: %d results, %v", n, err)
	}

	// COM_RESET_CONNECTION rolls back and forgets the session.
	if _, err := conn.Execute("begin"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Execute("insert into fl values (1, 'gone', '')"); err != nil {
		t.Fatal(err)
	}
	if r := command(t, conn, 0x1f); r[0] != 0x00 {
		t.Fatalf("reset connection: %x", r)
	}
	r, err := conn.Execute("select count(*) from fl")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.GetInt(0, 0); v != 0 {
		t.Fatalf("%d rows after reset: the transaction was not rolled back", v)
	}
	// An unknown command gets 1047 and the connection stays.
	if r := command(t, conn, 0x1d); r[0] != 0xff {
		t.Fatalf("unknown command: %x", r)
	}
	if err := conn.Ping(); err != nil {
		t.Fatal(err)
	}
	// COM_QUIT ends the connection.
	conn.ResetSequence()
	conn.WritePacket([]byte{0, 0, 0, 0, 0x01})
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.ReadPacket(); err == nil {
		t.Fatal("connection still open after COM_QUIT")
	}
}

// testKillAndTimeouts covers KILL QUERY, KILL, the MAX_EXECUTION_TIME hint,
// SET max_execution_time, SET max_statement_time and --query-timeout: the
// statement ends with its error and its mysqld query is killed.
func testKillAndTimeouts(t *testing.T, c *cluster.Cluster) {
	direct := openDirect(t, c.DirectDSN("commerce", "0"))
	waitNoSleep := func(marker string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			n := count(t, direct, "select count(*) from information_schema.processlist where info like '%"+marker+"%' and info not like '%processlist%'")
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("mysqld still runs the %s query", marker)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	run := func(conn *client.Conn, q string) (time.Duration, error) {
		start := time.Now()
		_, err := conn.Execute(q)
		return time.Since(start), err
	}

	victim := rawConn(t, c.GateAddr, "root", "", "commerce")
	killer := c.DB(t, "commerce")
	done := make(chan error, 1)
	go func() {
		_, err := run(victim, "select sleep(30) as killme1")
		done <- err
	}()
	// Wait until the statement runs on mysqld, then kill it.
	deadline := time.Now().Add(20 * time.Second)
	for count(t, direct, "select count(*) from information_schema.processlist where info like '%killme1%' and info not like '%processlist%'") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the victim's query never reached mysqld")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustExec(t, killer, fmt.Sprintf("kill query %d", victim.GetConnectionID()))
	select {
	case err := <-done:
		if myErrCode(err) != 1317 {
			t.Fatalf("killed query: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("KILL QUERY did not stop the statement")
	}
	waitNoSleep("killme1")
	if err := victim.Ping(); err != nil {
		t.Fatalf("the connection died with its query: %v", err)
	}
	_, err := killer.Exec("kill 4000000000")
	if code, _ := mysqlErr(t, err); code != 1094 {
		t.Fatalf("kill of an unknown id: %v", err)
	}
	mustExec(t, killer, fmt.Sprintf("kill %d", victim.GetConnectionID()))
	if err := victim.Ping(); err == nil {
		t.Fatal("connection alive after KILL")
	}

	conn := rawConn(t, c.GateAddr, "root", "", "commerce")
	check := func(q string, code uint16, marker string) {
		t.Helper()
		took, err := run(conn, q)
		if myErrCode(err) != code || took > 10*time.Second {
			t.Fatalf("%s: %v after %v, want error %d", q, err, took, code)
		}
		waitNoSleep(marker)
	}
	check("select /*+ MAX_EXECUTION_TIME(300) */ sleep(20) as hint1", 3024, "hint1")
	if _, err := conn.Execute("set max_execution_time = 300"); err != nil {
		t.Fatal(err)
	}
	check("select sleep(20) as met1", 3024, "met1")
	if _, err := conn.Execute("set max_execution_time = 0, max_statement_time = 0.3"); err != nil {
		t.Fatal(err)
	}
	check("select sleep(20) as mst1", 1969, "mst1")
	if _, err := conn.Execute("set max_statement_time = default"); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.Execute("select sleep(0.5) as s"); err != nil || r.RowNumber() != 1 {
		t.Fatalf("a statement under no limit: %v", err)
	}

	addr := c.StartExtraGate(t, func(cfg *proxyConfig) { cfg.QueryTimeout = 300 * time.Millisecond })
	conn = rawConn(t, addr, "root", "", "commerce")
	check("select sleep(20) as qt1", 3024, "qt1")
}

// testConnectionLimits covers --max-connections (1040) and --idle-timeout.
func testConnectionLimits(t *testing.T, c *cluster.Cluster) {
	addr := c.StartExtraGate(t, func(cfg *proxyConfig) { cfg.MaxConnections = 2 })
	rawConn(t, addr, "root", "", "commerce")
	second := rawConn(t, addr, "root", "", "commerce")
	_, err := client.Connect(addr, "root", "", "commerce")
	if myErrCode(err) != 1040 {
		t.Fatalf("third connection: %v", err)
	}
	second.Close()
	// The slot frees once the gate has seen the close.
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := client.Connect(addr, "root", "", "commerce")
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	addr = c.StartExtraGate(t, func(cfg *proxyConfig) { cfg.IdleTimeout = 300 * time.Millisecond })
	conn := rawConn(t, addr, "root", "", "commerce")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.ReadPacket(); err == nil {
		t.Fatal("idle connection got a packet")
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 15*time.Second {
		t.Fatalf("idle connection closed after %v, want about 300ms", took)
	}
	busy := rawConn(t, addr, "root", "", "commerce")
	if _, err := busy.Execute("select sleep(0.6)"); err != nil {
		t.Fatalf("a statement longer than the idle timeout: %v", err)
	}
}
