package router

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values for the parser

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/sqltext"
)

// Config tunes the router.
type Config struct {
	// PlanCacheSize bounds the number of cached plans, and separately the
	// number of cached statement texts.
	PlanCacheSize int
	// Columns, when set, gives the columns of tables an INSERT without a
	// column list names (see ColumnSource); a VSchema's authoritative
	// column list wins over it.
	Columns ColumnSource
	// ParseMemory, when set, is charged with what parsing a big statement
	// takes, before the parser runs (see MemoryBudget).
	ParseMemory MemoryBudget
	// MaxStatementMemory bounds the rows one statement holds in the gate
	// to join, group, sort or deduplicate them (0: no limit). The
	// executor applies it to plans run under WithStatementMemory.
	MaxStatementMemory int64
}

// DefaultConfig returns the default router configuration.
func DefaultConfig() Config {
	return Config{PlanCacheSize: 5000, MaxStatementMemory: 64 << 20}
}

// Validate checks a Config.
func (c Config) Validate() error {
	if c.PlanCacheSize < 0 {
		return fmt.Errorf("plan cache size %d below zero", c.PlanCacheSize)
	}
	if c.MaxStatementMemory < 0 {
		return fmt.Errorf("statement memory limit %d below zero", c.MaxStatementMemory)
	}
	return nil
}

// Router plans statements. It is safe for concurrent use.
type Router struct {
	cfg     Config
	vschema atomic.Pointer[VSchema]
	parsers sync.Pool
	// texts caches by exact statement text: a hit neither parses nor plans.
	texts *lru[*textEntry]
	// plans caches by normalized statement: one plan for every value.
	plans *lru[*Plan]
	// shapes caches by statement shape (shape.go): a hit does not parse.
	shapes *lru[*shapeEntry]
	stats  cacheCounters
	seqs   sequences
	// colGen counts ColumnsChanged calls: plans built with learned columns
	// hold the count they were built at.
	colGen atomic.Uint64
}

type textEntry struct {
	plan *Plan
	bv   BindVars
}

// maxCachedText bounds the statements the plan caches (by text, by shape,
// by normalized text) see: a bulk INSERT of thousands of rows would pin
// megabytes (its text, syntax tree and bind variables) for a repeat that
// hardly ever comes, and take apart its shape for nothing.
const maxCachedText = 16 << 10

// New returns a router with an empty VSchema.
func New(cfg Config) *Router {
	r := &Router{cfg: cfg, texts: newLRU[*textEntry](cfg.PlanCacheSize), plans: newLRU[*Plan](cfg.PlanCacheSize),
		shapes: newLRU[*shapeEntry](cfg.PlanCacheSize)}
	r.vschema.Store(BuildVSchema(nil, nil))
	r.parsers.New = func() any { return parser.New() }
	return r
}

// SetVSchema replaces the VSchema that new plans use and empties the plan
// cache.
func (r *Router) SetVSchema(vs *VSchema) {
	r.vschema.Store(vs)
	r.texts.clear()
	r.shapes.clear()
	r.plans.clear()
}

// VSchema returns the current VSchema.
func (r *Router) VSchema() *VSchema { return r.vschema.Load() }

// CacheStats returns the plan cache counters, for the proxy to export.
func (r *Router) CacheStats() CacheStats {
	return CacheStats{
		Hits:           r.stats.hits.Load(),
		NormalizedHits: r.stats.normHits.Load(),
		Misses:         r.stats.misses.Load(),
		Size:           r.plans.len() + r.passthroughShapes(),
		Capacity:       r.cfg.PlanCacheSize,
	}
}

// Parse parses one statement in mode. A statement that nests deeper than
// mysqld takes (or than is safe for the gate) is refused before parsing
// with mysqld's error (parselimits.go), and a big one whose parse the
// memory budget cannot spare with the budget's. The parser panics on a
// few inputs it cannot represent (some very long numeric literals, for
// one): those come back as a 1235 error, and the parser is not reused.
func (r *Router) Parse(sql string, mode ParseMode) (stmt ast.StmtNode, err error) {
	cost, err := checkDepth(sql)
	if err != nil {
		return nil, err
	}
	if b := r.cfg.ParseMemory; b != nil && cost >= minChargedParse {
		if err := b.Acquire(cost); err != nil {
			return nil, err
		}
		defer b.Release(cost)
	}
	p := r.parsers.Get().(*parser.Parser)
	p.SetSQLMode(mode.sqlMode())
	defer func() {
		if x := recover(); x != nil {
			stmt, err = nil, sqlerr.NotSupported("this statement: the SQL parser failed on it (%v)", x)
			return
		}
		r.parsers.Put(p)
	}()
	stmt, err = p.ParseOneStmt(sql, "", "")
	if err != nil {
		return nil, sqlerr.Wrap(sqlerr.ERParseError, err, "%s", err.Error())
	}
	return stmt, nil
}

