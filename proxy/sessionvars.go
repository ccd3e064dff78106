package proxy

import (
	"context"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
	"github.com/pingcap/tidb/pkg/parser/format"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Session variables. A SET runs at once on a tablet of the session's
// keyspace, with the session's settings and the new assignment applied,
// and reads the variable's resulting value back: a bad name or value
// fails at SET time with mysqld's own error, and the session keeps the
// value as a literal (`SET @@SESSION.time_zone = '+01:00'`, `SET @x =
// 42`). Every tablet connection the session uses afterwards gets these
// settings (ExecuteOptions.settings), so each shard sees the same
// session, and an expression such as NOW() or @x + 1 is evaluated once,
// not once per shard. autocommit and transaction_mode belong to the
// gate; a few variables that would break replication or routing are
// refused.

// refusedVars are session variables the gate does not pass on, and why.
var refusedVars = map[string]string{
	"sql_log_bin":      "it would keep the session's writes out of the binary log replicas and resharding read",
	"skip_replication": "it would keep the session's writes from the replicas",
	"insert_id":        "it applies to the next insert of one connection, and the gate spreads statements over many",
	"last_insert_id":   "the gate keeps LAST_INSERT_ID() itself",
	"gtid_domain_id":   "the tablets own replication",
	"gtid_seq_no":      "the tablets own replication",
	"server_id":        "the tablets own replication",
	"pseudo_thread_id": "the gate spreads a session over many connections",
	"wsrep_on":         "the tablets own replication",
}

// unsupportedSQLModes change how SQL text parses, and the gate parses and
// rewrites statements with MySQL's default rules for them
// (NO_BACKSLASH_ESCAPES and IGNORE_SPACE it follows: sqlmode.go).
var unsupportedSQLModes = []string{"ANSI_QUOTES", "PIPES_AS_CONCAT", "HIGH_NOT_PRECEDENCE"}

// set carries out a SET statement. As in MariaDB, every value is
// evaluated before any variable changes (SET @x = 1, @y = @x sees the old
// @x), and if one assignment fails none takes effect.
func (cc *clientConn) set(ctx context.Context, st *ast.SetStmt) error {
	s := cc.s
	list := s.Settings()
	before := list
	autocommit := s.Autocommit
	mode := s.TxMode
	parseMode := s.ParseMode
	clientCharset := s.ClientCharset
	for _, v := range st.Variables {
		name := strings.ToLower(v.Name)
		names := v.Name == ast.SetNames || v.Name == ast.SetCharset
		var err error
		switch {
		case v.IsGlobal || v.IsInstance:
			return sqlerr.NotSupported("SET GLOBAL through the gate; set it on the tablets")
		case !v.IsSystem && !names:
			var sql string
			if sql, err = cc.evalUserVar(ctx, before, name, v.Value); err == nil {
				list = withSetting(list, "@"+name, sql)
			}
		case isStatementLimitVar(name):
			// The gate enforces statement time limits itself (timeout.go).
			err = cc.setStatementLimit(name, v.Value)
		case name == "autocommit":
			autocommit, err = boolValue(name, v.Value)
		case name == "transaction_mode":
			if s.InTransaction {
				return sqlerr.New(sqlerr.ERCantChangeTxCharacteristics, "Transaction characteristics can't be changed while a transaction is in progress")
			}
			var text string
			if text, err = wordValue(v.Value); err == nil {
				if _, ok := v.Value.(*ast.DefaultExpr); ok {
					mode = cc.g.cfg.TransactionMode
				} else if mode, err = ParseTransactionMode(text); err != nil {
					err = sqlerr.New(sqlerr.ERWrongValueForVar, "Variable 'transaction_mode' can't be set to the value of '%s'", text)
				}
			}
		case name == "tx_isolation_one_shot":
			// SET TRANSACTION ISOLATION LEVEL written in a form the gate did
			// not recognize first (with a comment): next transaction only.
			var text string
			if text, err = wordValue(v.Value); err == nil {
				err = cc.setNextIsolation(text)
			}
		case name == "tx_isolation" || name == "transaction_isolation":
			var sql string
			if sql, err = cc.isolationSetting(ctx, before, name, v.Value); err == nil {
				list = withSetting(list, "tx_isolation", sql)
			}
		case name == "tx_read_only" || name == "transaction_read_only":
			var on bool
			if on, err = boolValue(name, v.Value); err == nil {
				list = withSetting(list, "tx_read_only", readOnlySetting(on))
			}
		case refusedVars[name] != "":
			return sqlerr.NotSupported("SET %s: %s", name, refusedVars[name])
		case names:
			sql := restoreSet(v, s.ParseMode)
			cand := withSetting(withoutCharsetSettings(before), "names", sql)
			var cs []byte
			if cs, _, err = cc.evalSelect(ctx, cand, "SELECT @@SESSION.character_set_client"); err == nil {
				list = withSetting(withoutCharsetSettings(list), "names", sql)
				clientCharset = string(cs)
			}
		default:
			var sql string
			var val []byte
			if sql, val, err = cc.evalSystemVar(ctx, before, name, v); err == nil {
				list = withSetting(list, name, sql)
				if name == "character_set_client" {
					clientCharset = string(val)
				}
				if name == "sql_mode" {
					// The gate parses the session's statements as
					// mysqld would with the mode it read back.
					parseMode = router.ParseModeOf(string(val))
				}
			}
		}
		if err != nil {
			return err
		}
	}
	if s.InTransaction {
		if err := cc.applyInTransaction(ctx, before, list); err != nil {
			return err
		}
	}
	s.SetSettings(list)
	s.TxMode = mode
	s.ParseMode = parseMode
	if clientCharset == "utf8mb4" {
		clientCharset = ""
	}
	s.ClientCharset = clientCharset
	if autocommit && !s.Autocommit && s.InTransaction {
		// Turning autocommit on commits, as in MySQL.
		if err := cc.g.commit(ctx, s); err != nil {
			return err
		}
	}
	s.Autocommit = autocommit
	return nil
}

// applyInTransaction runs the settings that changed on the connections
// of the open transaction, which already have the old ones.
func (cc *clientConn) applyInTransaction(ctx context.Context, before, after []setting) error {
	var changed []string
	for _, st := range after {
		if !slices.Contains(before, st) {
			changed = append(changed, st.sql)
		}
	}
	for _, tx := range cc.s.openTxs() {
		for _, sql := range changed {
			_, err := tx.tablet.Client.Execute(ctx, &querypb.ExecuteRequest{Target: tx.target, Sql: sql, TransactionId: tx.txID})
			if err != nil {
				err = shardTxErr(tx.key, err)
				if sqlerr.IsTxEnded(err) {
					cc.s.markTxLost(err)
				}
				return err
			}
		}
	}
	return nil
}

// setNextIsolation records SET TRANSACTION ISOLATION LEVEL for the next
// transaction.
func (cc *clientConn) setNextIsolation(level string) error {
	if cc.s.InTransaction {
		return sqlerr.New(sqlerr.ERCantChangeTxCharacteristics, "Transaction characteristics can't be changed while a transaction is in progress")
	}
	l, ok := isolationLevel(level)
	if !ok {
		return sqlerr.New(sqlerr.ERWrongValueForVar, "Variable 'tx_isolation' can't be set to the value of '%s'", level)
	}
	cc.s.nextTx.isolation = l
	return nil
}

// isolationLevel normalizes "READ-COMMITTED" or "read committed".
func isolationLevel(s string) (string, bool) {
	l := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", " "))
	switch l {
	case "READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE":
		return l, true
	}
	return "", false
}

// isolationSetting is the setting for SET tx_isolation (or MySQL 8's
// transaction_isolation): written as SET SESSION TRANSACTION, which every
// flavor understands.
func (cc *clientConn) isolationSetting(ctx context.Context, list []setting, name string, value ast.ExprNode) (string, error) {
	var text string
	if _, ok := value.(*ast.DefaultExpr); ok {
		return "", nil
	}
	text, err := wordValue(value)
	if err != nil {
		if text, err = cc.evalText(ctx, list, value); err != nil {
			return "", err
		}
	}
	l, ok := isolationLevel(text)
	if !ok {
		return "", sqlerr.New(sqlerr.ERWrongValueForVar, "Variable '%s' can't be set to the value of '%s'", name, text)
	}
	return "SET SESSION TRANSACTION ISOLATION LEVEL " + l, nil
}

func readOnlySetting(on bool) string {
	if on {
		return "SET SESSION TRANSACTION READ ONLY"
	}
	return "SET SESSION TRANSACTION READ WRITE"
}

// withoutCharsetSettings drops the settings SET NAMES replaces.
func withoutCharsetSettings(list []setting) []setting {
	var out []setting
	for _, st := range list {
		switch st.name {
		case "names", "character_set_client", "character_set_connection", "character_set_results", "collation_connection":
			continue
		}
		out = append(out, st)
	}
	return out
}

// evalSystemVar applies an assignment with the session's settings on a
// tablet and returns the setting that reproduces the resulting value, and
// the value.
func (cc *clientConn) evalSystemVar(ctx context.Context, list []setting, name string, v *ast.VariableAssignment) (string, []byte, error) {
	assign, err := assignmentSQL(name, v.Value, cc.s.ParseMode)
	if err != nil {
		return "", nil, err
	}
	// The assignment runs after the variable's current setting: a value
	// that reads the variable (CONCAT(@@sql_mode, ',X')) sees the
	// session's value, not the server's default.
	cand := append(slices.Clone(list), setting{name: name, sql: assign})
	val, f, err := cc.evalSelect(ctx, cand, "SELECT @@SESSION."+quoteIdent(name))
	if err != nil {
		return "", nil, err
	}
	if name == "sql_mode" && val != nil {
		for _, m := range strings.Split(string(val), ",") {
			if slices.Contains(unsupportedSQLModes, strings.ToUpper(m)) {
				return "", nil, sqlerr.NotSupported("sql_mode %s: the gate parses statements with MySQL's default quoting and operator rules", m)
			}
		}
	}
	if _, ok := v.Value.(*ast.DefaultExpr); ok {
		// The default is what a fresh tablet connection has.
		return "", val, nil
	}
	return "SET @@SESSION." + quoteIdent(name) + " = " + sqlLiteral(f, val), val, nil
}

// evalUserVar evaluates @name's new value with the session's settings and
// returns the setting that reproduces it.
func (cc *clientConn) evalUserVar(ctx context.Context, list []setting, name string, value ast.ExprNode) (string, error) {
	expr, err := restoreExpr(value, cc.s.ParseMode)
	if err != nil {
		return "", err
	}
	val, f, err := cc.evalSelect(ctx, list, "SELECT "+expr)
	if err != nil {
		return "", err
	}
	return "SET @" + quoteIdent(name) + " = " + sqlLiteral(f, val), nil
}

// evalText evaluates an expression to text.
func (cc *clientConn) evalText(ctx context.Context, list []setting, value ast.ExprNode) (string, error) {
	expr, err := restoreExpr(value, cc.s.ParseMode)
	if err != nil {
		return "", err
	}
	val, _, err := cc.evalSelect(ctx, list, "SELECT "+expr)
	return string(val), err
}

// evalSelect plans a one-value SELECT for the session's keyspace and runs
// it outside any transaction on a connection with settings list. It
// returns the value (nil for NULL) and its column.
func (cc *clientConn) evalSelect(ctx context.Context, list []setting, sql string) ([]byte, *querypb.Field, error) {
	plan, bv, err := cc.g.router.PlanAt(sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
	plan, bv, err = cc.forAccount(sql, plan, bv, err)
	if err != nil {
		return nil, nil, err
	}
	// The value may come from any query (SET @x = (SELECT ...)): it is
	// the account's like any other.
	if err := cc.checkPlanAccess(plan, sql); err != nil {
		return nil, nil, err
	}
	exec := &sessionExecutor{gw: cc.g.gw, s: cc.s, opts: optionsOf(list, cc.s.clientFoundRows(), cc.s.Options().GetAccount())}
	res, err := plan.Execute(ctx, exec, cc.s.bindSession(plan, bv))
	if err != nil {
		return nil, nil, err
	}
	if len(res.Fields) == 0 || len(res.Rows) != 1 {
		return nil, nil, sqlerr.New(sqlerr.ERUnknown, "evaluating %q returned %d rows", sql, len(res.Rows))
	}
	vals, err := sqltypes.DecodeRow(res.Rows[0], len(res.Fields))
	if err != nil {
		return nil, nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "evaluating %q: %v", sql, err)
	}
	return vals[0], res.Fields[0], nil
}

// assignmentSQL writes `SET @@SESSION.name = value` for a tablet whose
// sql_mode parses as mode. A bare word value (SET sql_mode = TRADITIONAL,
// SET foreign_key_checks = OFF) becomes a string.
func assignmentSQL(name string, value ast.ExprNode, mode router.ParseMode) (string, error) {
	var v string
	switch x := value.(type) {
	case *ast.ColumnNameExpr:
		v = string(sqltypes.AppendQuotedIn(nil, x.Name.Name.O, mode&router.NoBackslashEscapes != 0))
	case *ast.DefaultExpr:
		v = "DEFAULT"
	default:
		var err error
		if v, err = restoreExpr(value, mode); err != nil {
			return "", err
		}
	}
	return "SET @@SESSION." + quoteIdent(name) + " = " + v, nil
}

// restoreExpr writes e back as SQL for a tablet whose sql_mode parses as
// mode.
func restoreExpr(e ast.ExprNode, mode router.ParseMode) (string, error) {
	var sb strings.Builder
	if err := e.Restore(format.NewRestoreCtx(mode.RestoreFlags(), &sb)); err != nil {
		return "", sqlerr.Wrap(sqlerr.ERUnknown, err, "cannot restore expression: %v", err)
	}
	return sb.String(), nil
}

// restoreSet turns one assignment back into a SET statement of its own,
// for a tablet whose sql_mode parses as mode.
func restoreSet(v *ast.VariableAssignment, mode router.ParseMode) string {
	var sb strings.Builder
	one := &ast.SetStmt{Variables: []*ast.VariableAssignment{v}}
	if err := one.Restore(format.NewRestoreCtx(mode.RestoreFlags(), &sb)); err != nil {
		return ""
	}
	return sb.String()
}

// sqlLiteral writes a value read from a result as a literal of the same
// type: numbers as they are, doubles with an exponent, binary strings in
// hex, other strings quoted (in hex with their charset when they hold
// characters a quoted string would need escapes for).
func sqlLiteral(f *querypb.Field, val []byte) string {
	if val == nil {
		return "NULL"
	}
	switch f.Type {
	case sqltypes.TypeTiny, sqltypes.TypeShort, sqltypes.TypeLong, sqltypes.TypeLonglong, sqltypes.TypeInt24, sqltypes.TypeYear,
		sqltypes.TypeDecimal, sqltypes.TypeNewDecimal:
		return string(val)
	case sqltypes.TypeFloat, sqltypes.TypeDouble:
		s := string(val)
		if !strings.ContainsAny(s, "eE") {
			s += "e0"
		}
		return s
	case sqltypes.TypeBit:
		return "X'" + hex.EncodeToString(val) + "'"
	}
	if f.Charset == sqltypes.CollationBinary {
		return "X'" + hex.EncodeToString(val) + "'"
	}
	plain := true
	for _, c := range val {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '\'' {
			plain = false
			break
		}
	}
	if plain {
		return "'" + string(val) + "'"
	}
	cs := "utf8mb4"
	if co, err := charset.GetCollationByID(int(f.Charset)); err == nil && co.CharsetName != "" {
		cs = co.CharsetName
	}
	return "_" + cs + " X'" + hex.EncodeToString(val) + "'"
}

// wordValue returns the text of a literal or bare-word value.
func wordValue(e ast.ExprNode) (string, error) {
	switch x := e.(type) {
	case *ast.ColumnNameExpr:
		return x.Name.Name.O, nil
	case *ast.DefaultExpr:
		return "DEFAULT", nil
	case *driver.ValueExpr:
		var sb strings.Builder
		if err := x.Restore(format.NewRestoreCtx(format.RestoreStringWithoutCharset, &sb)); err != nil {
			return "", err
		}
		return strings.Trim(sb.String(), "'\""), nil
	}
	return "", sqlerr.New(sqlerr.ERWrongValueForVar, "this variable takes a literal value")
}

func boolValue(name string, e ast.ExprNode) (bool, error) {
	text, err := wordValue(e)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(text) {
	case "1", "on", "true":
		return true, nil
	case "0", "off", "false":
		return false, nil
	}
	return false, sqlerr.New(sqlerr.ERWrongValueForVar, "Variable '%s' can't be set to the value of '%s'", name, text)
}

// runShowVariables runs SHOW [SESSION] VARIABLES on a tablet with the
// session's settings, and answers the variables the gate owns itself.
func (cc *clientConn) runShowVariables(ctx context.Context, plan *router.Plan, bv router.BindVars, exec *sessionExecutor) error {
	res, err := plan.Execute(ctx, exec, bv)
	if err != nil {
		return err
	}
	if len(res.Fields) != 2 {
		return cc.writeResult(res)
	}
	s := cc.s
	gate := map[string]string{
		"autocommit":         onOff(s.Autocommit),
		"warning_count":      strconv.Itoa(len(s.conds)),
		"error_count":        strconv.Itoa(countErrors(s.conds)),
		"last_insert_id":     strconv.FormatUint(s.LastInsertID, 10),
		"identity":           strconv.FormatUint(s.LastInsertID, 10),
		"max_allowed_packet": strconv.Itoa(s.MaxAllowedPacket),
	}
	out := &querypb.QueryResult{Fields: res.Fields, Warnings: res.Warnings}
	for _, row := range res.Rows {
		vals, err := sqltypes.DecodeRow(row, 2)
		if err == nil && vals[0] != nil {
			if v, ok := gate[strings.ToLower(string(vals[0]))]; ok {
				row = sqltypes.EncodeRow([][]byte{vals[0], []byte(v)})
			}
		}
		out.Rows = append(out.Rows, row)
	}
	return cc.writeResult(out)
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}
