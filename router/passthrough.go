package router

// passthrough returns a route sending sql to an unsharded keyspace exactly
// as the client wrote it, when planning found nothing to change: one
// unsharded route, no keyspace qualifier dropped or table renamed, no ?
// markers, and no bind variable in the regenerated statement but the
// statement's own literals (LAST_INSERT_ID(), sequences, subquery results
// and other gate values need the regenerated text). Regenerating SQL from
// the TiDB parser's syntax tree is faithful for what the router rewrites,
// but MariaDB syntax the parser merely tolerates (executable comments,
// hints, PIPES_AS_CONCAT, ...) is best left alone. It returns nil when the
// statement needs the regenerated text.
func (p *planner) passthrough(prim Primitive, sql string, bv BindVars, params []string) Primitive {
	if p.rewrote || len(params) > 0 {
		return nil
	}
	var ks *Keyspace
	var t *sqlTemplate
	switch x := prim.(type) {
	case *Route:
		if x.Opcode != Unsharded {
			return nil
		}
		ks, t = x.Keyspace, x.Query
	case *Insert:
		if x.Opcode != Unsharded || x.Sequence != nil {
			return nil
		}
		ks, t = x.Keyspace, x.Query
		for _, row := range x.Rows {
			if !onlyLiterals(row, bv) {
				return nil
			}
		}
	default:
		return nil
	}
	if t == nil || !onlyLiterals(t, bv) {
		return nil
	}
	return &Route{Opcode: Unsharded, Keyspace: ks, Query: textTemplate(sql)}
}

// onlyLiterals reports whether every bind variable of t is one of the
// statement's literals (or the INSERT's rows).
func onlyLiterals(t *sqlTemplate, bv BindVars) bool {
	for _, s := range t.segs {
		if !s.isBV || s.bind == rowsBind {
			continue
		}
		if _, ok := bv[s.bind]; !ok {
			return false
		}
	}
	return true
}
