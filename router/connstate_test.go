package router

import (
	"errors"
	"testing"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// TestConnStateStatements: table locks are session statements (the gate
// ignores them); statements that would leave state on a pooled tablet
// connection are refused with 1235 on every keyspace, parsed or not.
func TestConnStateStatements(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(BuildVSchema([]KeyspaceInput{
		{Name: "commerce", Shards: []string{"0"}},
		{Name: "customer", VSchema: &vschemapb.Keyspace{Sharded: true}, Shards: []string{"-80", "80-"}},
	}, nil))
	for _, ks := range []string{"commerce", "customer"} {
		for _, sql := range []string{
			"LOCK TABLES t WRITE", "lock table t read local", "LOCK TABLES `a` WRITE, b READ",
			"LOCK TABLES t WRITE CONCURRENT", "/* x */ UNLOCK TABLES", "unlock table",
		} {
			p, _, err := r.Plan(sql, ks, 0)
			if err != nil || p.Kind != PlanSession || p.Stmt == nil {
				t.Errorf("%s on %s: %v, %v", sql, ks, p, err)
			}
		}
		// User-level lock functions alone run on the session's lock
		// session, on the keyspace's first shard.
		for _, sql := range []string{
			"SELECT GET_LOCK('a', 1)", "select release_lock('a')", "SELECT RELEASE_ALL_LOCKS()",
			"select is_used_lock('a')", "SELECT IS_FREE_LOCK('a')", "DO GET_LOCK('a', 0)",
			"select get_lock(?, ?)", "do release_lock(?)", "SELECT GET_LOCK('a', 1), IS_USED_LOCK('a') FROM DUAL",
		} {
			p, bv, err := r.Plan(sql, ks, 0)
			if err != nil || p.Kind != PlanRoute || p.Type != "Lock" {
				t.Errorf("%s on %s: %v, %v; want a Lock plan", sql, ks, p, err)
				continue
			}
			if len(p.Params) > 0 {
				args := make([]any, len(p.Params))
				for i := range args {
					args[i] = "a"
				}
				if bv, err = p.Bind(bv, args); err != nil {
					t.Fatal(err)
				}
			}
			qs, err := p.Primitive.(*Route).queries(bv, topodatapb.TabletType_REPLICA)
			if err != nil || len(qs) != 1 || !qs[0].Lock || qs[0].Shard != map[string]string{"commerce": "0", "customer": "-80"}[ks] {
				t.Errorf("%s on %s: queries %+v, %v; want one lock query on the first shard", sql, ks, qs, err)
			}
		}
		for _, sql := range []string{
			"SELECT GET_LOCK('a', 1) INTO @x", "SET @x = GET_LOCK('a', 1)", "SELECT @x := GET_LOCK('a', 1)",
			"select * from t where id = get_lock('a', 0)", "SELECT GET_LOCK('a', 1) FROM t",
			"SELECT GET_LOCK((SELECT MAX(id) FROM t), 1)", "DO GET_LOCK('a', 0), (SELECT 1 FROM t)",
			"INSERT INTO t VALUES (GET_LOCK('a', 0))", "UPDATE t SET x = RELEASE_LOCK('a')",
			"CREATE TEMPORARY TABLE tmp (id INT)", "create or replace temporary table tmp (id int)",
			"PREPARE s FROM 'SELECT 1'", "EXECUTE s", "DEALLOCATE PREPARE s", "DROP PREPARE s",
			"HANDLER t OPEN", "FLUSH TABLES WITH READ LOCK", "FLUSH TABLES t WITH READ LOCK",
			"FLUSH TABLES t FOR EXPORT", "BACKUP STAGE START", "BACKUP LOCK t",
		} {
			_, _, err := r.Plan(sql, ks, 0)
			var se *sqlerr.Error
			if !errors.Is(err, ErrConnState) || !errors.As(err, &se) || se.Num != sqlerr.ERNotSupportedYet {
				t.Errorf("%s on %s: %v, want 1235", sql, ks, err)
			}
		}
	}
}
