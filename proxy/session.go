package proxy

import (
	"slices"
	"strings"
	"sync"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Session is the state of one client connection: its keyspace and tablet
// type, its transaction (one tablet transaction per shard it touched, see
// transaction.go), the session settings every tablet connection it uses
// must have (sessionvars.go), and the values only the gate knows
// (LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT(), the last statement's
// warnings).
//
// The connection's goroutine owns the exported fields; the executor's
// goroutines of one statement share the rest under mu.
type Session struct {
	ConnID uint32
	User   string
	// Host is the client's address without its port, which USER()
	// reports.
	Host string
	// MaxAllowedPacket is the gate's limit on a client packet, which
	// @@max_allowed_packet reports.
	MaxAllowedPacket int
	Keyspace         string
	Shard            string // set by `USE ks:shard`: every statement goes there
	TabletType       topodatapb.TabletType
	Autocommit       bool
	// InTransaction is true after BEGIN, or after any statement while
	// autocommit is off, until COMMIT or ROLLBACK.
	InTransaction bool
	// TxMode is how the session's next transaction commits across shards.
	TxMode TransactionMode
	// ParseMode is how the session's sql_mode has the gate parse its
	// statements: IGNORE_SPACE for a client that connected with
	// CLIENT_IGNORE_SPACE or set it (sqlmode.go).
	ParseMode router.ParseMode
	// ClientCharset is the session's character_set_client ("" while it is
	// the gate's utf8mb4): in some (gbk, sjis, ...) the gate cannot lex
	// every text (clientcharset.go).
	ClientCharset string

	// LastInsertID is what LAST_INSERT_ID() returns: the first id the
	// last INSERT generated.
	LastInsertID uint64
	// FoundRows is what FOUND_ROWS() returns: the rows of the last
	// statement that returned rows, or its SQL_CALC_FOUND_ROWS count.
	FoundRows uint64
	// RowCount is what ROW_COUNT() returns: the rows the last statement
	// affected, -1 after one that returned rows or failed.
	RowCount int64
	// conds are the conditions of the last statement that had any (SHOW
	// WARNINGS), cleared by a statement that uses tables.
	conds []*querypb.Warning

	// nextTx holds `SET TRANSACTION ...` characteristics for the next
	// transaction only; tx describes the open transaction.
	nextTx txCharacteristics
	tx     txState

	mu sync.Mutex
	// shardTx holds the open transaction's tablet transactions.
	shardTx map[shardKey]*shardTx
	txOrder []shardKey
	// settings are the SET statements replayed on every tablet connection,
	// in the order they were last set.
	settings []setting
	options  *querypb.ExecuteOptions
	// foundRows asks the tablets for UPDATE counts of matched rows: the
	// client connected with CLIENT_FOUND_ROWS.
	foundRows bool
	// account is the tablets' mysqld account the session's statements run
	// as: ACCOUNT_READ_ONLY for a read-only gate account.
	account querypb.Account
	// stmtWarnings collects the warnings of the running statement from
	// every shard it reached.
	stmtWarnings []*querypb.Warning
	// writing is set while the running statement may change data.
	writing bool
	// locks are the session's lock sessions by shard (locksession.go).
	locks map[shardKey]*lockSession
}

// setting is one session setting: a name ("sql_mode", "@x", "names") and
// the statement that applies it on a tablet connection.
type setting struct {
	name, sql string
}

type shardKey struct{ keyspace, shard string }

func (k shardKey) String() string { return k.keyspace + "/" + k.shard }

// NewSession returns a fresh session: primary, autocommit on, multi-shard
// commits in mode.
func NewSession(connID uint32, user string, mode TransactionMode) *Session {
	return &Session{
		ConnID:     connID,
		User:       user,
		TabletType: topodatapb.TabletType_PRIMARY,
		Autocommit: true,
		TxMode:     mode,
		shardTx:    map[shardKey]*shardTx{},
		options:    &querypb.ExecuteOptions{},
	}
}

// StatusFlags returns the server status bits for OK and EOF packets.
func (s *Session) StatusFlags() uint16 {
	var f uint16
	if s.Autocommit {
		f |= mysqlsrv.StatusAutocommit
	}
	if s.InTransaction {
		f |= mysqlsrv.StatusInTrans
	}
	if s.ParseMode&router.NoBackslashEscapes != 0 {
		f |= mysqlsrv.StatusNoBackslashEscapes
	}
	return f
}

// Settings returns a copy of the session settings in order.
func (s *Session) Settings() []setting {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.settings)
}

// SetSettings replaces the session settings.
func (s *Session) SetSettings(list []setting) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settings = list
	s.options = optionsOf(list, s.foundRows, s.account)
}

