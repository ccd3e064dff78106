package proxy

import (
	"context"
	"strings"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Savepoints. The session records its transaction's savepoints in the
// order they were set (txState.savepoints). SAVEPOINT, ROLLBACK TO and
// RELEASE SAVEPOINT run on every shard transaction the session holds; a
// shard that joins the transaction later gets the recorded savepoints
// right after its BEGIN, before its first statement, so rolling back to
// any of them undoes everything it did, as it had done nothing before
// them. The record follows MariaDB: ROLLBACK TO x drops the savepoints
// set after x and keeps x, RELEASE SAVEPOINT x drops x and those after
// it, and setting a name again moves it to the end. Names compare
// without regard to case.

// parseSavepointStmt recognizes SAVEPOINT name, RELEASE SAVEPOINT name
// and ROLLBACK [WORK] TO [SAVEPOINT] name, with the name plain or in
// backquotes; s has no leading blanks nor trailing semicolons. Anything
// else (comments, a bad name) is for the parser.
func parseSavepointStmt(s string) (controlStmt, bool) {
	rest := s
	word := func() string {
		rest = strings.TrimLeft(rest, " \t\r\n")
		i := 0
		for i < len(rest) && isIdentByte(rest[i]) {
			i++
		}
		w := rest[:i]
		rest = rest[i:]
		return strings.ToLower(w)
	}
	var cs controlStmt
	switch word() {
	case "savepoint":
		cs.kind = ctlSavepoint
	case "release":
		if word() != "savepoint" {
			return controlStmt{}, false
		}
		cs.kind = ctlRelease
	case "rollback":
		cs.kind, cs.toSavepoint = ctlRollback, true
		w := word()
		if w == "work" {
			w = word()
		}
		if w != "to" {
			return controlStmt{}, false
		}
		before := rest
		if word() != "savepoint" {
			rest = before
		}
	default:
		return controlStmt{}, false
	}
	name, ok := parseIdentifier(strings.TrimLeft(rest, " \t\r\n"))
	if !ok {
		return controlStmt{}, false
	}
	cs.savepoint = name
	return cs, true
}

// savepointControl recognizes the text of a savepoint statement.
func savepointControl(sql string) (controlStmt, bool) {
	cs, ok := parseControl(sql)
	if !ok || !(cs.kind == ctlSavepoint || cs.kind == ctlRelease || cs.kind == ctlRollback && cs.toSavepoint) {
		return controlStmt{}, false
	}
	return cs, true
}

// parseIdentifier reads s whole as one identifier: `quoted` (a doubled
// backquote stands for one) or plain, not only digits.
func parseIdentifier(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if s[0] == '`' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != '`' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			return b.String(), i == len(s)-1 && b.Len() > 0
		}
		return "", false
	}
	digits := true
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return "", false
		}
		digits = digits && s[i] >= '0' && s[i] <= '9'
	}
	return s, !digits
}

// isIdentByte reports the bytes of a plain identifier (any byte of a
// multi-byte UTF-8 character included).
func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

func errNoSavepoint(name string) error {
	return sqlerr.New(sqlerr.ERSPDoesNotExist, "SAVEPOINT %s does not exist", name)
}

// savepointIndex returns the position of name in the record, -1 if absent.
func (s *Session) savepointIndex(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, n := range s.tx.savepoints {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

// savepointList returns a copy of the record, oldest first.
func (s *Session) savepointList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tx.savepoints) == 0 {
		return nil
	}
	return append([]string(nil), s.tx.savepoints...)
}

// addSavepoint records name as the newest savepoint, dropping an older one
// of the same name.
func (s *Session) addSavepoint(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.tx.savepoints[:0:0]
	for _, n := range s.tx.savepoints {
		if !strings.EqualFold(n, name) {
			list = append(list, n)
		}
	}
	s.tx.savepoints = append(list, name)
}

// keepSavepoints keeps the first n savepoints of the record.
func (s *Session) keepSavepoints(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < len(s.tx.savepoints) {
		s.tx.savepoints = s.tx.savepoints[:n]
	}
}

// savepoint carries out SAVEPOINT, ROLLBACK TO and RELEASE SAVEPOINT.
func (cc *clientConn) savepoint(ctx context.Context, cs controlStmt) error {
	s := cc.s
	name := cs.savepoint
	if strings.EqualFold(name, stmtSavepoint) {
		return sqlerr.NotSupported("the savepoint name %s, which the gate uses itself", stmtSavepoint)
	}
	if cs.kind == ctlSavepoint {
		if !s.InTransaction {
			if s.Autocommit {
				// MariaDB accepts it and forgets it at once.
				return cc.writeOK(0, 0)
			}
			s.beginTx(txCharacteristics{})
		}
		if err := cc.onShardTxs(ctx, "SAVEPOINT "+quoteIdent(name)); err != nil {
			return err
		}
		s.addSavepoint(name)
		return cc.writeOK(0, 0)
	}
	i := -1
	if s.InTransaction {
		i = s.savepointIndex(name)
	}
	if i < 0 {
		return errNoSavepoint(name)
	}
	if cs.kind == ctlRelease {
		if err := cc.onShardTxs(ctx, "RELEASE SAVEPOINT "+quoteIdent(name)); err != nil {
			return err
		}
		s.keepSavepoints(i)
		return cc.writeOK(0, 0)
	}
	if err := cc.onShardTxs(ctx, "ROLLBACK TO SAVEPOINT "+quoteIdent(name)); err != nil {
		return err
	}
	s.keepSavepoints(i + 1)
	return cc.writeOK(0, 0)
}

// onShardTxs runs sql in every shard transaction of the session, at once,
// none cancelled by another's failure. A shard transaction that is gone
// or in an unknown state is lost; so is the transaction when ROLLBACK TO
// failed on some shards only, since its shards no longer agree on what it
// holds (afterError then rolls it back).
func (cc *clientConn) onShardTxs(ctx context.Context, sql string) error {
	ctx = statementContext(ctx)
	txs := cc.s.openTxs()
	errs := make([]error, len(txs))
	cc.g.gw.All(ctx, len(txs), func(ctx context.Context, i int) {
		tx := txs[i]
		_, err := tx.tablet.Client.Execute(ctx, &querypb.ExecuteRequest{Target: tx.target, Sql: sql, TransactionId: tx.txID, Options: cc.s.Options()})
		errs[i] = shardTxErr(tx.key, err)
	})
	var first error
	failed := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if sqlerr.IsTxEnded(err) {
			cc.s.markTxLost(err)
		}
		if first == nil {
			first = err
		}
	}
	if first != nil && failed < len(txs) && strings.HasPrefix(sql, "ROLLBACK TO") {
		cc.s.markTxLost(sqlerr.TxEndedError("%s failed on some shards only: %s", sql, sqlerr.FromError(first).Message))
	}
	return first
}
