package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// tpcc is tpcc-lite: TPC-C's new-order and payment transactions, half of
// each, over a scaled-down schema in which every table but the item
// catalogue carries the warehouse id w_id. Sharding every table by w_id
// (see VSchemaJSON) keeps each transaction on one shard. Differences from
// TPC-C: 10 districts of 30 customers per warehouse, Items items (1,000
// by default), no initial orders, customers always chosen by id, no
// remote warehouses, no rollbacks, no think time.
type tpcc struct {
	opts WorkloadOptions
}

const (
	tpccDistricts = 10
	tpccCustomers = 30 // per district
)

// tpccTables are the tables in the order Prepare creates them.
var tpccTables = []struct{ name, ddl string }{
	{"tpcc_warehouse", "(w_id INT NOT NULL, w_name VARCHAR(10) NOT NULL, w_tax DECIMAL(4,4) NOT NULL, " +
		"w_ytd DECIMAL(12,2) NOT NULL, PRIMARY KEY (w_id))"},
	{"tpcc_district", "(w_id INT NOT NULL, d_id INT NOT NULL, d_name VARCHAR(10) NOT NULL, d_tax DECIMAL(4,4) NOT NULL, " +
		"d_ytd DECIMAL(12,2) NOT NULL, d_next_o_id INT NOT NULL, PRIMARY KEY (w_id, d_id))"},
	{"tpcc_customer", "(w_id INT NOT NULL, d_id INT NOT NULL, c_id INT NOT NULL, c_last VARCHAR(16) NOT NULL, " +
		"c_credit CHAR(2) NOT NULL, c_discount DECIMAL(4,4) NOT NULL, c_balance DECIMAL(12,2) NOT NULL, " +
		"c_ytd_payment DECIMAL(12,2) NOT NULL, c_payment_cnt INT NOT NULL, PRIMARY KEY (w_id, d_id, c_id))"},
	{"tpcc_item", "(i_id INT NOT NULL, i_name VARCHAR(24) NOT NULL, i_price DECIMAL(5,2) NOT NULL, PRIMARY KEY (i_id))"},
	{"tpcc_stock", "(w_id INT NOT NULL, i_id INT NOT NULL, s_quantity INT NOT NULL, s_ytd INT NOT NULL, " +
		"s_order_cnt INT NOT NULL, PRIMARY KEY (w_id, i_id))"},
	{"tpcc_orders", "(w_id INT NOT NULL, d_id INT NOT NULL, o_id INT NOT NULL, c_id INT NOT NULL, " +
		"o_entry_d DATETIME NOT NULL, o_ol_cnt INT NOT NULL, PRIMARY KEY (w_id, d_id, o_id))"},
	{"tpcc_new_order", "(w_id INT NOT NULL, d_id INT NOT NULL, o_id INT NOT NULL, PRIMARY KEY (w_id, d_id, o_id))"},
	{"tpcc_order_line", "(w_id INT NOT NULL, d_id INT NOT NULL, o_id INT NOT NULL, ol_number INT NOT NULL, " +
		"i_id INT NOT NULL, ol_quantity INT NOT NULL, ol_amount DECIMAL(8,2) NOT NULL, PRIMARY KEY (w_id, d_id, o_id, ol_number))"},
	{"tpcc_history", "(w_id INT NOT NULL, h_id BIGINT NOT NULL, d_id INT NOT NULL, c_id INT NOT NULL, " +
		"h_amount DECIMAL(6,2) NOT NULL, h_date DATETIME NOT NULL, PRIMARY KEY (w_id, h_id))"},
}

func (t *tpcc) Name() string { return "tpcc-lite" }

