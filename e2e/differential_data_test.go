package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The differential tests' schema: customer and corder sharded by
// customer_id, country a reference table, corder's order_id from the
// sequence commerce.corder_seq, and product unsharded in commerce.

// diffCustomerVSchema is the sharded keyspace's VSchema. customer lists
// its columns authoritatively, so an INSERT without a column list uses
// them; corder does not, so the gate learns its columns from the shards.
const diffCustomerVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "customer": {
      "column_vindexes": [{"column": "customer_id", "name": "hash"}],
      "columns": [
        {"name": "customer_id"}, {"name": "name"}, {"name": "nick"}, {"name": "email"},
        {"name": "country_code"}, {"name": "balance"}, {"name": "score"}, {"name": "created"},
        {"name": "tier"}
      ],
      "column_list_authoritative": true
    },
    "corder": {
      "column_vindexes": [{"column": "customer_id", "name": "hash"}],
      "auto_increment": {"column": "order_id", "sequence": "commerce.corder_seq"}
    },
    "country": {"type": "reference"}
  }
}`

const diffCommerceVSchema = `{"tables": {"corder_seq": {"type": "sequence"}, "product": {}}}`

// diffCustomerDDL creates the customer keyspace's tables. corder's
// AUTO_INCREMENT only matters on the plain server: through the gate the
// sequence gives order_id.
var diffCustomerDDL = []string{
	`create table customer (
  customer_id bigint not null primary key,
  name varchar(64) not null,
  nick varchar(32) collate utf8mb4_unicode_ci null,
  email varchar(128) collate utf8mb4_bin null,
  country_code char(2) null,
  balance decimal(12,2) null,
  score double null,
  created date not null,
  tier tinyint null,
  key (name)
)`,
	`create table corder (
  order_id bigint not null auto_increment primary key,
  customer_id bigint not null,
  product_id int not null,
  qty int not null,
  amount decimal(10,2) not null,
  status varchar(16) not null,
  ordered_at datetime not null,
  note varchar(100) null,
  key (customer_id)
)`,
	`create table country (
  code char(2) not null primary key,
  name varchar(64) not null,
  region varchar(32) null,
  vat decimal(5,2) null
)`,
}

var diffCommerceDDL = []string{
	`create table product (
  product_id int not null primary key,
  title varchar(64) not null,
  price decimal(10,2) not null,
  category varchar(32) null
)`,
}

// diffData is the generated data: multi-row INSERT statements per
// keyspace, and the first order id the sequence (or AUTO_INCREMENT) hands
// out after them.
type diffData struct {
	customer, commerce []string
	nextOrderID        int
}

var (
	diffNames = []string{
		"anna", "Anna", "ANNA", "Ánna", "bob", "Bob", "bób", "Émile", "emile", "EMILE",
		"zoë", "Zoe", "ZOË", "Øyvind", "oyvind", "Łukasz", "lukasz", "Ödön", "odon", "straße",
		"strase", "Çelik", "celik", "Ñandú", "nandu", "李", "王", "smile😀", "smile😁", "Ελένη",
		"ελένη", "Dvořák", "dvorak", "O'Brien", "o'brien", "Zażółć", "mañana", "MANANA", "Ìsa", "isa",
		"Über", "uber", "Åse", "ase", "Aé", "ae", "Zulu", "zulu", "Ærøskøbing", "aeroskobing",
	}
	diffNicks = []string{
		"Alpha", "alpha", "ÁLPHA", "beta", "Béta", "gamma", "Gämma", "delta", "Ðelta", "epsilon",
		"Épsilon", "zeta", "Zêta", "eta", "Êta", "theta", "Þeta", "iota", "Ïota", "kappa",
		"Kåppa", "lambda", "Lämbda", "mu", "Mü", "nu", "Ñu", "xi", "Xï", "omicron",
	}
	diffCountries = [][4]string{
		{"AT", "Österreich", "Europe", "20.00"}, {"BE", "België", "Europe", "21.00"},
		{"CH", "Schweiz", "Europe", "7.70"}, {"CI", "Côte d'Ivoire", "Africa", "18.00"},
		{"CN", "中国", "Asia", "13.00"}, {"CZ", "Česko", "Europe", "21.00"},
		{"DE", "Deutschland", "Europe", "19.00"}, {"DK", "Danmark", "Europe", "25.00"},
		{"EE", "Eesti", "Europe", "22.00"}, {"ES", "España", "Europe", "21.00"},
		{"FI", "Suomi", "Europe", "24.00"}, {"FR", "France", "Europe", "20.00"},
		{"GB", "United Kingdom", "Europe", "20.00"}, {"GR", "Ελλάδα", "Europe", "24.00"},
		{"HU", "Magyarország", "Europe", "27.00"}, {"IE", "Éire", "Europe", "23.00"},
		{"IS", "Ísland", "Europe", "24.00"}, {"IT", "Italia", "Europe", "22.00"},
		{"JP", "日本", "Asia", "10.00"}, {"KR", "대한민국", "Asia", "10.00"},
		{"LU", "Lëtzebuerg", "Europe", "17.00"}, {"MA", "المغرب", "Africa", "20.00"},
		{"MX", "México", "America", "16.00"}, {"NL", "Nederland", "Europe", "21.00"},
		{"NO", "Norge", "Europe", "25.00"}, {"NZ", "New Zealand", "Oceania", "15.00"},
		{"PL", "Polska", "Europe", "23.00"}, {"PT", "Portugal", "Europe", "23.00"},
		{"RO", "România", "Europe", "19.00"}, {"RU", "Россия", "Europe", "20.00"},
		{"SE", "Sverige", "Europe", "25.00"}, {"SK", "Slovensko", "Europe", "20.00"},
		{"TR", "Türkiye", "Asia", "20.00"}, {"UA", "Україна", "Europe", "20.00"},
		{"US", "United States", "America", ""}, {"VN", "Việt Nam", "Asia", "10.00"},
		{"ZA", "South Africa", "Africa", "15.00"}, {"AQ", "Antarctica", "", ""},
		{"BR", "Brasil", "America", "17.00"}, {"AR", "Argentina", "America", "21.00"},
	}
	diffStatuses = []string{"new", "paid", "shipped", "cancelled", "Paid", "SHIPPED", "returned"}
	diffNotes    = []string{
		"gift", "Gift", "urgent", "fragile ⚠", "première livraison", "PREMIERE LIVRAISON", "leave at door",
		"日本語のメモ", "call first", "ça va", "Ça va", "", " trailing space ",
	}
	diffCategories = []string{"books", "Books", "garden", "toys", "électronique", "electronique", ""}
)

// sqlStr quotes s as a MariaDB string literal.
func sqlStr(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `''`)
	return "'" + r.Replace(s) + "'"
}

func orNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

// makeDiffData generates the same data every time.
func makeDiffData() diffData {
	rng := rand.New(rand.NewPCG(20240611, 3))
	var d diffData
	batch := func(dst *[]string, head string, rows []string) {
		for len(rows) > 0 {
			n := min(400, len(rows))
			*dst = append(*dst, head+" values "+strings.Join(rows[:n], ", "))
			rows = rows[n:]
		}
	}
	// country (reference).
	var rows []string
	for _, c := range diffCountries {
		region := "NULL"
		if c[2] != "" {
			region = sqlStr(c[2])
		}
		rows = append(rows, fmt.Sprintf("(%s, %s, %s, %s)", sqlStr(c[0]), sqlStr(c[1]), region, orNull(c[3])))
	}
	batch(&d.customer, "insert into country (code, name, region, vat)", rows)

	// customer: ids 1..3000 plus a few extremes.
	ids := []int64{-7, 0, 9223372036854775807}
	for i := int64(1); i <= 3000; i++ {
		ids = append(ids, i)
	}
	rows = rows[:0]
	for _, id := range ids {
		name := diffNames[rng.IntN(len(diffNames))]
		nick := "NULL"
		if rng.IntN(4) > 0 {
			nick = sqlStr(diffNicks[rng.IntN(len(diffNicks))])
		}
		email := "NULL"
		if rng.IntN(10) > 0 {
			local := []string{"alice", "Alice", "bob", "BOB", "carol", "dave", "Eve", "zed"}[rng.IntN(8)]
			dom := []string{"example.org", "Example.org", "mail.test", "x.io"}[rng.IntN(4)]
			email = sqlStr(fmt.Sprintf("%s%d@%s", local, rng.IntN(50), dom))
		}
		cc := "NULL"
		switch r := rng.IntN(100); {
		case r < 4:
			cc = "'XX'"
		case r < 10:
		default:
			cc = sqlStr(diffCountries[rng.IntN(len(diffCountries))][0])
		}
		balance := "NULL"
		if rng.IntN(10) > 0 {
			balance = fmt.Sprintf("%d.%02d", rng.IntN(105000)-5000, rng.IntN(100))
			if strings.HasPrefix(balance, "-") {
				balance = fmt.Sprintf("-%d.%02d", rng.IntN(5000), rng.IntN(100))
			}
		}
		score := "NULL"
		if rng.IntN(10) > 0 {
			score = fmt.Sprintf("%g", float64(rng.IntN(4400)-400)/4)
		}
		created := fmt.Sprintf("'%s'", dateAfter(2015, rng.IntN(3650)))
		tier := "NULL"
		if rng.IntN(5) > 0 {
			tier = fmt.Sprint(1 + rng.IntN(5))
		}
		rows = append(rows, fmt.Sprintf("(%d, %s, %s, %s, %s, %s, %s, %s, %s)", id, sqlStr(name), nick, email, cc, balance, score, created, tier))
	}
	batch(&d.customer, "insert into customer (customer_id, name, nick, email, country_code, balance, score, created, tier)", rows)

	// corder: 8000 orders of about 90% of the customers.
	rows = rows[:0]
	for oid := 1; oid <= 8000; oid++ {
		cust := ids[rng.IntN(len(ids))]
		if cust > 0 && cust%10 == 3 {
			cust-- // customers ending in 3 have no orders
		}
		note := "NULL"
		if rng.IntN(10) < 3 {
			note = sqlStr(diffNotes[rng.IntN(len(diffNotes))])
		}
		ts := fmt.Sprintf("'%s %02d:%02d:%02d'", dateAfter(2020, rng.IntN(1800)), rng.IntN(24), rng.IntN(60), rng.IntN(60))
		rows = append(rows, fmt.Sprintf("(%d, %d, %d, %d, %d.%02d, %s, %s, %s)", oid, cust, 1+rng.IntN(110), 1+rng.IntN(10),
			rng.IntN(2000), rng.IntN(100), sqlStr(diffStatuses[rng.IntN(len(diffStatuses))]), ts, note))
	}
	batch(&d.customer, "insert into corder (order_id, customer_id, product_id, qty, amount, status, ordered_at, note)", rows)
	d.nextOrderID = 8001

	// product (unsharded commerce).
	rows = rows[:0]
	for pid := 1; pid <= 100; pid++ {
		cat := diffCategories[rng.IntN(len(diffCategories))]
		catSQL := "NULL"
		if cat != "" {
			catSQL = sqlStr(cat)
		}
		rows = append(rows, fmt.Sprintf("(%d, %s, %d.%02d, %s)", pid, sqlStr(fmt.Sprintf("%s %d", []string{"Widget", "gadget", "Gizmo", "Ding", "Öffner"}[pid%5], pid)),
			rng.IntN(300), rng.IntN(100), catSQL))
	}
	batch(&d.commerce, "insert into product (product_id, title, price, category)", rows)
	return d
}

// dateAfter returns the date days after January 1st of year, as text.
func dateAfter(year, days int) string {
	mdays := []int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	y, m, d := year, 0, days
	for {
		leap := y%4 == 0 && (y%100 != 0 || y%400 == 0)
		ylen := 365
		if leap {
			ylen = 366
		}
		if d < ylen {
			break
		}
		d -= ylen
		y++
	}
	for {
		n := mdays[m]
		if m == 1 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			n = 29
		}
		if d < n {
			break
		}
		d -= n
		m++
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m+1, d+1)
}
