package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// testTwoPCBranchProof checks what a tablet counts as a finished XA
// branch. MariaDB answers XAER_NOTA to XA COMMIT from another connection
// while the prepared branch is still attached to the connection that
// prepared it; the tablet once took that for "committed already", so the
// gate deleted the decision and a resolver later rolled the branch back.
// Now CommitPrepared waits for the branch to come free and commits it,
// confirms a commit again only from the branch's proof row, and refuses
// to call a branch that was never prepared committed (or a committed one
// rolled back).
// It runs in TestStatementAtomicity's cluster (keyspace bank, shards -80
// and 80-).
func testTwoPCBranchProof(t *testing.T, c *cluster.Cluster) {
	mustExec(t, c.DB(t, "bank"), "create table account (id bigint primary key, balance int)")
	primary := c.Shards["bank"]["-80"].Primary()
	q := primary.Dial(t).Query
	target := primary.Target(topodatapb.TabletType_PRIMARY)
	ctx := t.Context()

	// A branch prepared on a connection that stays open, as the tablet's
	// own is for a moment after Prepare.
	holder := openDirect(t, c.DirectDSN("bank", "-80"))
	holder.SetMaxIdleConns(0) // closing the conn closes the connection
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	xid := &querypb.Xid{Gtrid: "mosaic-prooftest0001", Bqual: "bank/-80"}
	for _, s := range []string{
		"XA START 'mosaic-prooftest0001', 'bank/-80'",
		"INSERT INTO account (id, balance) VALUES (424242, 7)",
		// Its proof row, as the tablet's Prepare writes it (a time of
		// creation older than the retention would be purged).
		fmt.Sprintf("INSERT INTO _mosaic.dt_branch (dtid, time_created) VALUES ('mosaic-prooftest0001', %d)", time.Now().UnixNano()),
		"XA END 'mosaic-prooftest0001', 'bank/-80'",
		"XA PREPARE 'mosaic-prooftest0001', 'bank/-80'",
	} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := q.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Target: target, Xid: xid})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("CommitPrepared returned (%v) while the branch was still held by its connection", err)
	case <-time.After(time.Second):
	}
	conn.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("CommitPrepared: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CommitPrepared did not return after the branch came free")
	}
	d := direct(t, c, "bank", "-80")
	if got := count(t, d, "select count(*) from account where id = 424242"); got != 1 {
		t.Fatalf("the committed branch's row: %d rows", got)
	}
	for _, r := range queryRows(t, d, "xa recover") {
		if strings.Contains(r, "prooftest") {
			t.Fatalf("still prepared after CommitPrepared: %s", r)
		}
	}

	// Asked again: proven committed by its proof row.
	if _, err := q.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Target: target, Xid: xid}); err != nil {
		t.Fatalf("CommitPrepared of a committed branch: %v", err)
	}
	// A committed branch is never reported rolled back.
	if _, err := q.RollbackPrepared(ctx, &querypb.RollbackPreparedRequest{Target: target, Xid: xid}); sqlerr.FromError(err).Num != 1397 {
		t.Fatalf("RollbackPrepared of a committed branch: %v, want 1397", err)
	}
	// A branch never prepared here is not committed...
	never := &querypb.Xid{Gtrid: "mosaic-prooftest0002", Bqual: "bank/-80"}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := q.CommitPrepared(cctx, &querypb.CommitPreparedRequest{Target: target, Xid: never}); sqlerr.FromError(err).Num != 1397 {
		t.Fatalf("CommitPrepared of a branch never prepared: %v, want 1397", err)
	}
	// ... and counts as rolled back.
	if _, err := q.RollbackPrepared(cctx, &querypb.RollbackPreparedRequest{Target: target, Xid: never}); err != nil {
		t.Fatalf("RollbackPrepared of a branch never prepared: %v", err)
	}
}