// Prepare creates the tpcc_* tables and loads Warehouses warehouses.
func (t *tpcc) Prepare(ctx context.Context, db *sql.DB) error {
	if err := t.Cleanup(ctx, db); err != nil {
		return err
	}
	for _, tb := range tpccTables {
		if err := exec(ctx, db, "CREATE TABLE "+tb.name+" "+tb.ddl); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	ins := newBatchInserter(ctx, db, 500)
	for i := 1; i <= t.opts.Items; i++ {
		ins.add("tpcc_item (i_id, i_name, i_price)", fmt.Sprintf("(%d,'item-%d',%d.%02d)", i, i, 1+rng.IntN(99), rng.IntN(100)))
	}
	for w := 1; w <= t.opts.Warehouses; w++ {
		ins.add("tpcc_warehouse (w_id, w_name, w_tax, w_ytd)", fmt.Sprintf("(%d,'wh-%d',0.%04d,300000.00)", w, w, rng.IntN(2000)))
		for d := 1; d <= tpccDistricts; d++ {
			ins.add("tpcc_district (w_id, d_id, d_name, d_tax, d_ytd, d_next_o_id)",
				fmt.Sprintf("(%d,%d,'d-%d',0.%04d,30000.00,1)", w, d, d, rng.IntN(2000)))
			for c := 1; c <= tpccCustomers; c++ {
				credit := "GC"
				if rng.IntN(10) == 0 {
					credit = "BC"
				}
				ins.add("tpcc_customer (w_id, d_id, c_id, c_last, c_credit, c_discount, c_balance, c_ytd_payment, c_payment_cnt)",
					fmt.Sprintf("(%d,%d,%d,'last-%d','%s',0.%04d,-10.00,10.00,1)", w, d, c, c, credit, rng.IntN(5000)))
			}
		}
		for i := 1; i <= t.opts.Items; i++ {
			ins.add("tpcc_stock (w_id, i_id, s_quantity, s_ytd, s_order_cnt)", fmt.Sprintf("(%d,%d,%d,0,0)", w, i, 10+rng.IntN(91)))
		}
	}
	return ins.flush()
}

// Cleanup drops the tpcc_* tables.
func (t *tpcc) Cleanup(ctx context.Context, db *sql.DB) error {
	for i := len(tpccTables) - 1; i >= 0; i-- {
		if err := exec(ctx, db, "DROP TABLE IF EXISTS "+tpccTables[i].name); err != nil {
			return err
		}
	}
	return nil
}

func (t *tpcc) NewWorker(thread int, rng *rand.Rand) Worker {
	return &tpccWorker{t: t, rng: rng}
}

type tpccWorker struct {
	t   *tpcc
	rng *rand.Rand
	n   int
}

func (w *tpccWorker) Event(ctx context.Context, conn *sql.Conn) (int, error) {
	w.n++
	tx := &txRunner{ctx: ctx, conn: conn}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return 1, err
	}
	tx.n = 1
	var err error
	if w.n%2 == 0 {
		err = w.payment(tx)
	} else {
		err = w.newOrder(tx)
	}
	if err != nil {
		tx.n++
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return tx.n, err
	}
	tx.n++
	_, err = conn.ExecContext(ctx, "COMMIT")
	return tx.n, err
}

