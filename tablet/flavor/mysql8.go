package flavor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
)

// MySQL8 is the flavor of MySQL 8.0.23+ GTID replication with
// auto-positioning. Positions are @@GLOBAL.gtid_executed. Semi-sync needs
// the semisync_source and semisync_replica plugins loaded by the server's
// config (plugin-load-add); this flavor does not install them.
//
// It is unit-tested for the SQL it produces only: Mosaic has not run it
// against a real MySQL server yet.
type MySQL8 struct{}

var _ Flavor = MySQL8{}

// Name implements Flavor.
func (MySQL8) Name() string { return "mysql8" }

// Position implements Flavor.
func (MySQL8) Position(ctx context.Context, q Querier) (string, error) {
	return queryValue(ctx, q, "SELECT @@GLOBAL.gtid_executed AS pos", "pos")
}

// ReplicationStatus implements Flavor.
func (f MySQL8) ReplicationStatus(ctx context.Context, q Querier) (*tabletmanagerpb.ReplicationStatus, error) {
	pos, err := f.Position(ctx, q)
	if err != nil {
		return nil, err
	}
	st := &tabletmanagerpb.ReplicationStatus{Position: pos}
	rows, err := q.Query(ctx, "SHOW REPLICA STATUS")
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return st, nil
	}
	r := rows[0]
	st.IoRunning = r["Replica_IO_Running"] == "Yes"
	st.SqlRunning = r["Replica_SQL_Running"] == "Yes"
	st.LagSeconds = uint32(atoiOr0(r["Seconds_Behind_Source"]))
	st.SourceHost = r["Source_Host"]
	st.SourcePort = int32(atoiOr0(r["Source_Port"]))
	st.LastIoError = r["Last_IO_Error"]
	st.LastSqlError = r["Last_SQL_Error"]
	st.RelayPosition = r["Retrieved_Gtid_Set"]
	st.LastIoErrno = uint32(atoiOr0(r["Last_IO_Errno"]))
	st.LastSqlErrno = uint32(atoiOr0(r["Last_SQL_Errno"]))
	return st, nil
}

// SetReplicationSource implements Flavor. With auto-positioning the
// replica sends its gtid_executed, so nothing needs copying first.
// GET_SOURCE_PUBLIC_KEY lets caching_sha2_password work without TLS.
func (MySQL8) SetReplicationSource(ctx context.Context, q Querier, src Source) error {
	return execAll(ctx, q,
		"STOP REPLICA",
		fmt.Sprintf("CHANGE REPLICATION SOURCE TO SOURCE_HOST = %s, SOURCE_PORT = %d, SOURCE_USER = %s, SOURCE_PASSWORD = %s, SOURCE_AUTO_POSITION = 1, SOURCE_CONNECT_RETRY = 1, GET_SOURCE_PUBLIC_KEY = 1",
			quote(src.Host), src.Port, quote(src.User), quote(src.Password)))
}

// StartReplication implements Flavor.
func (MySQL8) StartReplication(ctx context.Context, q Querier, semiSync bool) error {
	return execAll(ctx, q,
		"SET GLOBAL rpl_semi_sync_replica_enabled = "+onOff(semiSync),
		"START REPLICA")
}

// StopReplication implements Flavor.
func (MySQL8) StopReplication(ctx context.Context, q Querier) error {
	return execAll(ctx, q, "STOP REPLICA")
}

// StopReplicationIO implements Flavor.
func (MySQL8) StopReplicationIO(ctx context.Context, q Querier) error {
	return execAll(ctx, q, "STOP REPLICA IO_THREAD")
}

// ResetReplication implements Flavor.
func (MySQL8) ResetReplication(ctx context.Context, q Querier) error {
	return execAll(ctx, q, "STOP REPLICA", "RESET REPLICA ALL")
}

// WaitForPosition implements Flavor with WAIT_FOR_EXECUTED_GTID_SET
// (0: reached, 1: timed out).
func (MySQL8) WaitForPosition(ctx context.Context, q Querier, pos string, timeout time.Duration) error {
	v, err := queryValue(ctx, q, fmt.Sprintf("SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s) AS r", quote(pos), timeoutSeconds(timeout)), "r")
	if err != nil {
		return err
	}
	switch v {
	case "0":
		return nil
	case "1":
		return fmt.Errorf("%w %s after %v", ErrWaitTimeout, pos, timeout)
	}
	return fmt.Errorf("WAIT_FOR_EXECUTED_GTID_SET returned %q", v)
}

// SetReadOnly implements Flavor with super_read_only, which also stops
// users with SUPER; turning it off must clear both variables.
func (MySQL8) SetReadOnly(ctx context.Context, q Querier, on bool) error {
	if on {
		return execAll(ctx, q, "SET GLOBAL super_read_only = ON")
	}
	return execAll(ctx, q, "SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF")
}

