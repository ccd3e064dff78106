package e2e

import (
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

const customerVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "customer": {"column_vindexes": [{"column": "customer_id", "name": "hash"}]}
  }
}`

// TestShardedSmoke checks that rows spread over both shards of a sharded
// keyspace and come back whole through the gate.
func TestShardedSmoke(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: customerVSchema}},
	})
	db := c.DB(t, "customer", "interpolateParams=true")
	mustExec(t, db, "create table customer (customer_id bigint primary key, email varchar(64))")
	for i := 1; i <= 50; i++ {
		mustExec(t, db, "insert into customer (customer_id, email) values (?, ?)", i, "user@example.com")
	}
	if n := count(t, db, "select count(*) from customer"); n != 50 {
		t.Fatalf("count through gate = %d", n)
	}
	// Each shard holds some but not all rows.
	perShard := 0
	for _, sh := range []string{"-80", "80-"} {
		direct := openDirect(t, c.DirectDSN("customer", sh))
		n := count(t, direct, "select count(*) from customer")
		if n == 0 || n == 50 {
			t.Fatalf("shard %s holds %d of 50 rows", sh, n)
		}
		perShard += n
	}
	if perShard != 50 {
		t.Fatalf("shards hold %d rows in all", perShard)
	}
	var id int
	if err := db.QueryRow("select customer_id from customer where customer_id = ?", 37).Scan(&id); err != nil || id != 37 {
		t.Fatalf("point select = %d %v", id, err)
	}
}