// newOrder enters an order of 5 to 15 lines for a customer of one
// district of one warehouse.
func (w *tpccWorker) newOrder(tx *txRunner) error {
	wh := 1 + w.rng.IntN(w.t.opts.Warehouses)
	d := 1 + w.rng.IntN(tpccDistricts)
	c := 1 + w.rng.IntN(tpccCustomers)
	var tax float64
	if err := tx.row(fmt.Sprintf("SELECT w_tax FROM tpcc_warehouse WHERE w_id = %d", wh), &tax); err != nil {
		return err
	}
	var dtax float64
	var oid int
	if err := tx.row(fmt.Sprintf("SELECT d_tax, d_next_o_id FROM tpcc_district WHERE w_id = %d AND d_id = %d FOR UPDATE", wh, d), &dtax, &oid); err != nil {
		return err
	}
	var discount float64
	var last, credit string
	if err := tx.exec(
		fmt.Sprintf("UPDATE tpcc_district SET d_next_o_id = d_next_o_id + 1 WHERE w_id = %d AND d_id = %d", wh, d),
	); err != nil {
		return err
	}
	if err := tx.row(fmt.Sprintf("SELECT c_discount, c_last, c_credit FROM tpcc_customer WHERE w_id = %d AND d_id = %d AND c_id = %d", wh, d, c),
		&discount, &last, &credit); err != nil {
		return err
	}
	// Distinct items in order, so that concurrent orders lock stock rows
	// in the same order and never deadlock.
	lines := 5 + w.rng.IntN(11)
	items := make([]int, 0, lines)
	for len(items) < lines {
		i := 1 + w.rng.IntN(w.t.opts.Items)
		if !slices.Contains(items, i) {
			items = append(items, i)
		}
	}
	slices.Sort(items)
	if err := tx.exec(
		fmt.Sprintf("INSERT INTO tpcc_orders (w_id, d_id, o_id, c_id, o_entry_d, o_ol_cnt) VALUES (%d, %d, %d, %d, NOW(), %d)", wh, d, oid, c, lines),
		fmt.Sprintf("INSERT INTO tpcc_new_order (w_id, d_id, o_id) VALUES (%d, %d, %d)", wh, d, oid),
	); err != nil {
		return err
	}
	for n, item := range items {
		qty := 1 + w.rng.IntN(10)
		var price float64
		var name string
		if err := tx.row(fmt.Sprintf("SELECT i_price, i_name FROM tpcc_item WHERE i_id = %d", item), &price, &name); err != nil {
			return err
		}
		var stock int
		if err := tx.row(fmt.Sprintf("SELECT s_quantity FROM tpcc_stock WHERE w_id = %d AND i_id = %d FOR UPDATE", wh, item), &stock); err != nil {
			return err
		}
		newQty := stock - qty
		if newQty < 10 {
			newQty += 91
		}
		amount := float64(qty) * price * (1 + tax + dtax) * (1 - discount)
		if err := tx.exec(
			fmt.Sprintf("UPDATE tpcc_stock SET s_quantity = %d, s_ytd = s_ytd + %d, s_order_cnt = s_order_cnt + 1 WHERE w_id = %d AND i_id = %d", newQty, qty, wh, item),
			fmt.Sprintf("INSERT INTO tpcc_order_line (w_id, d_id, o_id, ol_number, i_id, ol_quantity, ol_amount) VALUES (%d, %d, %d, %d, %d, %d, %.2f)",
				wh, d, oid, n+1, item, qty, amount),
		); err != nil {
			return err
		}
	}
	return nil
}

// payment records a customer's payment in its warehouse, district and
// history.
func (w *tpccWorker) payment(tx *txRunner) error {
	wh := 1 + w.rng.IntN(w.t.opts.Warehouses)
	d := 1 + w.rng.IntN(tpccDistricts)
	c := 1 + w.rng.IntN(tpccCustomers)
	amount := fmt.Sprintf("%d.%02d", 1+w.rng.IntN(5000), w.rng.IntN(100))
	var wname, dname string
	var balance float64
	var credit string
	if err := tx.exec(fmt.Sprintf("UPDATE tpcc_warehouse SET w_ytd = w_ytd + %s WHERE w_id = %d", amount, wh)); err != nil {
		return err
	}
	if err := tx.row(fmt.Sprintf("SELECT w_name FROM tpcc_warehouse WHERE w_id = %d", wh), &wname); err != nil {
		return err
	}
	if err := tx.exec(fmt.Sprintf("UPDATE tpcc_district SET d_ytd = d_ytd + %s WHERE w_id = %d AND d_id = %d", amount, wh, d)); err != nil {
		return err
	}
	if err := tx.row(fmt.Sprintf("SELECT d_name FROM tpcc_district WHERE w_id = %d AND d_id = %d", wh, d), &dname); err != nil {
		return err
	}
	if err := tx.row(fmt.Sprintf("SELECT c_balance, c_credit FROM tpcc_customer WHERE w_id = %d AND d_id = %d AND c_id = %d FOR UPDATE", wh, d, c),
		&balance, &credit); err != nil {
		return err
	}
	return tx.exec(
		fmt.Sprintf("UPDATE tpcc_customer SET c_balance = c_balance - %s, c_ytd_payment = c_ytd_payment + %s, c_payment_cnt = c_payment_cnt + 1 "+
			"WHERE w_id = %d AND d_id = %d AND c_id = %d", amount, amount, wh, d, c),
		fmt.Sprintf("INSERT INTO tpcc_history (w_id, h_id, d_id, c_id, h_amount, h_date) VALUES (%d, %d, %d, %d, %s, NOW())",
			wh, w.rng.Int64(), d, c, amount),
	)
}