// Plan plans sql for a session whose current keyspace is keyspace ("" when
// none is selected) and whose sql_mode parses as mode. It returns the
// plan and the bind variables taken from the statement's literals. Both are shared with other callers through the
// cache: neither may be modified (Plan.Bind copies).
//
// Text with ? markers plans as a prepared statement: Plan.Params names the
// bind variable of each marker. A statement calling LAST_INSERT_ID() has
// Plan.UsesLastInsertID set.
func (r *Router) Plan(sql, keyspace string, mode ParseMode) (plan *Plan, bv BindVars, err error) {
	return r.PlanAt(sql, keyspace, topodatapb.TabletType_PRIMARY, mode)
}

// PlanAt plans sql as Plan does, for a session whose statements go to
// tablets of type tt (`USE commerce@replica`): routing rules for that
// type (routingrules.go) apply to its tables.
func (r *Router) PlanAt(sql, keyspace string, tt topodatapb.TabletType, mode ParseMode) (plan *Plan, bv BindVars, err error) {
	tt = r.VSchema().planType(tt)
	defer func() {
		if x := recover(); x != nil {
			plan, bv = nil, nil
			err = sqlerr.New(sqlerr.ERUnknown, "internal error planning statement: %v", x)
			_ = debug.Stack
		}
	}()
	if len(sql) > maxCachedText {
		// Too big for the caches (see maxCachedText).
		if plan, bv, handled, err := r.planBulkInsert(sql, keyspace, tt, mode); handled {
			return plan, bv, err
		}
		return r.planWith(sql, keyspace, tt, mode, nil)
	}
	// The cache keys are built in buffers on the stack and looked up
	// without a string made of them: a hit allocates nothing here. Each
	// is "<keyspace>\x00<mode><tablet type><text>": a plan serves the
	// parse mode it was parsed in only, and the tablet type whose routing
	// rules it followed (VSchema.planType: PRIMARY when no rule names
	// the session's type).
	var keyBuf [512]byte
	var litBuf [8]literal
	key := append(append(append(append(append(keyBuf[:0], keyspace...), 0), byte(mode)), byte(tt)), sql...)
	if e, ok := r.texts.getBytes(key); ok && r.fresh(e.plan) {
		r.stats.hits.Add(1)
		return e.plan, e.bv, nil
	}
	prefix := len(keyspace) + 3
	key, lits, shaped := appendShape(key[:prefix], sql, litBuf[:0])
	if shaped && mode&NoBackslashEscapes != 0 && strings.Contains(strings.ToLower(sql), "escape") {
		// checkEscapes may rewrite a LIKE's pattern and escape: the plan
		// then holds no literal of the text's for another one to take.
		shaped = false
	}
	if shaped {
		if e, ok := r.shapes.getBytes(key); ok && (e.passthrough != nil || r.fresh(e.plan)) {
			r.stats.normHits.Add(1)
			if e.passthrough != nil {
				return e.passthroughPlan(sql), nil, nil
			}
			return e.plan, e.bind(lits), nil
		}
	}
	textKey := keyspace + "\x00" + string([]byte{byte(mode), byte(tt)}) + sql
	shapeKey, shape := "", ""
	if shaped {
		shapeKey = string(key)
		shape = shapeKey[prefix:]
	}
	plan, bv, err = r.planWith(sql, keyspace, tt, mode, nil)
	if err != nil {
		return nil, nil, err
	}
	r.texts.put(textKey, &textEntry{plan: plan, bv: bv})
	if shaped && len(plan.Params) == 0 && plan.Stmt != nil {
		if names, ok := matchLiterals(literalValues(lits), bv); ok {
			switch ks := passthroughKeyspace(plan); {
			case plan.anyValues:
				r.shapes.put(shapeKey, &shapeEntry{plan: plan, names: names})
			case ks != nil:
				r.shapes.put(shapeKey, newPassthroughShape(plan, ks, shape))
			}
		}
	}
	return plan, bv, nil
}

// PlanVisible plans sql as Plan does, with information_schema.SCHEMATA
// listing only the keyspaces visible accepts, for a gate account limited
// to those (Plan.ListsKeyspaces). Its plans are not cached.
func (r *Router) PlanVisible(sql, keyspace string, tt topodatapb.TabletType, mode ParseMode, visible func(keyspace string) bool) (*Plan, BindVars, error) {
	return r.planWith(sql, keyspace, r.VSchema().planType(tt), mode, visible)
}

