package flavor

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
)

// MariaDB is the flavor of MariaDB 10.x GTID replication.
//
// Positions are @@gtid_binlog_pos, not @@gtid_current_pos. Every tablet
// runs with log_slave_updates, so its binlog holds everything it has,
// whether it wrote it as a primary or applied it as a replica; that binlog
// is also what its replicas read from. gtid_current_pos mixes in
// gtid_slave_pos by a rule that depends on which server_id wrote each
// domain's last GTID, and on a former replica it can report a stale
// position. Replication itself runs with MASTER_USE_GTID=slave_pos; before
// pointing a server at a new source, SetReplicationSource copies
// gtid_binlog_pos into gtid_slave_pos, so that a demoted primary resumes
// after the transactions it wrote itself instead of asking for them again.
type MariaDB struct{}

var _ Flavor = MariaDB{}

// Name implements Flavor.
func (MariaDB) Name() string { return "mariadb" }

// Position implements Flavor.
func (MariaDB) Position(ctx context.Context, q Querier) (string, error) {
	return queryValue(ctx, q, "SELECT @@GLOBAL.gtid_binlog_pos AS pos", "pos")
}

// ReplicationStatus implements Flavor.
func (f MariaDB) ReplicationStatus(ctx context.Context, q Querier) (*tabletmanagerpb.ReplicationStatus, error) {
	pos, err := f.Position(ctx, q)
	if err != nil {
		return nil, err
	}
	st := &tabletmanagerpb.ReplicationStatus{Position: pos}
	rows, err := q.Query(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return st, nil
	}
	r := rows[0]
	st.IoRunning = r["Slave_IO_Running"] == "Yes"
	st.SqlRunning = r["Slave_SQL_Running"] == "Yes"
	st.LagSeconds = uint32(atoiOr0(r["Seconds_Behind_Master"]))
	st.SourceHost = r["Master_Host"]
	st.SourcePort = int32(atoiOr0(r["Master_Port"]))
	st.LastIoError = r["Last_IO_Error"]
	st.LastSqlError = r["Last_SQL_Error"]
	st.RelayPosition = r["Gtid_IO_Pos"]
	st.LastIoErrno = uint32(atoiOr0(r["Last_IO_Errno"]))
	st.LastSqlErrno = uint32(atoiOr0(r["Last_SQL_Errno"]))
	return st, nil
}

// SetReplicationSource implements Flavor.
func (f MariaDB) SetReplicationSource(ctx context.Context, q Querier, src Source) error {
	if err := q.Exec(ctx, "STOP SLAVE"); err != nil {
		return fmt.Errorf("STOP SLAVE: %w", err)
	}
	row, err := queryOne(ctx, q, "SELECT @@GLOBAL.gtid_binlog_pos AS binlog_pos, @@GLOBAL.gtid_slave_pos AS slave_pos")
	if err != nil {
		return err
	}
	if bp := row["binlog_pos"]; bp != "" && bp != row["slave_pos"] {
		if err := q.Exec(ctx, "SET GLOBAL gtid_slave_pos = "+quote(bp)); err != nil {
			return fmt.Errorf("set gtid_slave_pos: %w", err)
		}
	}
	return execAll(ctx, q, fmt.Sprintf(
		"CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %d, MASTER_USER = %s, MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
		quote(src.Host), src.Port, quote(src.User), quote(src.Password)))
}

// StartReplication implements Flavor. The semi-sync replica setting is
// read when the IO thread starts, so it is set first.
func (MariaDB) StartReplication(ctx context.Context, q Querier, semiSync bool) error {
	return execAll(ctx, q,
		"SET GLOBAL rpl_semi_sync_slave_enabled = "+onOff(semiSync),
		"START SLAVE")
}

// StopReplication implements Flavor.
func (MariaDB) StopReplication(ctx context.Context, q Querier) error {
	return execAll(ctx, q, "STOP SLAVE")
}

// StopReplicationIO implements Flavor.
func (MariaDB) StopReplicationIO(ctx context.Context, q Querier) error {
	return execAll(ctx, q, "STOP SLAVE IO_THREAD")
}

