package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// The protocol's utility commands: COM_FIELD_LIST, COM_STATISTICS,
// COM_SET_OPTION, COM_RESET_CONNECTION and COM_CHANGE_USER.

// handleFieldList answers COM_FIELD_LIST (table NUL wildcard) with the
// table's real columns, found by running SELECT * ... LIMIT 0 through the
// router, each definition followed by its (unknown, NULL) default.
func (cc *clientConn) handleFieldList(ctx context.Context, data []byte) error {
	table, wildcard, _ := mysqlsrv.CutNul(data)
	if table == nil {
		table = data
	}
	if len(table) == 0 {
		return cc.writeError(sqlerr.New(sqlerr.ERWrongTableName, "Incorrect table name ''"))
	}
	if cc.s.Keyspace == "" {
		return cc.writeError(sqlerr.New(sqlerr.ERNoDB, "No database selected"))
	}
	sql := "select * from " + quoteIdent(string(table)) + " limit 0"
	plan, bv, err := cc.g.router.PlanAt(sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
	if err != nil {
		return cc.writeError(err)
	}
	if err := cc.checkPlanAccess(plan, sql); err != nil {
		return cc.writeError(err)
	}
	qctx, done := cc.queryContext(ctx, nil, "Field List", string(table))
	defer done()
	res, err := plan.Execute(qctx, autocommitExecutor{&sessionExecutor{gw: cc.g.gw, s: cc.s}}, bv)
	if err != nil {
		return cc.writeError(interrupted(qctx, err))
	}
	pattern := strings.TrimRight(string(wildcard), "\x00")
	for _, f := range res.Fields {
		if pattern != "" && !likeMatch(strings.ToLower(f.Name), strings.ToLower(pattern)) {
			continue
		}
		b := mysqlsrv.AppendColumnDef(cc.pw.Buf[:0], f)
		b = append(b, 0xfb) // default value: NULL
		cc.pw.Buf = b
		if err := cc.pw.WritePacket(b); err != nil {
			return err
		}
	}
	return cc.pw.WriteEOF(cc.status(), 0)
}

// quoteIdent quotes an identifier with backticks, doubling any inside.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// likeMatch matches s against a LIKE pattern (% and _, \ escapes).
func likeMatch(s, p string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '%':
			for len(p) > 0 && p[0] == '%' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if likeMatch(s[i:], p) {
					return true
				}
			}
			return false
		case '_':
			if s == "" {
				return false
			}
			s, p = s[1:], p[1:]
		case '\\':
			if len(p) > 1 {
				p = p[1:]
			}
			fallthrough
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
			s, p = s[1:], p[1:]
		}
	}
	return s == ""
}

// handleStatistics answers COM_STATISTICS with mysqld's one-line summary.
func (cc *clientConn) handleStatistics() error {
	g := cc.g
	up := time.Since(g.started)
	q := g.m.totalQueries()
	qps := 0.0
	if up > 0 {
		qps = float64(q) / up.Seconds()
	}
	line := fmt.Sprintf("Uptime: %d  Threads: %d  Questions: %d  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: %.3f",
		int64(up.Seconds()), g.connCount.Load(), q, qps)
	return cc.pw.WritePacket([]byte(line))
}

// handleSetOption answers COM_SET_OPTION: multi-statements on (0) or off (1).
func (cc *clientConn) handleSetOption(data []byte) error {
	if len(data) < 2 {
		return cc.writeError(mysqlsrv.ErrMalformed("COM_SET_OPTION"))
	}
	switch binary.LittleEndian.Uint16(data) {
	case 0:
		cc.multiStatements = true
	case 1:
		cc.multiStatements = false
	default:
		return cc.writeError(sqlerr.New(sqlerr.ERUnknownCom, "Unknown command"))
	}
	return cc.pw.WriteEOF(cc.status(), 0)
}

// resetSession rolls back the session's transaction and starts afresh in
// keyspace target: statements, settings and limits are gone.
func (cc *clientConn) resetSession(ctx context.Context, target string) error {
	err := cc.s.Rollback(ctx)
	cc.s.releaseLocks(ctx, cc.g.gw.locks)
	cc.s = cc.newSession(target)
	cc.stmts.closeAll()
	cc.limits = statementLimits{}
	return err
}