// planWith plans sql; with visible set, SCHEMATA lists only the keyspaces
// it accepts, and the plan is neither taken from the cache nor put there.
func (r *Router) planWith(sql, keyspace string, tt topodatapb.TabletType, mode ParseMode, visible func(string) bool) (*Plan, BindVars, error) {
	vs := r.VSchema()
	colGen := r.colGen.Load()
	p := &planner{vs: vs, mode: mode, session: keyspace, tabletType: tt, seqs: &r.seqs, cols: r.cfg.Columns, visible: visible}
	if IsInformationSchema(keyspace) {
		// `USE information_schema`: no keyspace, and unqualified tables
		// are information_schema's.
		p.session, p.sysSession = "", "information_schema"
	}
	sql = loadDataIgnoreRows(sql)
	// MariaDB's RETURNING clause is split off for the parser and put
	// back on each shard's statement (returning.go).
	body, ret, hasRet := splitReturning(sql, mode)
	parsedText := quoteExplainFormat(body)
	stmt, perr := r.Parse(parsedText, mode)
	if perr != nil {
		// Statements that would leave state on a tablet connection are
		// recognized by their words whatever the parser thinks of them.
		if st, err := connStateText(sql); err != nil {
			return nil, nil, err
		} else if st != nil {
			return &Plan{Kind: PlanSession, StmtType: stmtType(st), Type: "Session", Stmt: st, ReadOnly: true}, nil, nil
		}
		// An unsharded keyspace gets what the parser rejects unchanged:
		// mysqld may well understand it. Transaction statements are the
		// gate's own: one sent as it is would reach a shard behind the
		// gate's back.
		if keyspace == "" || isTransactionText(sql) {
			return nil, nil, perr
		}
		ks, err := p.keyspaceByName(keyspace)
		if err != nil {
			return nil, nil, perr
		}
		if ks.Sharded && stmtTypeOfText(sql) == "DDL" {
			// DDL the parser does not know (MariaDB's INVISIBLE
			// columns, say): every shard gets it as written, as it gets
			// the DDL the parser reads.
			r.stats.misses.Add(1)
			return unparsedDDL(sql, ks, perr)
		}
		if ks.Sharded {
			if firstWord(sql) != "SHOW" {
				return nil, nil, perr
			}
			// A SHOW the parser does not know (MariaDB's SHOW PACKAGE
			// STATUS, which mariadb-dump --routines sends): one shard
			// answers, as for the SHOWs it knows.
			r.stats.misses.Add(1)
			return &Plan{Kind: PlanRoute, StmtType: "SHOW", Type: "Passthrough", ReadOnly: true,
				Primitive: &Route{Opcode: AnyShard, Keyspace: ks, Query: textTemplate(sql)}, Stats: &PlanStats{query: sql}}, nil, nil
		}
		r.stats.misses.Add(1)
		return &Plan{Kind: PlanRoute, StmtType: stmtTypeOfText(sql), Type: "Passthrough", UsesTables: true,
			Primitive: &Route{Opcode: Unsharded, Keyspace: ks, Query: textTemplate(sql)}, Stats: &PlanStats{query: sql}}, nil, nil
	}
	if err := mode.checkEscapes(stmt); err != nil {
		return nil, nil, err
	}
	lock, err := checkConnState(stmt)
	if err != nil {
		return nil, nil, err
	}
	p.lock = lock
	if isSessionStmt(stmt) {
		return &Plan{Kind: PlanSession, StmtType: stmtType(stmt), Type: "Session", Stmt: stmt, ReadOnly: true}, nil, nil
	}
	fixRestore(stmt, parsedText)
	var bv BindVars
	var params []string
	var sessionBinds []string
	var sessionCols []sessionColumn
	normKey, query := "", sql
	if normalizable(stmt) || lock {
		bv, params, sessionBinds = normalize(stmt)
		if len(sessionBinds) > 0 {
			sessionCols = sessionColumns(stmt)
		}
	}
	// A plan is cached by its normalized text, which a statement too big
	// for the text cache would make as big (and pin its syntax tree).
	if (normalizable(stmt) || lock) && len(sql) <= maxCachedText && visible == nil {
		text, err := restoreSQL(stmt)
		if err == nil && hasRet {
			text += " RETURNING " + ret.text
		}
		if err == nil {
			normKey, query = keyspace+"\x00"+string([]byte{byte(mode), byte(tt)})+text, text
			if cached, ok := r.plans.get(normKey); ok && r.fresh(cached) {
				r.stats.normHits.Add(1)
				out := *cached
				out.Params = params
				return &out, bv, nil
			}
		}
	}
	r.stats.misses.Add(1)
	prim, typ, err := p.planStmt(stmt, body, bv)
	if err != nil {
		return nil, nil, err
	}
	if hasRet {
		if prim, err = p.withReturning(prim, ret); err != nil {
			return nil, nil, err
		}
	}
	if p.byLiteral {
		// A literal's value chose the keyspace: no other values may
		// share this plan.
		normKey = ""
	}
	if pt := p.passthrough(prim, sql, bv, params); pt != nil {
		// The plan holds this text's own literals: it may be cached by
		// text only, never for other values.
		prim, typ, normKey, query = pt, "Passthrough", "", sql
	}
	if p.lookupWrites && !slices.Contains(sessionBinds, InTransactionBind) {
		// Lookup writes depend on whether the session is in a
		// transaction (lookup_write.go).
		sessionBinds = append(slices.Clone(sessionBinds), InTransactionBind)
		slices.Sort(sessionBinds)
	}
	plan := routePlan(p, stmt, typ, prim, sessionBinds, query, normKey != "", colGen)
	plan.sessionCols = sessionCols
	if normKey != "" {
		r.plans.put(normKey, plan)
	}
	out := *plan
	out.Params = params
	return &out, bv, nil
}

