package proxy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Session is the state of one client connection: its keyspace and tablet
// type, its transaction (one tablet transaction per shard it touched), and
// the session settings every tablet connection it uses must have.
type Session struct {
	ConnID     uint32
	User       string
	Keyspace   string
	Shard      string // set by `USE ks:shard`: every statement goes there
	TabletType topodatapb.TabletType
	Autocommit bool
	// InTransaction is true after BEGIN, or after any statement while
	// autocommit is off, until COMMIT or ROLLBACK.
	InTransaction bool
	LastInsertID  uint64

	mu       sync.Mutex // guards shardTx against the executor's goroutines
	shardTx  map[shardKey]*shardTx
	txOrder  []shardKey
	settings map[string]string
	options  *querypb.ExecuteOptions
}

type shardKey struct{ keyspace, shard string }

// shardTx is the session's transaction on one shard: it stays on the
// tablet that began it.
type shardTx struct {
	target *querypb.Target
	tablet *TabletHealth
	txID   int64
}

// NewSession returns a fresh session: primary, autocommit on.
func NewSession(connID uint32, user string) *Session {
	return &Session{
		ConnID:     connID,
		User:       user,
		TabletType: topodatapb.TabletType_PRIMARY,
		Autocommit: true,
		shardTx:    map[shardKey]*shardTx{},
		settings:   map[string]string{},
		options:    &querypb.ExecuteOptions{},
	}
}

// StatusFlags returns the server status bits for OK and EOF packets.
func (s *Session) StatusFlags() uint16 {
	var f uint16
	if s.Autocommit {
		f |= serverStatusAutocommit
	}
	if s.InTransaction {
		f |= serverStatusInTrans
	}
	return f
}

// SetSetting records a session setting by name; sql is the SET statement
// that applies it on a tablet connection ("" removes it).
func (s *Session) SetSetting(name, sql string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sql == "" {
		delete(s.settings, name)
	} else {
		s.settings[name] = sql
	}
	// Settings go out in a stable order so that tablets can match pooled
	// connections that already have them.
	names := make([]string, 0, len(s.settings))
	for n := range s.settings {
		names = append(names, n)
	}
	sort.Strings(names)
	list := make([]string, 0, len(names))
	for _, n := range names {
		list = append(list, s.settings[n])
	}
	s.options = &querypb.ExecuteOptions{Settings: list}
}

// Options returns the execute options carrying the session's settings. The
// returned message is shared and must not be modified.
func (s *Session) Options() *querypb.ExecuteOptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.options
}

func (s *Session) getTx(k shardKey) *shardTx {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shardTx[k]
}

func (s *Session) addTx(k shardKey, tx *shardTx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.shardTx[k]; !ok {
		s.txOrder = append(s.txOrder, k)
	}
	s.shardTx[k] = tx
}

// takeTxs removes and returns the session's shard transactions in the
// order they began.
func (s *Session) takeTxs() []*shardTx {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*shardTx, 0, len(s.txOrder))
	for _, k := range s.txOrder {
		out = append(out, s.shardTx[k])
	}
	s.shardTx = map[shardKey]*shardTx{}
	s.txOrder = nil
	return out
}

// Commit commits every shard transaction in the order they began. When a
// commit fails after others succeeded the error names what was committed.
func (s *Session) Commit(ctx context.Context) error {
	txs := s.takeTxs()
	s.InTransaction = false
	var committed []string
	for i, tx := range txs {
		_, err := tx.tablet.Client.Commit(ctx, &querypb.CommitRequest{Target: tx.target, TransactionId: tx.txID})
		if err != nil {
			// Roll back what has not been committed yet.
			rollbackAll(ctx, txs[i+1:])
			e := sqlerr.FromError(err)
			if len(committed) == 0 {
				return e
			}
			return sqlerr.Wrap(e.Num, e, "commit failed on %s/%s after %s committed: %s",
				tx.target.Keyspace, tx.target.Shard, strings.Join(committed, ", "), e.Message)
		}
		committed = append(committed, tx.target.Keyspace+"/"+tx.target.Shard)
	}
	return nil
}

// Rollback rolls back every shard transaction.
func (s *Session) Rollback(ctx context.Context) error {
	txs := s.takeTxs()
	s.InTransaction = false
	return rollbackAll(ctx, txs)
}

func rollbackAll(ctx context.Context, txs []*shardTx) error {
	var first error
	for _, tx := range txs {
		if _, err := tx.tablet.Client.Rollback(ctx, &querypb.RollbackRequest{Target: tx.target, TransactionId: tx.txID}); err != nil && first == nil {
			first = sqlerr.FromError(err)
		}
	}
	return first
}

// parseUseTarget splits `ks`, `ks@replica`, `ks:-80` and `ks:-80@replica`.
func parseUseTarget(s string) (keyspace, shard string, tt topodatapb.TabletType, err error) {
	tt = topodatapb.TabletType_PRIMARY
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		switch strings.ToLower(s[at+1:]) {
		case "primary", "master":
			tt = topodatapb.TabletType_PRIMARY
		case "replica":
			tt = topodatapb.TabletType_REPLICA
		case "rdonly":
			tt = topodatapb.TabletType_RDONLY
		default:
			return "", "", 0, sqlerr.New(sqlerr.ERBadDB, "Unknown database '%s': unknown tablet type %q", s, s[at+1:])
		}
		s = s[:at]
	}
	keyspace, shard, _ = strings.Cut(s, ":")
	if keyspace == "" && shard != "" {
		return "", "", 0, sqlerr.New(sqlerr.ERBadDB, "Unknown database '%s'", s)
	}
	return keyspace, shard, tt, nil
}

func (k shardKey) String() string { return fmt.Sprintf("%s/%s", k.keyspace, k.shard) }