// txRunner sends the statements of one transaction, counting them.
type txRunner struct {
	ctx  context.Context
	conn *sql.Conn
	n    int
}

func (t *txRunner) exec(stmts ...string) error {
	for _, s := range stmts {
		t.n++
		if _, err := t.conn.ExecContext(t.ctx, s); err != nil {
			return fmt.Errorf("%s: %w", abbreviate(s), err)
		}
	}
	return nil
}

// row reads the one row of q into dest.
func (t *txRunner) row(q string, dest ...any) error {
	t.n++
	if err := t.conn.QueryRowContext(t.ctx, q).Scan(dest...); err != nil {
		return fmt.Errorf("%s: %w", abbreviate(q), err)
	}
	return nil
}

// batchInserter groups rows per table into multi-row INSERTs.
type batchInserter struct {
	ctx   context.Context
	db    *sql.DB
	size  int
	into  string
	rows  []string
	first error
}

func newBatchInserter(ctx context.Context, db *sql.DB, size int) *batchInserter {
	return &batchInserter{ctx: ctx, db: db, size: size}
}

// add queues one row for "INSERT INTO <into> VALUES ...".
func (b *batchInserter) add(into, row string) {
	if into != b.into || len(b.rows) >= b.size {
		b.flush()
		b.into = into
	}
	b.rows = append(b.rows, row)
}

// flush sends the queued rows and returns the first error seen.
func (b *batchInserter) flush() error {
	if len(b.rows) > 0 && b.first == nil {
		b.first = exec(b.ctx, b.db, "INSERT INTO "+b.into+" VALUES "+strings.Join(b.rows, ","))
	}
	b.rows = b.rows[:0]
	return b.first
}

// VSchemaJSON returns a VSchema for a sharded keyspace holding every
// workload's tables: sbtest tables and StreamTable sharded by id, tpcc
// tables by w_id, tpcc_item a reference table, all with the vindex
// bench_hash (hash).
func VSchemaJSON(opts WorkloadOptions) string {
	var tables []string
	for t := 1; t <= opts.Tables; t++ {
		tables = append(tables, fmt.Sprintf(`"%s":{"column_vindexes":[{"column":"id","name":"bench_hash"}]}`, sbtable(t)))
	}
	for _, tb := range tpccTables {
		if tb.name == "tpcc_item" {
			tables = append(tables, `"tpcc_item":{"type":"reference"}`)
			continue
		}
		tables = append(tables, fmt.Sprintf(`"%s":{"column_vindexes":[{"column":"w_id","name":"bench_hash"}]}`, tb.name))
	}
	tables = append(tables, fmt.Sprintf(`"%s":{"column_vindexes":[{"column":"id","name":"bench_hash"}]}`, StreamTable))
	return `{"sharded":true,"vindexes":{"bench_hash":{"type":"hash"}},"tables":{` + strings.Join(tables, ",") + `}}`
}