// routePlan is the plan of a parsed statement that prim routes. The
// statement is walked here, before its plan is cached and shared by
// sessions: a walk (Accept) writes the nodes it visits.
func routePlan(p *planner, stmt ast.StmtNode, typ string, prim Primitive, sessionBinds []string, query string, anyValues bool, colGen uint64) *Plan {
	first := firstTable(stmt)
	var keyspaces []string
	for ks := range p.touched {
		keyspaces = append(keyspaces, ks)
	}
	slices.Sort(keyspaces)
	return &Plan{
		Kind:             PlanRoute,
		StmtType:         stmtType(stmt),
		Type:             typ,
		Stmt:             stmt,
		ReadOnly:         isReadOnly(stmt),
		Primitive:        prim,
		UsesTables:       usesTables(stmt, first),
		FirstTable:       first,
		UsesLastInsertID: slices.Contains(sessionBinds, LastInsertIDBind),
		SessionBinds:     sessionBinds,
		Keyspaces:        keyspaces,
		ListsKeyspaces:   p.listsKeyspaces,
		Stats:            &PlanStats{query: query},
		anyValues:        anyValues,
		learned:          p.learned,
		colGen:           colGen,
	}
}

// normalizable statements get their literals replaced by bind variables.
func normalizable(stmt ast.StmtNode) bool {
	switch s := stmt.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt, *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
		return true
	case *ast.CallStmt:
		// For its ? markers (a prepared CALL); without them it goes as
		// written (passthrough).
		return true
	case *ast.ExplainStmt:
		return normalizable(s.Stmt)
	}
	return false
}

// planStmt plans a parsed statement; typ names the plan's shape.
func (p *planner) planStmt(stmt ast.StmtNode, sql string, bv BindVars) (Primitive, string, error) {
	p.stmt, p.bv = stmt, bv
	switch stmt.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt, *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
		targeted, ok, err := p.planShardTargeted(stmt)
		if err != nil {
			return nil, "", err
		}
		if ok {
			return targeted, "Targeted", nil
		}
	}
	stmt.Accept(stripColumnSchemas{p: p})
	sr := &schemataRewriter{p: p}
	stmt.Accept(sr)
	if sr.err != nil {
		return nil, "", sr.err
	}
	if p.lock {
		prim, err := p.planLock(stmt)
		if err != nil {
			return nil, "", err
		}
		return prim, "Lock", nil
	}
	var prim Primitive
	var err error
	switch s := stmt.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt:
		prim, err = p.planQuery(s)
	case *ast.InsertStmt:
		prim, err = p.planInsert(s)
	case *ast.UpdateStmt, *ast.DeleteStmt:
		prim, err = p.planUpdateDelete(s)
	case ast.DDLNode:
		prim, err = p.planDDL(s, sql)
	case *ast.ShowStmt:
		prim, err = p.planShow(s, sql)
	case *ast.ExplainStmt:
		return p.planExplain(s, bv)
	case *ast.LoadDataStmt:
		prim, err = p.planLoadData(s, sql)
	case *ast.CallStmt:
		prim, err = p.planCall(s)
	default:
		ks, kerr := p.defaultKeyspace()
		if kerr != nil {
			return nil, "", kerr
		}
		if ks.Sharded {
			return nil, "", sqlerr.NotSupported("%s statements on sharded keyspace %s", stmtName(stmt), ks.Name)
		}
		prim = &Route{Opcode: Unsharded, Keyspace: ks, Query: textTemplate(sql)}
	}
	if err != nil {
		return nil, "", err
	}
	return prim, planType(prim), nil
}