// ReadOnly implements Flavor.
func (MySQL8) ReadOnly(ctx context.Context, q Querier) (bool, error) {
	v, err := queryValue(ctx, q, "SELECT @@GLOBAL.read_only AS ro", "ro")
	if err != nil {
		return false, err
	}
	return v == "1", nil
}

// SetSemiSyncSource implements Flavor: MySQL waits for acks replicas
// (rpl_semi_sync_source_wait_for_replica_count).
func (MySQL8) SetSemiSyncSource(ctx context.Context, q Querier, acks int, timeout time.Duration) error {
	if acks <= 0 {
		return execAll(ctx, q, "SET GLOBAL rpl_semi_sync_source_enabled = OFF")
	}
	return execAll(ctx, q,
		"SET GLOBAL rpl_semi_sync_source_timeout = "+strconv.FormatInt(timeout.Milliseconds(), 10),
		"SET GLOBAL rpl_semi_sync_source_wait_point = AFTER_SYNC",
		"SET GLOBAL rpl_semi_sync_source_wait_for_replica_count = "+strconv.Itoa(acks),
		"SET GLOBAL rpl_semi_sync_source_enabled = ON")
}

// MaxSemiSyncAcks implements Flavor.
func (MySQL8) MaxSemiSyncAcks() int { return 65535 }

// SemiSyncClients implements Flavor (the source plugin of 8.0.26 and
// later).
func (MySQL8) SemiSyncClients(ctx context.Context, q Querier) (int, error) {
	return statusInt(ctx, q, "Rpl_semi_sync_source_clients")
}

// ReplicaServerIDs implements Flavor (SHOW REPLICAS, 8.0.22 and later).
func (MySQL8) ReplicaServerIDs(ctx context.Context, q Querier) ([]uint64, error) {
	return serverIDs(ctx, q, "SHOW REPLICAS", "Server_Id")
}

// PositionAt implements Flavor: MySQL cannot map a binlog offset to a GTID
// set; a copy's Executed_Gtid_Set is consistent already.
func (MySQL8) PositionAt(context.Context, Querier, string, int64) (string, error) {
	return "", ErrUnsupported
}

// ResetToPosition implements Flavor: RESET MASTER empties gtid_executed,
// then gtid_purged declares pos as held.
func (MySQL8) ResetToPosition(ctx context.Context, q Querier, pos string) error {
	return execAll(ctx, q, "STOP REPLICA", "RESET MASTER", "SET GLOBAL gtid_purged = "+quote(pos))
}

// PositionAtLeast implements Flavor: GTID set containment, uuid by uuid.
func (MySQL8) PositionAtLeast(a, b string) (bool, error) {
	sa, err := parseMySQLGTIDSet(a)
	if err != nil {
		return false, err
	}
	sb, err := parseMySQLGTIDSet(b)
	if err != nil {
		return false, err
	}
	for uuid, ivs := range sb {
		for _, iv := range ivs {
			if !covered(sa[uuid], iv) {
				return false, nil
			}
		}
	}
	return true, nil
}

type interval struct{ lo, hi uint64 }

// covered reports whether iv lies inside the union of ivs.
func covered(ivs []interval, iv interval) bool {
	next := iv.lo
	for next <= iv.hi {
		found := false
		for _, c := range ivs {
			if c.lo <= next && next <= c.hi {
				next = c.hi + 1
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// parseMySQLGTIDSet parses "uuid:1-5:7,uuid2:1-3".
func parseMySQLGTIDSet(s string) (map[string][]interval, error) {
	out := map[string][]interval{}
	for _, part := range strings.Split(strings.ReplaceAll(s, "\n", ""), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fields := strings.Split(part, ":")
		if len(fields) < 2 {
			return nil, fmt.Errorf("bad gtid set %q", s)
		}
		uuid := strings.ToLower(fields[0])
		for _, r := range fields[1:] {
			lo, hi, isRange := strings.Cut(r, "-")
			l, err := strconv.ParseUint(lo, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad gtid set %q", s)
			}
			h := l
			if isRange {
				if h, err = strconv.ParseUint(hi, 10, 64); err != nil || h < l {
					return nil, fmt.Errorf("bad gtid set %q", s)
				}
			}
			out[uuid] = append(out[uuid], interval{l, h})
		}
	}
	return out, nil
}

// History implements Flavor.
func (MySQL8) History(ctx context.Context, q Querier) (string, error) {
	return queryValue(ctx, q, "SELECT @@GLOBAL.gtid_executed AS gtids", "gtids")
}

// Errant implements Flavor: GTID sets name every transaction, so mine is
// errant unless primary contains all of it; the answer is mine whole.
func (f MySQL8) Errant(mine, primary string) (string, error) {
	ok, err := f.PositionAtLeast(primary, mine)
	if err != nil || ok {
		return "", err
	}
	return mine, nil
}