// SetClientFoundRows says whether the client connected with
// CLIENT_FOUND_ROWS: affected rows of an UPDATE are then the rows it
// matched, as mysqld reports them to such a client. Every tablet
// statement of the session carries it (ExecuteOptions.client_found_rows).
func (s *Session) SetClientFoundRows(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.foundRows = on
	s.options = optionsOf(s.settings, on, s.account)
}

// SetReadOnlyAccount makes every tablet statement of the session run as
// the tablets' read-only mysqld account (ExecuteOptions.account), for a
// gate account that may only read: mysqld then refuses its writes too,
// whatever function, procedure or sequence a statement reaches.
func (s *Session) SetReadOnlyAccount(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account = querypb.Account_ACCOUNT_APP
	if on {
		s.account = querypb.Account_ACCOUNT_READ_ONLY
	}
	s.options = optionsOf(s.settings, s.foundRows, s.account)
}

func (s *Session) clientFoundRows() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.foundRows
}

// withSetting returns list with name set to sql ("" removes it); a setting
// set again moves to the end, so that it applies after the ones it may
// override (SET NAMES, then character_set_results).
func withSetting(list []setting, name, sql string) []setting {
	out := make([]setting, 0, len(list)+1)
	for _, st := range list {
		if st.name != name {
			out = append(out, st)
		}
	}
	if sql != "" {
		out = append(out, setting{name: name, sql: sql})
	}
	return out
}

func optionsOf(list []setting, foundRows bool, account querypb.Account) *querypb.ExecuteOptions {
	if len(list) == 0 {
		return &querypb.ExecuteOptions{ClientFoundRows: foundRows, Account: account}
	}
	sqls := make([]string, len(list))
	for i, st := range list {
		sqls[i] = st.sql
	}
	return &querypb.ExecuteOptions{Settings: sqls, ClientFoundRows: foundRows, Account: account}
}

// Options returns the execute options carrying the session's settings. The
// returned message is shared and must not be modified.
func (s *Session) Options() *querypb.ExecuteOptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.options
}

// addWarnings records warnings a shard returned for the running statement.
func (s *Session) addWarnings(ws []*querypb.Warning) {
	if len(ws) == 0 {
		return
	}
	s.mu.Lock()
	s.stmtWarnings = append(s.stmtWarnings, ws...)
	s.mu.Unlock()
}

// startStatement readies the session for a client statement.
func (s *Session) startStatement() {
	s.mu.Lock()
	s.stmtWarnings = nil
	s.writing = false
	s.mu.Unlock()
}

// setWriting says whether the running statement may change data: shard
// transactions it runs in count as written for two-phase commit.
func (s *Session) setWriting(w bool) {
	s.mu.Lock()
	s.writing = w
	s.mu.Unlock()
}

// pendingWarnings counts the running statement's warnings so far.
func (s *Session) pendingWarnings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stmtWarnings)
}

// takeWarnings returns the running statement's warnings.
func (s *Session) takeWarnings() []*querypb.Warning {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.stmtWarnings
	s.stmtWarnings = nil
	return w
}

// bindSession returns bv with the session values plan reads (see
// router.Plan.SessionBinds). bv itself is shared and never modified.
func (s *Session) bindSession(plan *router.Plan, bv router.BindVars) router.BindVars {
	if len(plan.SessionBinds) == 0 {
		return bv
	}
	out := make(router.BindVars, len(bv)+len(plan.SessionBinds))
	for k, v := range bv {
		out[k] = v
	}
	for _, name := range plan.SessionBinds {
		out[name] = s.sessionValue(name)
	}
	return out
}

func (s *Session) sessionValue(name string) any {
	switch name {
	case router.LastInsertIDBind:
		return s.LastInsertID
	case router.DatabaseBind:
		if s.Keyspace == "" {
			return nil
		}
		return s.Keyspace
	case router.FoundRowsBind:
		return s.FoundRows
	case router.MaxAllowedPacketBind:
		return int64(s.MaxAllowedPacket)
	case router.ConnectionIDBind:
		return uint64(s.ConnID)
	case router.UserBind:
		return s.User + "@" + s.Host
	case router.CurrentUserBind:
		return s.User + "@%"
	case router.RowCountBind:
		return s.RowCount
	case router.AutocommitBind:
		if s.Autocommit {
			return int64(1)
		}
		return int64(0)
	case router.WarningCountBind:
		return uint64(len(s.conds))
	case router.ErrorCountBind:
		return uint64(countErrors(s.conds))
	case router.TransactionModeBind:
		return s.TxMode.String()
	case router.InTransactionBind:
		if s.InTransaction {
			return int64(1)
		}
		return int64(0)
	}
	return nil
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