func stmtName(stmt ast.StmtNode) string {
	n := fmt.Sprintf("%T", stmt)
	n = strings.TrimPrefix(n, "*ast.")
	return strings.TrimSuffix(n, "Stmt")
}

// planType names a plan after its top operator and route variant.
func planType(prim Primitive) string {
	if t, ok := prim.(*Truncate); ok {
		// Hidden columns are a detail: name the plan after what they hide.
		return planType(t.Input)
	}
	d := prim.Describe()
	op, _ := d["operator"].(string)
	if v, ok := d["variant"].(string); ok && op == "Route" {
		return v
	}
	return op
}

// isSessionStmt reports the statements the proxy carries out itself.
func isSessionStmt(stmt ast.StmtNode) bool {
	switch s := stmt.(type) {
	case *ast.BeginStmt, *ast.CommitStmt, *ast.RollbackStmt, *ast.UseStmt, *ast.SetStmt, *ast.KillStmt:
		return true
	case *ast.SavepointStmt, *ast.ReleaseSavepointStmt:
		// The gate keeps the transaction's savepoints and sets them on
		// every shard that joins it.
		return true
	case *ast.LockTablesStmt, *ast.UnlockTablesStmt:
		// Ignored with a note: a table lock would stay on a pooled
		// tablet connection (see connstate.go).
		return true
	case *ast.CreateDatabaseStmt, *ast.DropDatabaseStmt:
		// Keyspaces are made and dropped with mosaicctl; the gate
		// answers as mysqld would for the ones that exist (CREATE: 1007,
		// or a note with IF NOT EXISTS), which tools that create their
		// database first expect, and for the ones that do not (DROP:
		// 1008, or a note with IF EXISTS).
		return true
	case *ast.ShowStmt:
		// SHOW WARNINGS and SHOW ERRORS describe the client's last
		// statement, which only the gate knows.
		// SHOW PROCESSLIST lists the gate's client connections.
		// SHOW GRANTS gives the gate account's rights, not the tablets'
		// mysqld account's.
		return s.Tp == ast.ShowDatabases || s.Tp == ast.ShowWarnings || s.Tp == ast.ShowErrors || s.Tp == ast.ShowProcessList || s.Tp == ast.ShowGrants
	}
	return false
}

func isReadOnly(stmt ast.StmtNode) bool {
	switch s := stmt.(type) {
	case *ast.SelectStmt:
		return s.LockInfo == nil && s.SelectIntoOpt == nil
	case *ast.SetOprStmt, *ast.ShowStmt, *ast.ExplainStmt:
		return true
	}
	return false
}

func stmtType(stmt ast.StmtNode) string {
	switch stmt.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt:
		return "SELECT"
	case *ast.InsertStmt, *ast.LoadDataStmt:
		return "INSERT"
	case *ast.UpdateStmt:
		return "UPDATE"
	case *ast.DeleteStmt:
		return "DELETE"
	case *ast.ShowStmt:
		return "SHOW"
	case *ast.SetStmt:
		return "SET"
	case *ast.UseStmt:
		return "USE"
	case *ast.BeginStmt:
		return "BEGIN"
	case *ast.CommitStmt:
		return "COMMIT"
	case *ast.RollbackStmt:
		return "ROLLBACK"
	case *ast.SavepointStmt, *ast.ReleaseSavepointStmt:
		return "SAVEPOINT"
	case *ast.ExplainStmt:
		return "EXPLAIN"
	case *ast.LockTablesStmt, *ast.UnlockTablesStmt:
		return "OTHER"
	case ast.DDLNode:
		return "DDL"
	}
	return "OTHER"
}

// firstWord is the statement's first word in upper case, after any
// comments.
func firstWord(sql string) string {
	t, ok := sqltext.Next(sql, sqltext.SkipSpaceAndComments(sql, 0))
	if !ok || t.Kind != sqltext.Word {
		return ""
	}
	return strings.ToUpper(t.Text(sql))
}

// stmtTypeOfText guesses the type of a statement the parser rejected from
// its first word.
func stmtTypeOfText(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return "OTHER"
	}
	switch w := strings.ToUpper(f[0]); w {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "SHOW", "SET":
		return w
	case "CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME":
		return "DDL"
	}
	return "OTHER"
}