// ResetReplication implements Flavor.
func (MariaDB) ResetReplication(ctx context.Context, q Querier) error {
	return execAll(ctx, q, "STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL rpl_semi_sync_slave_enabled = OFF")
}

// WaitForPosition implements Flavor with MASTER_GTID_WAIT, which waits on
// gtid_slave_pos: what replication has applied.
func (MariaDB) WaitForPosition(ctx context.Context, q Querier, pos string, timeout time.Duration) error {
	v, err := queryValue(ctx, q, fmt.Sprintf("SELECT MASTER_GTID_WAIT(%s, %s) AS r", quote(pos), timeoutSeconds(timeout)), "r")
	if err != nil {
		return err
	}
	switch v {
	case "0":
		return nil
	case "-1":
		return fmt.Errorf("%w %s after %v", ErrWaitTimeout, pos, timeout)
	}
	return fmt.Errorf("MASTER_GTID_WAIT returned %q", v)
}

// SetReadOnly implements Flavor. MariaDB's read_only already refuses
// writes from every user without the READ_ONLY ADMIN privilege, and
// SET GLOBAL read_only = ON waits for commits in progress.
func (MariaDB) SetReadOnly(ctx context.Context, q Querier, on bool) error {
	return execAll(ctx, q, "SET GLOBAL read_only = "+onOff(on))
}

// ReadOnly implements Flavor.
func (MariaDB) ReadOnly(ctx context.Context, q Querier) (bool, error) {
	v, err := queryValue(ctx, q, "SELECT @@GLOBAL.read_only AS ro", "ro")
	if err != nil {
		return false, err
	}
	return v == "1", nil
}

// SetSemiSyncSource implements Flavor. MariaDB has semi-sync built in (no
// plugin) and always waits for exactly one replica's ack, so acks is 0
// (off) or 1. AFTER_SYNC makes a commit visible only once a replica has
// it, so a failover loses no acknowledged write.
func (MariaDB) SetSemiSyncSource(ctx context.Context, q Querier, acks int, timeout time.Duration) error {
	switch {
	case acks <= 0:
		return execAll(ctx, q, "SET GLOBAL rpl_semi_sync_master_enabled = OFF")
	case acks > 1:
		return fmt.Errorf("mariadb semi-sync waits for one ack, not %d", acks)
	}
	return execAll(ctx, q,
		"SET GLOBAL rpl_semi_sync_master_timeout = "+strconv.FormatInt(timeout.Milliseconds(), 10),
		"SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC",
		"SET GLOBAL rpl_semi_sync_master_enabled = ON")
}

// MaxSemiSyncAcks implements Flavor.
func (MariaDB) MaxSemiSyncAcks() int { return 1 }

// SemiSyncClients implements Flavor.
func (MariaDB) SemiSyncClients(ctx context.Context, q Querier) (int, error) {
	return statusInt(ctx, q, "Rpl_semi_sync_master_clients")
}

// ReplicaServerIDs implements Flavor.
func (MariaDB) ReplicaServerIDs(ctx context.Context, q Querier) ([]uint64, error) {
	return serverIDs(ctx, q, "SHOW SLAVE HOSTS", "Server_id")
}

// PositionAt implements Flavor with BINLOG_GTID_POS, which reads the
// binlog file's GTID list and events up to offset.
func (MariaDB) PositionAt(ctx context.Context, q Querier, file string, offset int64) (string, error) {
	v, err := queryValue(ctx, q, fmt.Sprintf("SELECT BINLOG_GTID_POS(%s, %d) AS pos", quote(file), offset), "pos")
	if err != nil {
		return "", err
	}
	return v, nil
}

// ResetToPosition implements Flavor: after RESET MASTER the binlog is
// empty, so gtid_binlog_state may be set; gtid_slave_pos tells
// MASTER_USE_GTID=slave_pos where to resume.
func (MariaDB) ResetToPosition(ctx context.Context, q Querier, pos string) error {
	return execAll(ctx, q,
		"STOP SLAVE",
		"RESET MASTER",
		"SET GLOBAL gtid_binlog_state = "+quote(pos),
		"SET GLOBAL gtid_slave_pos = "+quote(pos))
}

