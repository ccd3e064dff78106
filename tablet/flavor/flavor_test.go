package flavor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// fakeQuerier records every statement as a line and answers queries from
// canned rows keyed by statement prefix.
type fakeQuerier struct {
	lines   []string
	answers map[string][]mysqlconn.Row
}

func (f *fakeQuerier) Exec(_ context.Context, sql string) error {
	f.lines = append(f.lines, "exec "+sql)
	return nil
}

func (f *fakeQuerier) Query(_ context.Context, sql string) ([]mysqlconn.Row, error) {
	f.lines = append(f.lines, "query "+sql)
	for prefix, rows := range f.answers {
		if strings.HasPrefix(sql, prefix) {
			return rows, nil
		}
	}
	return nil, errors.New("no canned answer for " + sql)
}

func check(t *testing.T, f *fakeQuerier, want ...string) {
	t.Helper()
	if strings.Join(f.lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("statements:\n%s\nwant:\n%s", strings.Join(f.lines, "\n"), strings.Join(want, "\n"))
	}
	f.lines = nil
}

func TestMariaDBSQL(t *testing.T) {
	ctx := context.Background()
	f := &fakeQuerier{answers: map[string][]mysqlconn.Row{
		"SELECT @@GLOBAL.gtid_binlog_pos AS binlog_pos": {{"binlog_pos": "0-101-7", "slave_pos": "0-101-3"}},
		"SELECT @@GLOBAL.gtid_binlog_pos AS pos":        {{"pos": "0-101-7"}},
		"SHOW SLAVE STATUS": {{
			"Slave_IO_Running": "Yes", "Slave_SQL_Running": "No", "Seconds_Behind_Master": "4",
			"Master_Host": "127.0.0.1", "Master_Port": "17101", "Gtid_IO_Pos": "0-101-9", "Last_SQL_Error": "boom",
		}},
		"SELECT MASTER_GTID_WAIT('0-101-9', 1.500)": {{"r": "0"}},
		"SELECT MASTER_GTID_WAIT('0-101-10'":        {{"r": "-1"}},
		"SELECT @@GLOBAL.read_only":                 {{"ro": "1"}},
	}}
	m := MariaDB{}
	if err := m.SetReplicationSource(ctx, f, Source{Host: "h1", Port: 17101, User: "repl", Password: "p'w"}); err != nil {
		t.Fatal(err)
	}
	check(t, f,
		"exec STOP SLAVE",
		"query SELECT @@GLOBAL.gtid_binlog_pos AS binlog_pos, @@GLOBAL.gtid_slave_pos AS slave_pos",
		"exec SET GLOBAL gtid_slave_pos = '0-101-7'",
		`exec CHANGE MASTER TO MASTER_HOST = 'h1', MASTER_PORT = 17101, MASTER_USER = 'repl', MASTER_PASSWORD = 'p\'w', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1`)

	st, err := m.ReplicationStatus(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !st.IoRunning || st.SqlRunning || st.LagSeconds != 4 || st.SourcePort != 17101 || st.Position != "0-101-7" || st.RelayPosition != "0-101-9" || st.LastSqlError != "boom" {
		t.Errorf("status = %v", st)
	}
	check(t, f, "query SELECT @@GLOBAL.gtid_binlog_pos AS pos", "query SHOW SLAVE STATUS")

	if err := m.StartReplication(ctx, f, true); err != nil {
		t.Fatal(err)
	}
	check(t, f, "exec SET GLOBAL rpl_semi_sync_slave_enabled = ON", "exec START SLAVE")
	if err := m.ResetReplication(ctx, f); err != nil {
		t.Fatal(err)
	}
	check(t, f, "exec STOP SLAVE", "exec RESET SLAVE ALL", "exec SET GLOBAL rpl_semi_sync_slave_enabled = OFF")
	if err := m.WaitForPosition(ctx, f, "0-101-9", 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitForPosition(ctx, f, "0-101-10", time.Second); !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("WaitForPosition past timeout: %v", err)
	}
	f.lines = nil
	if err := m.SetSemiSyncSource(ctx, f, 1, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	check(t, f,
		"exec SET GLOBAL rpl_semi_sync_master_timeout = 2000",
		"exec SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC",
		"exec SET GLOBAL rpl_semi_sync_master_enabled = ON")
	if err := m.SetSemiSyncSource(ctx, f, 2, time.Second); err == nil {
		t.Fatal("mariadb accepted two semi-sync acks")
	}
	if err := m.SetSemiSyncSource(ctx, f, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	check(t, f, "exec SET GLOBAL rpl_semi_sync_master_enabled = OFF")
	if err := m.StopReplicationIO(ctx, f); err != nil {
		t.Fatal(err)
	}
	check(t, f, "exec STOP SLAVE IO_THREAD")
	if err := m.ResetToPosition(ctx, f, "0-101-9"); err != nil {
		t.Fatal(err)
	}
	check(t, f, "exec STOP SLAVE", "exec RESET MASTER", "exec SET GLOBAL gtid_binlog_state = '0-101-9'", "exec SET GLOBAL gtid_slave_pos = '0-101-9'")
	f.answers["SELECT BINLOG_GTID_POS"] = []mysqlconn.Row{{"pos": "0-101-8"}}
	if pos, err := m.PositionAt(ctx, f, "mysql-bin.000002", 385); err != nil || pos != "0-101-8" {
		t.Fatalf("PositionAt = %q, %v", pos, err)
	}
	check(t, f, "query SELECT BINLOG_GTID_POS('mysql-bin.000002', 385) AS pos")
	if err := m.SetReadOnly(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	check(t, f, "exec SET GLOBAL read_only = OFF")
	if ro, err := m.ReadOnly(ctx, f); err != nil || !ro {
		t.Fatalf("ReadOnly = %v, %v", ro, err)
	}
}

func TestMySQL8SQL(t *testing.T) {
	ctx := context.Background()
	f := &fakeQuerier{answers: map[string][]mysqlconn.Row{
		"SELECT @@GLOBAL.gtid_executed": {{"pos": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"}},
		"SHOW REPLICA STATUS": {{
			"Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes", "Seconds_Behind_Source": "0",
			"Source_Host": "h", "Source_Port": "3306", "Retrieved_Gtid_Set": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6",
		}},
		"SELECT WAIT_FOR_EXECUTED_GTID_SET": {{"r": "1"}},
	}}
	m := MySQL8{}
	if err := m.SetReplicationSource(ctx, f, Source{Host: "h", Port: 3306, User: "repl", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	check(t, f,
		"exec STOP REPLICA",
		"exec CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'h', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'pw', SOURCE_AUTO_POSITION = 1, SOURCE_CONNECT_RETRY = 1, GET_SOURCE_PUBLIC_KEY = 1")
	st, err := m.ReplicationStatus(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !st.IoRunning || !st.SqlRunning || st.SourceHost != "h" || st.Position != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5" {
		t.Errorf("status = %v", st)
	}
	check(t, f, "query SELECT @@GLOBAL.gtid_executed AS pos", "query SHOW REPLICA STATUS")
	if err := m.StartReplication(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	check(t, f, "exec SET GLOBAL rpl_semi_sync_replica_enabled = OFF", "exec START REPLICA")
	if err := m.ResetReplication(ctx, f); err != nil {
		t.Fatal(err)
	}
	check(t, f, "exec STOP REPLICA", "exec RESET REPLICA ALL")
	if err := m.WaitForPosition(ctx, f, "x:1-9", 2*time.Second); !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("WaitForPosition: %v", err)
	}
	check(t, f, "query SELECT WAIT_FOR_EXECUTED_GTID_SET('x:1-9', 2.000) AS r")
	if err := m.SetReadOnly(ctx, f, true); err != nil {
		t.Fatal(err)
	}
	if err := m.SetReadOnly(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	check(t, f, "exec SET GLOBAL super_read_only = ON", "exec SET GLOBAL super_read_only = OFF", "exec SET GLOBAL read_only = OFF")
	if err := m.SetSemiSyncSource(ctx, f, 2, time.Second); err != nil {
		t.Fatal(err)
	}
	check(t, f,
		"exec SET GLOBAL rpl_semi_sync_source_timeout = 1000",
		"exec SET GLOBAL rpl_semi_sync_source_wait_point = AFTER_SYNC",
		"exec SET GLOBAL rpl_semi_sync_source_wait_for_replica_count = 2",
		"exec SET GLOBAL rpl_semi_sync_source_enabled = ON")
}

func TestByNameAndRedact(t *testing.T) {
	if f, err := ByName("mariadb"); err != nil || f.Name() != "mariadb" {
		t.Errorf("ByName(mariadb) = %v, %v", f, err)
	}
	if f, err := ByName("mysql8"); err != nil || f.Name() != "mysql8" {
		t.Errorf("ByName(mysql8) = %v, %v", f, err)
	}
	if _, err := ByName("oracle"); err == nil {
		t.Error("ByName(oracle) succeeded")
	}
	got := redactPassword("CHANGE MASTER TO MASTER_PASSWORD = 'secret', MASTER_USE_GTID = slave_pos")
	if strings.Contains(got, "secret") {
		t.Errorf("redact: %s", got)
	}
}

func TestPositionAtLeast(t *testing.T) {
	for _, c := range []struct {
		f    Flavor
		a, b string
		want bool
	}{
		{MariaDB{}, "0-101-9", "0-101-9", true},
		{MariaDB{}, "0-102-10", "0-101-9", true},
		{MariaDB{}, "0-101-8", "0-101-9", false},
		{MariaDB{}, "0-101-9", "", true},
		{MariaDB{}, "", "0-101-1", false},
		{MariaDB{}, "0-101-9,1-5-3", "1-5-4", false},
		{MariaDB{}, "0-101-9,1-5-4", "0-101-2,1-5-4", true},
		{MySQL8{}, "u:1-10", "u:1-5:7", true},
		{MySQL8{}, "u:1-5:7-9", "u:1-6", false},
		{MySQL8{}, "u:1-5,v:1-2", "v:2", true},
		{MySQL8{}, "u:1-5", "v:1", false},
	} {
		got, err := c.f.PositionAtLeast(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("%s PositionAtLeast(%q, %q) = %v, %v; want %v", c.f.Name(), c.a, c.b, got, err, c.want)
		}
	}
	if _, err := (MariaDB{}).PositionAtLeast("0-1", "0-1-2"); err == nil {
		t.Error("bad mariadb position parsed")
	}
}

// Errant finds what a server holds that the primary it is about to follow
// lacks: the old primary's last transaction that no replica received,
// whether or not the new primary has written since, and not the history
// both share.
func TestErrant(t *testing.T) {
	for _, c := range []struct {
		f             Flavor
		mine, primary string
		want          string
	}{
		// The old primary 101 wrote 0-101-500 that nobody received; the new
		// primary 102 stopped at 0-101-499 and wrote on.
		{MariaDB{}, "0-100-7,0-101-500", "0-100-7,0-101-499,0-102-520", "0-101-500"},
		// ... and before it wrote anything.
		{MariaDB{}, "0-101-500", "0-101-499", "0-101-500"},
		// Everything it wrote reached the new primary.
		{MariaDB{}, "0-101-500", "0-101-500,0-102-501", ""},
		{MariaDB{}, "0-101-500", "0-101-500", ""},
		// A replica that is only behind is not errant.
		{MariaDB{}, "0-101-300", "0-101-500,0-102-501", ""},
		// The new primary's binlog was reset past our last GTID: it
		// cannot be told here (replication itself refuses it).
		{MariaDB{}, "0-103-40", "0-101-500", ""},
		// Domains are apart.
		{MariaDB{}, "0-101-5,1-101-9", "0-101-5,1-102-8", "1-101-9"},
		{MySQL8{}, "u:1-10", "u:1-10,v:1-3", ""},
		{MySQL8{}, "u:1-11", "u:1-10,v:1-3", "u:1-11"},
	} {
		got, err := c.f.Errant(c.mine, c.primary)
		if err != nil || got != c.want {
			t.Errorf("%s Errant(%q, %q) = %q, %v; want %q", c.f.Name(), c.mine, c.primary, got, err, c.want)
		}
	}
	if _, err := (MariaDB{}).Errant("0-1", "0-1-2"); err == nil {
		t.Error("bad mariadb state parsed")
	}
}
