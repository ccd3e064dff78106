package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// Product and LineItem are GORM models on the sharded keyspace: products
// by id (from a sequence), line items by product_id.
type Product struct {
	ID        uint64 `gorm:"primaryKey"`
	Code      string `gorm:"size:32;index"`
	Price     int64
	Tags      string `gorm:"size:200"`
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt gorm.DeletedAt `gorm:"index"`
	LineItems []LineItem
}

type LineItem struct {
	ID        uint64 `gorm:"primaryKey"`
	ProductID uint64 `gorm:"index"`
	Quantity  int
}

// testGorm runs GORM's AutoMigrate, CRUD and a transaction against the
// sharded keyspace, with server-side prepared statements and without.
func testGorm(t *testing.T, c *cluster.Cluster) {
	// Sequences are set up on mysqld: the gate only hands out their ids.
	commerce := openDirect(t, c.DirectDSN("commerce", "0"))
	mustExec(t, commerce, "create table products_seq (id int, next_id bigint, cache bigint, primary key(id)) comment 'vitess_sequence'")
	mustExec(t, commerce, "insert into products_seq values (0, 1, 100)")
	mustExec(t, commerce, "create table line_items_seq (id int, next_id bigint, cache bigint, primary key(id)) comment 'vitess_sequence'")
	mustExec(t, commerce, "insert into line_items_seq values (0, 1, 100)")

	// GORM sends INSERT ... RETURNING to a MariaDB 10.5 or later (the gate
	// announces one) unless DisableWithReturning is set: both ways work.
	for _, mode := range []struct {
		name                string
		prepared, returning bool
	}{{"prepared", true, true}, {"interpolated", false, true}, {"prepared without returning", true, false}} {
		t.Run(mode.name, func(t *testing.T) {
			dsn := c.DSN("customer", "parseTime=true")
			if !mode.prepared {
				dsn = c.DSN("customer", "parseTime=true", "interpolateParams=true")
			}
			dialector := gormmysql.New(gormmysql.Config{DSN: dsn, DisableWithReturning: !mode.returning})
			db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, _ := db.DB()
			t.Cleanup(func() { sqlDB.Close() })
			// AutoMigrate twice: the second finds the tables and changes nothing.
			for range 2 {
				if err := db.AutoMigrate(&Product{}, &LineItem{}); err != nil {
					t.Fatalf("AutoMigrate: %v", err)
				}
			}
			// Create (ids from the sequences), with associations.
			p := Product{Code: "D42", Price: 100, Tags: "a,b", LineItems: []LineItem{{Quantity: 1}, {Quantity: 2}}}
			if err := db.Create(&p).Error; err != nil {
				t.Fatalf("Create: %v", err)
			}
			if p.ID == 0 || p.LineItems[0].ID == 0 || p.LineItems[0].ProductID != p.ID {
				t.Fatalf("ids not filled in: %+v", p)
			}
			batch := []Product{{Code: "B1", Price: 1}, {Code: "B2", Price: 2}, {Code: "B3", Price: 3}}
			if err := db.Create(&batch).Error; err != nil {
				t.Fatalf("batch Create: %v", err)
			}
			// A batch with associations: GORM gives each product the id
			// the statement returned in its row's place, then inserts
			// the line items with those ids; reading back by id finds
			// each product with its own line items.
			withItems := make([]Product, 6)
			for i := range withItems {
				withItems[i] = Product{Code: fmt.Sprintf("BA%d", i), Price: int64(i),
					LineItems: []LineItem{{Quantity: 10 * i}, {Quantity: 10*i + 1}}}
			}
			if err := db.Create(&withItems).Error; err != nil {
				t.Fatalf("batch Create with associations: %v", err)
			}
			for i, p := range withItems {
				var back Product
				if err := db.Preload("LineItems", func(db *gorm.DB) *gorm.DB { return db.Order("quantity") }).First(&back, p.ID).Error; err != nil {
					t.Fatalf("read back %d: %v", p.ID, err)
				}
				if back.Code != fmt.Sprintf("BA%d", i) || len(back.LineItems) != 2 || back.LineItems[0].Quantity != 10*i ||
					back.LineItems[0].ID != p.LineItems[0].ID || back.LineItems[1].ID != p.LineItems[1].ID {
					t.Fatalf("product %d created as %+v, read back as %+v", i, p, back)
				}
			}
			// Read.
			var got Product
			if err := db.Preload("LineItems").First(&got, p.ID).Error; err != nil {
				t.Fatalf("First: %v", err)
			}
			if got.Code != "D42" || len(got.LineItems) != 2 {
				t.Fatalf("read back %+v", got)
			}
			var many []Product
			if err := db.Where("price < ?", 10).Order("price").Find(&many).Error; err != nil || len(many) < 3 {
				t.Fatalf("Find: %d %v", len(many), err)
			}
			var total int64
			if err := db.Model(&Product{}).Where("code like ?", "B%").Count(&total).Error; err != nil || total < 3 {
				t.Fatalf("Count: %d %v", total, err)
			}
			// Update.
			if err := db.Model(&got).Update("price", 200).Error; err != nil {
				t.Fatalf("Update: %v", err)
			}
			if err := db.Model(&got).Updates(Product{Code: "D43", Tags: "c"}).Error; err != nil {
				t.Fatalf("Updates: %v", err)
			}
			if err := db.Save(&got).Error; err != nil {
				t.Fatalf("Save: %v", err)
			}
			var again Product
			if err := db.First(&again, got.ID).Error; err != nil || again.Price != 200 || again.Code != "D43" {
				t.Fatalf("after updates %+v %v", again, err)
			}
			// Delete (soft, then for good).
			if err := db.Delete(&again).Error; err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if err := db.First(&Product{}, again.ID).Error; !errors.Is(err, gorm.ErrRecordNotFound) {
				t.Fatalf("soft-deleted row still found: %v", err)
			}
			if err := db.Where("product_id = ?", again.ID).Delete(&LineItem{}).Error; err != nil {
				t.Fatalf("Delete line items: %v", err)
			}
			if err := db.Unscoped().Delete(&Product{}, again.ID).Error; err != nil {
				t.Fatalf("Unscoped Delete: %v", err)
			}
			// A transaction that commits and one that rolls back.
			err = db.Transaction(func(tx *gorm.DB) error {
				for i := range 4 {
					if err := tx.Create(&Product{Code: "TX", Price: int64(i)}).Error; err != nil {
						return err
					}
				}
				return tx.Model(&Product{}).Where("code = ?", "TX").Update("price", 7).Error
			})
			if err != nil {
				t.Fatalf("Transaction: %v", err)
			}
			err = db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&Product{Code: "RB"}).Error; err != nil {
					return err
				}
				return errors.New("roll back")
			})
			if err == nil || err.Error() != "roll back" {
				t.Fatalf("rolled back transaction: %v", err)
			}
			var tx, rb int64
			db.Model(&Product{}).Where("code = ? and price = ?", "TX", 7).Count(&tx)
			db.Model(&Product{}).Where("code = ?", "RB").Count(&rb)
			if tx < 4 || rb != 0 {
				t.Fatalf("after transactions: %d committed rows, %d rolled back rows", tx, rb)
			}
			// Nested transactions are savepoints: the inner one fails and
			// is rolled back to its savepoint, the outer one commits. The
			// rows spread over both shards.
			code := "N"
			for _, w := range strings.Fields(mode.name) {
				code += w[:1] // "Np", "Ni", "Npwr": distinct per mode, short
			}
			err = db.Transaction(func(tx *gorm.DB) error {
				for i := range 3 {
					if err := tx.Create(&Product{Code: code + "-outer", Price: int64(i)}).Error; err != nil {
						return err
					}
				}
				inner := tx.Transaction(func(tx2 *gorm.DB) error {
					for i := range 3 {
						if err := tx2.Create(&Product{Code: code + "-inner", Price: int64(i)}).Error; err != nil {
							return err
						}
					}
					if err := tx2.Model(&Product{}).Where("code = ?", code+"-outer").Update("price", 99).Error; err != nil {
						return err
					}
					return errors.New("inner fails")
				})
				if inner == nil || inner.Error() != "inner fails" {
					return fmt.Errorf("inner transaction: %v", inner)
				}
				ok := tx.Transaction(func(tx2 *gorm.DB) error {
					return tx2.Create(&Product{Code: code + "-kept", Price: 1}).Error
				})
				if ok != nil {
					return ok
				}
				return tx.Create(&Product{Code: code + "-after", Price: 2}).Error
			})
			if err != nil {
				t.Fatalf("nested transactions: %v", err)
			}
			for c, want := range map[string]int64{"-outer": 3, "-inner": 0, "-kept": 1, "-after": 1} {
				var n int64
				if err := db.Model(&Product{}).Where("code = ?", code+c).Count(&n).Error; err != nil || n != want {
					t.Errorf("%s rows after nested transactions: %d %v, want %d", code+c, n, err, want)
				}
			}
			var raised int64
			db.Model(&Product{}).Where("code = ? and price = 99", code+"-outer").Count(&raised)
			if raised != 0 {
				t.Errorf("the inner transaction's update survived on %d rows", raised)
			}
		})
	}
}
