package flavor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// Querier runs SQL on mysqld with administrator rights. Implementations
// interrupt the statement when ctx ends.
type Querier interface {
	// Exec runs a statement that returns no rows.
	Exec(ctx context.Context, sql string) error
	// Query runs a statement and returns its rows by column name (NULL
	// columns absent).
	Query(ctx context.Context, sql string) ([]mysqlconn.Row, error)
}

// Source is the server a replica replicates from.
type Source struct {
	Host     string
	Port     int
	User     string
	Password string
}

// String implements fmt.Stringer without the password, so that a Source
// printed or logged shows none.
func (s Source) String() string { return fmt.Sprintf("%s@%s:%d", s.User, s.Host, s.Port) }

// LogValue implements slog.LogValuer: see String.
func (s Source) LogValue() slog.Value { return slog.StringValue(s.String()) }

// ErrWaitTimeout is returned by WaitForPosition when the timeout passed
// before the position was reached.
var ErrWaitTimeout = errors.New("timed out waiting for replication position")

// Flavor is the replication dialect of one kind of server.
type Flavor interface {
	// Name is what the tablet record's db_flavor says: "mariadb", "mysql8".
	Name() string
	// Position returns the GTID set of every transaction this server
	// holds (its own and replicated ones).
	Position(ctx context.Context, q Querier) (string, error)
	// ReplicationStatus returns the replica side's state. A server with
	// no source configured has an empty SourceHost.
	ReplicationStatus(ctx context.Context, q Querier) (*tabletmanagerpb.ReplicationStatus, error)
	// SetReplicationSource stops replication and points it at src by
	// GTID, resuming from what this server already holds. It does not
	// start replication.
	SetReplicationSource(ctx context.Context, q Querier, src Source) error
	// StartReplication starts both replication threads, first turning the
	// semi-sync replica side on or off.
	StartReplication(ctx context.Context, q Querier, semiSync bool) error
	// StopReplication stops both replication threads.
	StopReplication(ctx context.Context, q Querier) error
	// StopReplicationIO stops receiving from the source and lets the
	// applier finish what was received.
	StopReplicationIO(ctx context.Context, q Querier) error
	// ResetReplication stops replication and forgets the source, as a
	// server about to become a primary does.
	ResetReplication(ctx context.Context, q Querier) error
	// WaitForPosition blocks until the replica has applied pos, the
	// timeout passes (ErrWaitTimeout) or ctx ends.
	WaitForPosition(ctx context.Context, q Querier, pos string, timeout time.Duration) error
	// SetReadOnly turns the server's read-only mode on or off.
	SetReadOnly(ctx context.Context, q Querier, on bool) error
	// ReadOnly reports whether the server is read-only.
	ReadOnly(ctx context.Context, q Querier) (bool, error)
	// SetSemiSyncSource makes commits wait for acks replicas' acks (0
	// turns semi-sync off), falling back to asynchronous replication after
	// timeout without them. A flavor that cannot wait for that many acks
	// returns an error.
	SetSemiSyncSource(ctx context.Context, q Querier, acks int, timeout time.Duration) error
	// ResetToPosition makes a server restored from a physical copy hold
	// exactly pos: its own binlog history is dropped and pos becomes both
	// what it holds and where replication resumes.
	ResetToPosition(ctx context.Context, q Querier, pos string) error
	// PositionAtLeast reports whether position a holds every transaction
	// of b. It needs no server.
	PositionAtLeast(a, b string) (bool, error)
	// History returns what the server's binlog holds, in the form Errant
	// compares: MariaDB's gtid_binlog_state (the last GTID of each server
	// in each domain), MySQL's gtid_executed.
	History(ctx context.Context, q Querier) (string, error)
	// Errant returns the transactions of history mine (from History) that
	// history primary provably lacks, "" when none is known to be missing:
	// a server holding such transactions has diverged from primary and
	// must be rebuilt, not replicate from it. It needs no server.
	Errant(mine, primary string) (string, error)
	// MaxSemiSyncAcks is the most acks SetSemiSyncSource can wait for.
	MaxSemiSyncAcks() int
	// SemiSyncClients returns how many connected replicas the server
	// counts as semi-sync replicas: those whose acks a commit can get.
	SemiSyncClients(ctx context.Context, q Querier) (int, error)
	// ReplicaServerIDs returns the server ids of the replicas registered
	// with the server as reading its binlog.
	ReplicaServerIDs(ctx context.Context, q Querier) ([]uint64, error)
	// PositionAt returns the GTID position of the server's binlog at file
	// and offset: what the server held when its binlog ended there.
	// ErrUnsupported when the flavor cannot tell.
	PositionAt(ctx context.Context, q Querier, file string, offset int64) (string, error)
}

// ErrUnsupported is returned by a Flavor method its server cannot do.
var ErrUnsupported = errors.New("not supported by this flavor")

// ByName returns the flavor a tablet record's db_flavor names.
func ByName(name string) (Flavor, error) {
	switch name {
	case "mariadb", "":
		return MariaDB{}, nil
	case "mysql8":
		return MySQL8{}, nil
	}
	return nil, fmt.Errorf("unknown db flavor %q: want mariadb or mysql8", name)
}

// quote returns s as a SQL string literal.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}

func onOff(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}

// queryOne returns the one row a statement must return.
func queryOne(ctx context.Context, q Querier, sql string) (mysqlconn.Row, error) {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("%s: got %d rows, want 1", sql, len(rows))
	}
	return rows[0], nil
}

// queryValue returns the single value of a one-row, one-column query
// ("" for NULL).
func queryValue(ctx context.Context, q Querier, sql string, col string) (string, error) {
	row, err := queryOne(ctx, q, sql)
	if err != nil {
		return "", err
	}
	return row[col], nil
}

// statusInt returns a global status variable as a number, 0 when the
// server does not have it (semi-sync never enabled, plugin not loaded).
func statusInt(ctx context.Context, q Querier, name string) (int, error) {
	rows, err := q.Query(ctx, "SHOW GLOBAL STATUS LIKE "+quote(name))
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	n, err := strconv.Atoi(rows[0]["Value"])
	if err != nil {
		return 0, fmt.Errorf("status %s: %w", name, err)
	}
	return n, nil
}

// serverIDs runs a statement listing replicas and returns column col of
// each row as a server id.
func serverIDs(ctx context.Context, q Querier, sql, col string) ([]uint64, error) {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(rows))
	for _, r := range rows {
		id, err := strconv.ParseUint(r[col], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: server id %q: %w", sql, r[col], err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// execAll runs statements in order, stopping at the first error.
func execAll(ctx context.Context, q Querier, stmts ...string) error {
	for _, s := range stmts {
		if err := q.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", redactPassword(s), err)
		}
	}
	return nil
}

// redactPassword hides the password of a CHANGE MASTER/SOURCE statement
// in errors.
func redactPassword(s string) string {
	for _, key := range []string{"MASTER_PASSWORD = ", "SOURCE_PASSWORD = "} {
		if i := strings.Index(s, key); i >= 0 {
			j := strings.Index(s[i+len(key):], ", ")
			if j < 0 {
				return s[:i+len(key)] + "'****'"
			}
			return s[:i+len(key)] + "'****'" + s[i+len(key)+j:]
		}
	}
	return s
}

func atoiOr0(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// timeoutSeconds renders a timeout for MASTER_GTID_WAIT and friends.
func timeoutSeconds(d time.Duration) string {
	if d <= 0 {
		d = time.Second
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}