// PositionAtLeast implements Flavor. A MariaDB position lists one
// domain-server-seqno per replication domain; with gtid_strict_mode the
// sequence numbers of a domain only grow, so a holds b when, in every
// domain of b, its sequence number is at least b's.
func (MariaDB) PositionAtLeast(a, b string) (bool, error) {
	pa, err := parseMariaDBPosition(a)
	if err != nil {
		return false, err
	}
	pb, err := parseMariaDBPosition(b)
	if err != nil {
		return false, err
	}
	for domain, seq := range pb {
		if pa[domain] < seq {
			return false, nil
		}
	}
	return true, nil
}

// parseMariaDBPosition maps each domain of a position to its sequence
// number.
func parseMariaDBPosition(pos string) (map[uint64]uint64, error) {
	out := map[uint64]uint64{}
	for _, g := range strings.Split(pos, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		parts := strings.Split(g, "-")
		if len(parts) != 3 {
			return nil, fmt.Errorf("bad mariadb gtid %q in position %q", g, pos)
		}
		var nums [3]uint64
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad mariadb gtid %q in position %q", g, pos)
			}
			nums[i] = n
		}
		if nums[2] > out[nums[0]] {
			out[nums[0]] = nums[2]
		}
	}
	return out, nil
}

// History implements Flavor.
func (MariaDB) History(ctx context.Context, q Querier) (string, error) {
	return queryValue(ctx, q, "SELECT @@GLOBAL.gtid_binlog_state AS state", "state")
}

// Errant implements Flavor. With gtid_strict_mode a domain's history is
// one line of growing sequence numbers, and a server's binlog state holds
// the last GTID each server id wrote in each domain. mine's history
// reaches primary's when primary holds mine's last GTID d-s-n of every
// domain. primary lacks it when it holds s's GTIDs of d only up to a
// lower number, or when nothing of d in primary is as high as n. When
// primary's newest GTID of d is higher but nothing of s is in its state
// (its binlog was reset since), Errant cannot tell and reports nothing:
// replication itself refuses to start from a GTID its source lacks.
func (MariaDB) Errant(mine, primary string) (string, error) {
	m, err := parseMariaDBState(mine)
	if err != nil {
		return "", err
	}
	p, err := parseMariaDBState(primary)
	if err != nil {
		return "", err
	}
	var out []string
	for _, last := range lastPerDomain(m) {
		got, ok := p[last.domain][last.server]
		top := uint64(0)
		for _, seq := range p[last.domain] {
			top = max(top, seq)
		}
		if (ok && got < last.seq) || (!ok && top < last.seq) {
			out = append(out, fmt.Sprintf("%d-%d-%d", last.domain, last.server, last.seq))
		}
	}
	return strings.Join(out, ","), nil
}

type mariaGTID struct{ domain, server, seq uint64 }

// parseMariaDBState maps each domain and server id of a GTID list (a
// position or a binlog state) to its sequence number.
func parseMariaDBState(s string) (map[uint64]map[uint64]uint64, error) {
	out := map[uint64]map[uint64]uint64{}
	for _, g := range strings.Split(s, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		var d, srv, seq uint64
		if _, err := fmt.Sscanf(g, "%d-%d-%d", &d, &srv, &seq); err != nil || fmt.Sprintf("%d-%d-%d", d, srv, seq) != g {
			return nil, fmt.Errorf("bad mariadb gtid %q in %q", g, s)
		}
		if out[d] == nil {
			out[d] = map[uint64]uint64{}
		}
		out[d][srv] = max(out[d][srv], seq)
	}
	return out, nil
}

// lastPerDomain returns the newest GTID of each domain, by domain.
func lastPerDomain(st map[uint64]map[uint64]uint64) []mariaGTID {
	var out []mariaGTID
	for d, servers := range st {
		last := mariaGTID{domain: d}
		for srv, seq := range servers {
			if seq > last.seq || (seq == last.seq && srv < last.server) {
				last.server, last.seq = srv, seq
			}
		}
		out = append(out, last)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].domain < out[j].domain })
	return out
}