// handleResetConnection answers COM_RESET_CONNECTION: the session is
// reset, the connection and its account stay.
func (cc *clientConn) handleResetConnection(ctx context.Context) error {
	target := cc.s.Keyspace
	if err := cc.resetSession(ctx, target); err != nil {
		cc.log.Warn("rollback on reset connection failed", "err", err)
	}
	return cc.writeOK(0, 0)
}

// changeUser is a parsed COM_CHANGE_USER.
type changeUser struct {
	user, authData, db []byte
	plugin             string
	// collation is the client's collation, the gate's default when the
	// packet has none.
	collation clientCollation
}

// errChangeUserPacket is mysqld's answer to a COM_CHANGE_USER it cannot
// read; the connection stays as it was.
var errChangeUserPacket = sqlerr.New(sqlerr.ERUnknownCom, "Unknown command")

// parseChangeUser reads COM_CHANGE_USER: user NUL, the authentication
// data (a length byte and the data with CLIENT_SECURE_CONNECTION, else
// NUL-terminated), database NUL, then optionally the character set (2
// bytes), the plugin name (NUL-terminated, with CLIENT_PLUGIN_AUTH) and
// the connection attributes (with CLIENT_CONNECT_ATTRS).
func parseChangeUser(data []byte, capability uint32) (changeUser, error) {
	var r changeUser
	user, p, ok := mysqlsrv.CutNul(data)
	if !ok {
		return r, errChangeUserPacket
	}
	r.user = user
	if capability&mysql.CLIENT_SECURE_CONNECTION != 0 {
		if len(p) < 1 || len(p)-1 < int(p[0]) {
			return r, errChangeUserPacket
		}
		r.authData, p = p[1:1+int(p[0])], p[1+int(p[0]):]
	} else {
		if r.authData, p, ok = mysqlsrv.CutNul(p); !ok {
			return r, errChangeUserPacket
		}
	}
	if r.db, p, ok = mysqlsrv.CutNul(p); !ok {
		return r, errChangeUserPacket
	}
	r.plugin = authNative
	r.collation = collationUtf8mb4
	if len(p) < 2 {
		return r, nil
	}
	r.collation, p = clientCollation(binary.LittleEndian.Uint16(p)), p[2:]
	if capability&mysql.CLIENT_PLUGIN_AUTH != 0 && len(p) > 0 {
		name, rest, ok := mysqlsrv.CutNul(p)
		if !ok {
			name, rest = p, nil
		}
		r.plugin, p = string(name), rest
	}
	if capability&mysql.CLIENT_CONNECT_ATTRS != 0 && len(p) > 0 && !mysqlsrv.CheckConnectAttrs(p) {
		return r, errChangeUserPacket
	}
	return r, nil
}

// handleChangeUser answers COM_CHANGE_USER: authenticate again as another
// account and start a fresh session. A packet the gate cannot read gets
// 1047 and changes nothing, as in mysqld; a failed authentication ends the
// connection, and the returned error says so.
func (cc *clientConn) handleChangeUser(ctx context.Context, data []byte) error {
	req, err := parseChangeUser(data, cc.capability)
	if err != nil {
		if werr := cc.writeError(err); werr != nil {
			return werr
		}
		return nil
	}
	// As mysqld, the collation is taken before the authentication.
	if _, _, err := req.collation.setting(); err != nil {
		cc.s.Rollback(ctx)
		return cc.failHandshake(err)
	}
	cc.collation = req.collation
	// The client's answer is made with the greeting's scramble.
	acct, err := cc.authenticate(string(req.user), req.plugin, req.authData, cc.salt)
	if err != nil {
		// Roll back before hanging up.
		cc.s.Rollback(ctx)
		return cc.failHandshake(err)
	}
	cc.acct = acct
	if err := cc.resetSession(ctx, ""); err != nil {
		cc.log.Warn("rollback on change user failed", "err", err)
	}
	if len(req.db) > 0 {
		if err := cc.checkUse(ctx, string(req.db)); err != nil {
			cc.writeError(err)
			cc.pw.Flush()
			return err
		}
		cc.s.releaseLocks(ctx, cc.g.gw.locks)
		cc.s = cc.newSession(string(req.db))
	}
	return cc.writeOK(0, 0)
}
