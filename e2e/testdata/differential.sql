-- Differential corpus: each statement runs through the gate on the sharded
-- customer keyspace and on one plain MariaDB holding the same data; both must
-- give the same columns and rows (in order where the statement orders, which
-- every ORDER BY here does totally; as multisets otherwise), the same rows
-- affected and insert ids, or the same error number. See differential_test.go.
--
-- Directives on the lines before a statement: "-- ordered", "-- unordered"
-- (override the ORDER BY detection), "-- ci: 0,2" (columns whose value may be
-- any of several the collation deems equal; compared case/accent-folded),
-- "-- skip: why" (not compared yet; the test reports it skipped).

-- ===== = and IN on the vindex column
select * from customer where customer_id = 17;
select customer_id, name, balance from customer where customer_id = -7;
select * from customer where customer_id = 0;
-- Locking reads: MariaDB's LOCK IN SHARE MODE (the parser's FOR SHARE is MySQL 8's).
select * from customer where customer_id = 17 lock in share mode;
select customer_id, name from customer where customer_id in (17, 42) order by customer_id lock in share mode;
select customer_id from customer where customer_id = 17 for update;
select customer_id from customer order by customer_id limit 3 for update skip locked;
select * from customer where customer_id = 9223372036854775807;
select * from customer where customer_id = 99999;
select * from customer where customer_id = '42';
select customer_id, name from customer where customer_id = 42.0;
select customer_id from customer where customer_id = 4.5;
select * from customer where customer_id in (1, 2, 3, 500, 2999) order by customer_id;
select customer_id, balance from customer where customer_id in (10, 20, 30, 40, 50, 60, 70, 80);
select customer_id from customer where customer_id in (5, null, 6);
select customer_id from customer where customer_id in ('7', '8', 9) order by customer_id;
select customer_id from customer where customer_id in (null);
select * from corder where customer_id = 17 order by order_id;
select count(*) from corder where customer_id in (17, 18, 19);
select customer_id, name from customer where customer_id = 17 and tier is not null;
select customer_id from customer where customer_id = 17 or customer_id = 18 order by 1;
select customer_id from customer where customer_id between 10 and 20 order by customer_id;
select customer_id from customer where customer_id not in (1, 2, 3) and customer_id < 10 order by customer_id;
select customer_id, order_id from corder where customer_id = 22 and order_id > 100 order by order_id;

-- ===== scatter
select count(*) from customer;
select * from country;
select customer_id, name from customer where tier = 3;
select customer_id, email from customer where email like 'alice%@example.org';
select customer_id from customer where balance is null;
select customer_id from customer where created >= '2024-06-01';
select customer_id, score from customer where score > 1000;
select order_id, status from corder where status = 'paid' and qty = 10;
select order_id, note from corder where note is not null and order_id < 300;
select customer_id, country_code from customer where country_code = 'XX';
select customer_id from customer where nick = 'alpha';
select order_id from corder where amount = 1000.50;

-- ===== ORDER BY, strings with collation
select customer_id, name from customer order by name, customer_id;
select customer_id, name from customer order by name desc, customer_id desc;
select customer_id, nick from customer order by nick, customer_id;
select customer_id, nick from customer order by nick desc, customer_id;
select customer_id, email from customer order by email, customer_id;
select customer_id, email from customer where email is not null order by email desc, customer_id limit 50;
select name, customer_id from customer order by name, customer_id limit 30;
select customer_id, name from customer where name like 'z%' order by name, customer_id;
select customer_id, name from customer order by name collate utf8mb4_bin, customer_id;
select customer_id, upper(name) from customer where customer_id < 200 order by 2, customer_id;
select customer_id as id, name as n from customer where customer_id < 500 order by n, id;
select customer_id, name from customer order by char_length(name), customer_id limit 100;
select order_id, status from corder order by status, order_id limit 40;
select order_id, note from corder where note is not null order by note, order_id;
select customer_id from customer order by country_code, tier desc, customer_id;

-- ===== ORDER BY, other types
select customer_id, balance from customer order by balance, customer_id;
select customer_id, score from customer order by score desc, customer_id;
select customer_id, created from customer order by created, customer_id;
select order_id, ordered_at from corder order by ordered_at desc, order_id limit 100;
select order_id, amount from corder order by amount desc, order_id limit 25;
select * from customer order by customer_id limit 20;
select customer_id, tier from customer order by tier, customer_id desc limit 60;
select order_id, customer_id, qty from corder where qty > 8 order by customer_id, order_id;

-- ===== LIMIT and OFFSET
select customer_id from customer order by customer_id limit 10;
select customer_id from customer order by customer_id limit 10 offset 100;
select customer_id from customer order by customer_id limit 100, 10;
select customer_id, name from customer order by name, customer_id limit 5 offset 2995;
select customer_id from customer order by customer_id desc limit 0;
select customer_id from customer order by customer_id limit 5 offset 5000;
select customer_id from customer where customer_id in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10) order by customer_id limit 3 offset 2;
select order_id from corder order by amount desc, order_id limit 7;

-- ===== COUNT, SUM, MIN, MAX, AVG
select count(*), count(nick), count(balance), sum(balance), min(balance), max(balance), avg(balance) from customer;
select sum(score), avg(score), min(score), max(score) from customer;
select min(created), max(created) from customer;
select min(ordered_at), max(ordered_at), count(*) from corder;
select sum(qty), avg(qty), sum(amount), avg(amount) from corder;
select count(*) from corder where customer_id = 17;
select count(*), sum(amount) from corder where status = 'cancelled';
-- ci: 0,1
select min(name), max(name) from customer;
select min(email), max(email) from customer;
-- ci: 0,1
select min(nick), max(nick) from customer;
select count(*) from customer where customer_id < 0;
select sum(balance), avg(balance), min(balance), count(balance) from customer where customer_id = 999999;
select count(*), avg(balance) from customer where tier is null;
select avg(tier), sum(tier) from customer;
select max(order_id), min(order_id) from corder;
select count(1), count(note) from corder;
select avg(amount) from corder where customer_id in (1, 2, 4, 5);

-- ===== COUNT(DISTINCT)
select count(distinct country_code) from customer;
select count(distinct name) from customer;
select count(distinct email) from customer;
select count(distinct nick) from customer;
select count(distinct customer_id) from corder;
select count(distinct status) from corder;
select sum(distinct qty), count(distinct qty) from corder;
select country_code, count(distinct tier) from customer group by country_code order by country_code;
select count(distinct balance), count(*) from customer where tier = 1;

-- ===== GROUP BY, HAVING, ORDER BY aggregate
select country_code, count(*) from customer group by country_code;
select country_code, count(*) c from customer group by country_code order by c desc, country_code;
select tier, count(*), sum(balance), avg(balance), min(balance), max(balance) from customer group by tier;
select tier, count(*) from customer group by tier having count(*) > 500;
-- GROUP BY a name that is both an alias and a column: mysqld groups by the column.
select tier div 2 as tier, count(*) from customer group by tier;
select tier div 2 as t2, count(*) from customer group by t2;
select country_code, sum(balance) from customer group by country_code having sum(balance) > 1000000 order by sum(balance) desc;
select customer_id, count(*), sum(amount) from corder group by customer_id having count(*) >= 8 order by count(*) desc, customer_id;
select customer_id, sum(amount) s from corder group by customer_id order by s desc, customer_id limit 10;
-- ci: 0
select status, count(*) from corder group by status;
select product_id, count(*), sum(qty) from corder group by product_id order by product_id;
select year(created) y, count(*) from customer group by year(created) order by y;
select year(ordered_at), month(ordered_at), count(*) from corder group by year(ordered_at), month(ordered_at) order by 1, 2;
select tier, country_code, count(*) from customer group by tier, country_code order by tier, country_code;
select country_code, max(created), min(score) from customer group by country_code order by country_code;
select customer_id, min(ordered_at), max(ordered_at) from corder where customer_id in (1, 2, 4, 5) group by customer_id order by customer_id;
select tier, avg(score) from customer group by tier having avg(score) > 400 order by tier;
select country_code, count(*) from customer where tier = 2 group by country_code having count(*) between 5 and 20 order by country_code;
select tier, count(*) from customer group by tier order by count(*) desc, tier;
-- ci: 0
select status, count(*) n from corder group by status having n > 100;
select qty, count(*), avg(amount) from corder group by qty order by qty;
select count(*), min(customer_id) from customer group by name order by min(customer_id);
select country_code, count(*) from customer group by 1 order by 1;
select tier, sum(balance) from customer group by tier having sum(balance) is not null order by tier;
select customer_id, count(*) from corder where customer_id = 17 group by customer_id;
select customer_id, max(amount) from corder group by customer_id having max(amount) > 1990 order by customer_id;
select count(*) from corder group by customer_id having count(*) > 9 order by 1;
select tier, count(*) from customer where customer_id > 100000 group by tier;
select product_id, sum(amount) from corder group by product_id having sum(amount) > 80000 and count(*) < 90 order by product_id;
select country_code, min(email), max(email) from customer group by country_code order by country_code;

-- ci: 1,2
select tier, min(nick), max(nick) from customer group by tier order by tier;
select country_code, count(*) from customer group by country_code having min(name) > 'm' order by country_code;
select tier, count(distinct nick) from customer group by tier order by tier;

-- ===== DISTINCT
select distinct country_code from customer;
select distinct tier from customer order by tier;
-- ci: 0
select distinct status from corder;
select distinct tier, country_code from customer order by tier, country_code;
select distinct email from customer where customer_id < 100;
-- ci: 0
select distinct name from customer;
select distinct year(created) from customer order by 1;
select distinct qty from corder where customer_id = 17 order by qty;

-- ===== UNION and UNION ALL
select customer_id from customer where customer_id < 10 union all select customer_id from corder where order_id < 10;
select customer_id from customer where customer_id < 10 union select customer_id from corder where order_id < 50;
select customer_id, name from customer where customer_id = 1 union all select customer_id, name from customer where customer_id = 2;
select code from country union select country_code from customer;
select customer_id from customer where tier = 1 union select customer_id from customer where tier = 2 order by customer_id limit 20;
select name from customer where customer_id in (1, 2, 3) union all select title from commerce.product where product_id < 4;
select customer_id c from customer where customer_id < 5 union all select customer_id from customer where customer_id < 3 order by c;
(select customer_id from customer where customer_id = 5) union (select customer_id from customer where customer_id = 5);
select 1 union select 2 union select 1;
select customer_id, 'a' from customer where customer_id = 8 union all select order_id, status from corder where customer_id = 8 order by 1, 2;
select code, name from country where region = 'Asia' union select code, name from country where vat > 22 order by code;

-- ci: 0
select nick from customer where customer_id < 300 union select nick from customer where customer_id between 300 and 600;
select email from customer where customer_id < 300 union select email from customer where customer_id between 300 and 600;
select nick, customer_id from customer where customer_id < 20 union all select nick, customer_id from customer where customer_id between 1000 and 1020 order by nick, customer_id;
select name, customer_id from customer where customer_id < 20 union all select title, product_id from commerce.product where product_id < 20 order by name desc, customer_id;

-- ===== joins pushed down (same vindex column)
select c.customer_id, c.name, o.order_id, o.amount from customer c join corder o on c.customer_id = o.customer_id where c.customer_id = 17 order by o.order_id;
select c.customer_id, count(*) from customer c join corder o on c.customer_id = o.customer_id group by c.customer_id having count(*) > 7 order by c.customer_id;
select c.customer_id, o.order_id from customer c left join corder o on c.customer_id = o.customer_id where c.customer_id < 30 order by c.customer_id, o.order_id;
select count(*) from customer c join corder o on c.customer_id = o.customer_id;
select c.customer_id, sum(o.amount) from customer c join corder o on c.customer_id = o.customer_id where c.customer_id in (1, 2, 4) group by c.customer_id order by c.customer_id;
select o.order_id, c.customer_id from corder o left join customer c on c.customer_id = o.customer_id where o.order_id < 50 order by o.order_id;
select count(*) from customer c left join corder o on c.customer_id = o.customer_id where o.order_id is null;
select c.customer_id, o.order_id from customer c right join corder o on c.customer_id = o.customer_id where o.order_id between 100 and 120 order by o.order_id;
select c.customer_id, o1.order_id, o2.order_id from customer c join corder o1 on o1.customer_id = c.customer_id join corder o2 on o2.customer_id = c.customer_id where c.customer_id = 5 order by 2, 3;
select customer_id, order_id from customer join corder using (customer_id) where customer_id = 17 order by order_id;
select c.tier, count(*), sum(o.qty) from customer c join corder o on o.customer_id = c.customer_id group by c.tier order by c.tier;

-- ===== joins with the reference table
select c.customer_id, co.name from customer c join country co on c.country_code = co.code where c.customer_id < 50 order by c.customer_id;
select co.region, count(*) from customer c join country co on c.country_code = co.code group by co.region;
select c.customer_id, co.name from customer c left join country co on c.country_code = co.code where c.customer_id < 60 order by c.customer_id;
select co.code, co.name from country co order by co.name, co.code;
select co.name, count(o.order_id) from corder o join customer c on c.customer_id = o.customer_id join country co on co.code = c.country_code group by co.name order by co.name;
select c.customer_id, co.vat * c.balance from customer c join country co on co.code = c.country_code where c.customer_id in (3, 4, 5, 6) order by c.customer_id;
select distinct co.region from country co join customer c on c.country_code = co.code;
select co.code, c.customer_id from country co join customer c on c.country_code = co.code where co.code = 'JP' order by c.customer_id;

-- ===== GROUP_CONCAT and BIT_* across shards: the gate aggregates the shards' rows
select group_concat(name order by customer_id) from customer where customer_id < 40;
-- DISTINCT keeps any one of the names the collation deems equal:
-- ci: 1
select tier, group_concat(distinct name order by name desc separator '/') from customer where customer_id < 100 group by tier order by tier;
select tier, bit_or(customer_id), bit_and(customer_id), bit_xor(customer_id) from customer group by tier order by tier;
select count(*), group_concat(customer_id order by customer_id desc separator '') from customer where tier = 2 and customer_id < 300;
select tier, group_concat(nick order by nick, customer_id) from customer group by tier having count(*) > 1 order by tier;
select bit_xor(customer_id) from customer where customer_id > 1000000;

-- ===== SELECT DISTINCT over aggregates: the gate keeps one of each output row
select distinct count(*) from customer group by tier order by 1;
select distinct tier, count(*) > 10 from customer group by tier order by tier;
-- ci: 0
select distinct name, count(*) > 1 from customer where customer_id < 500 group by name order by 2, 1;
select distinct sum(qty) > 20 from corder group by customer_id order by 1;
select distinct count(*) from corder o join commerce.product p on p.product_id = o.product_id group by p.category order by 1;

-- ===== joins across shards and keyspaces (in the gate)
select o.order_id, p.title from corder o join commerce.product p on o.product_id = p.product_id where o.customer_id = 17 order by o.order_id;
select o.order_id, p.title, p.price from corder o left join commerce.product p on p.product_id = o.product_id where o.order_id < 40 order by o.order_id;
select p.title, o.order_id from commerce.product p join corder o on o.product_id = p.product_id where p.product_id = 7 order by o.order_id;
select c.customer_id, c.tier, o.order_id from customer c join corder o on o.qty = c.tier where c.customer_id in (3, 4) and o.customer_id = 5 order by c.customer_id, o.order_id;
select c.customer_id, o.amount from customer c left join corder o on o.order_id = c.customer_id where c.customer_id < 20 order by c.customer_id;
select c.name, p.title from customer c join commerce.product p on p.product_id = c.tier where c.customer_id < 40 order by c.customer_id;
select o.order_id, c.name from corder o join customer c on c.customer_id = o.product_id where o.order_id < 30 order by o.order_id;
select p.product_id, o.qty from commerce.product p left join corder o on o.product_id = p.product_id and o.customer_id = 17 where p.product_id < 20 order by p.product_id, o.order_id;
select c.customer_id, p.title from customer c join commerce.product p on c.tier = p.product_id where p.price > 50 and c.customer_id < 100 order by c.customer_id;
select o.order_id, p.category from corder o join commerce.product p on p.product_id = o.product_id where o.customer_id in (1, 2, 4, 5) and p.category is not null order by o.order_id;

select c.customer_id, c.nick, p.title from customer c join commerce.product p on p.product_id = c.tier where c.customer_id < 200 order by c.nick, c.customer_id;
select c.customer_id, c.email, o.order_id from customer c join corder o on o.order_id = c.customer_id where c.customer_id < 300 order by c.email desc, c.customer_id;
select c.customer_id, c2.customer_id from customer c join customer c2 on c2.nick = c.nick where c.customer_id < 60 order by c.customer_id, c2.customer_id;
select c.customer_id, c2.customer_id from customer c join customer c2 on c2.email = c.email where c.customer_id in (1, 2, 4, 5) order by c.customer_id, c2.customer_id;
select c.customer_id, c2.customer_id from customer c join customer c2 on c2.name = c.name where c.customer_id in (1, 2, 4, 5) order by c.customer_id, c2.customer_id;
-- RIGHT JOIN across shards: planned as a LEFT JOIN the other way round.
select c.customer_id, p.product_id, p.title from customer c right join commerce.product p on p.product_id = c.tier where p.product_id < 12 order by p.product_id, c.customer_id;
select * from customer c right join commerce.product p on p.product_id = c.tier and c.customer_id < 50 where p.product_id < 8 order by p.product_id, c.customer_id;
select p.product_id, count(c.customer_id) from customer c right join commerce.product p on p.product_id = c.tier where p.product_id < 15 group by p.product_id order by p.product_id;
select o.order_id, c.customer_id from customer c right join corder o on o.order_id = c.customer_id where o.customer_id = 17 order by o.order_id;
select c.customer_id, o.order_id from customer c right join corder o on o.order_id < c.customer_id and c.customer_id < 6 where o.customer_id = 3 order by 2, 1;

-- WHERE on the nullable side of an outer join across shards: evaluated after the join.
select c.customer_id, o.order_id from customer c left join corder o on o.customer_id = c.tier where o.qty < c.tier and c.customer_id < 40 order by 1, 2;
select c.customer_id from customer c left join corder o on o.order_id = c.customer_id where o.order_id is null and c.customer_id < 400 order by c.customer_id;
select c.customer_id, o.status from customer c left join corder o on o.order_id = c.customer_id where (o.status = 'shipped' or o.status is null) and c.customer_id < 60 order by c.customer_id;
select c.customer_id, o.qty from customer c left join corder o on o.order_id = c.customer_id where coalesce(o.qty, 0) = 0 and c.customer_id < 300 order by c.customer_id;
select c.customer_id, o.amount from customer c left join corder o on o.order_id = c.customer_id where o.amount > c.balance / 1000 and c.customer_id < 200 order by c.customer_id;
select count(*), count(o.order_id) from customer c left join corder o on o.order_id = c.customer_id where o.status is not null;
select p.product_id from customer c right join commerce.product p on p.product_id = c.tier and c.customer_id < 50 where c.customer_id is null and p.product_id < 20 order by p.product_id;

-- ON conditions on the preserved table of an outer join across shards: a row they reject joins nothing.
select c.customer_id, o.order_id from customer c left join corder o on o.order_id = c.customer_id and c.tier = 2 where c.customer_id < 50 order by 1, 2;
select c.customer_id, o.order_id from customer c left join corder o on o.order_id < c.customer_id and o.customer_id = 3 and c.customer_id > 4 where c.customer_id < 9 order by 1, 2;
select c.customer_id, c.name, o.qty from customer c left join corder o on o.order_id = c.customer_id and c.name like 'A%' where c.customer_id < 100 order by 1;
select p.product_id, c.customer_id from customer c right join commerce.product p on p.product_id = c.tier and p.price > 50 and c.customer_id < 30 where p.product_id < 15 order by 1, 2;

-- SELECT * and t.* over joins across shards of two and three groups of tables.
select * from customer c join corder o on o.order_id = c.customer_id join commerce.product p on p.product_id = o.product_id where c.customer_id < 30 order by c.customer_id;
select o.*, c.* from customer c join corder o on o.order_id = c.customer_id where c.customer_id < 20 order by o.order_id;
select c.*, p.title from customer c left join commerce.product p on p.product_id = c.tier where c.customer_id < 15 order by c.customer_id;

-- ===== joins across shards without a column equality (nested loops: the right side per left row)
select c.customer_id, o.order_id from customer c join corder o on o.qty > c.tier where c.customer_id in (3, 4, 5) and o.customer_id = 17 order by c.customer_id, o.order_id;
select c.customer_id, p.product_id from customer c join commerce.product p on p.price < c.balance / 100 where c.customer_id < 12 order by 1, 2;
select c.customer_id, p.product_id from customer c cross join commerce.product p where c.customer_id in (1, 2) and p.product_id < 4 order by 1, 2;
select c.customer_id, p.product_id from customer c, commerce.product p where c.customer_id in (5, 6) and p.product_id between 3 and 5 order by 1, 2;
select p.product_id, o.order_id from commerce.product p join corder o on (o.product_id = p.product_id or o.qty = p.product_id) where p.product_id in (2, 3) and o.customer_id in (4, 5) order by 1, 2;
select o.order_id, p.title from corder o join commerce.product p on p.product_id = o.product_id and p.price > o.amount / 10 where o.customer_id = 17 order by o.order_id;
select c.customer_id, o.order_id from customer c left join corder o on o.order_id < c.customer_id and o.customer_id = 3 where c.customer_id < 8 order by 1, 2;
select c.customer_id, o.order_id, o.ordered_at from customer c join corder o on o.ordered_at < c.created and o.customer_id = 9 where c.customer_id in (1, 2, 3) order by 1, 2;
select c.customer_id, c2.customer_id from customer c join customer c2 on c2.customer_id between c.customer_id + 1 and c.customer_id + 2 where c.customer_id < 6 order by 1, 2;
select c.customer_id, o.order_id from customer c join corder o on o.amount >= c.balance where c.customer_id in (7, 8) and o.customer_id < 10 order by 1, 2;
select c.customer_id, count(*) from customer c join corder o on o.qty < c.tier where c.customer_id < 20 group by c.customer_id order by c.customer_id;
select c.customer_id, o.note from customer c join corder o on o.note = c.name or o.note is null where c.customer_id in (1, 2) and o.customer_id = 11 order by 1, o.order_id;
select c.customer_id, p.title from customer c join commerce.product p on p.title > c.name where c.customer_id in (2, 3) and p.product_id < 10 order by 1, 2;
select count(*) from customer c join commerce.product p on p.product_id <> c.tier where c.customer_id < 10;
select c.customer_id, o.order_id from customer c join corder o on o.qty * 2 = c.tier + 1 where c.customer_id < 10 and o.customer_id = 12 order by 1, 2;

select o.order_id, p.title from corder o join commerce.product p on p.product_id = o.product_id where p.price < 12 or p.price > 990 order by o.order_id limit 20;

-- ===== derived tables that span shards, merged into the outer query
select t.customer_id, t.n from (select customer_id, name as n from customer where customer_id > 10) as t where t.customer_id < 40 order by t.customer_id;
select * from (select customer_id as id, name, tier from customer where tier = 3) t order by id limit 10;
-- ci: 0
select d.name, count(*) from (select * from customer) d group by d.name order by count(*) desc, d.name limit 5;
select count(*), sum(x.amount), max(x.order_id) from (select order_id, amount from corder where qty > 3) x;
select t.doubled from (select amount * 2 as doubled from corder where customer_id = 17) t order by 1;
select x.customer_id, x.bal from (select customer_id, balance as bal from customer) x where x.bal > 9000 order by x.bal desc, x.customer_id limit 7;
select c.customer_id, o.order_id from customer c join (select order_id, customer_id from corder where qty = 9) o on o.customer_id = c.customer_id where c.customer_id < 100 order by 1, 2;
select o.order_id, p.title from (select order_id, product_id from corder where customer_id < 9) o join commerce.product p on p.product_id = o.product_id order by o.order_id;
select p.product_id, o.n from commerce.product p left join (select product_id, order_id as n from corder where customer_id = 3) o on o.product_id = p.product_id where p.product_id < 15 order by 1, 2;
select c.tier, count(*) from (select customer_id, tier from customer where country_code = 'DE') c join corder o on o.qty = c.tier group by c.tier order by c.tier;
select c.customer_id, co.name from (select customer_id, country_code from customer where customer_id between 20 and 30) c join country co on co.code = c.country_code order by c.customer_id;
select distinct t.tier from (select tier from customer where balance > 100) t order by t.tier;
-- ci: 0
select t.status, avg(t.amount) from (select status, amount from corder) t group by t.status having count(*) > 10 order by t.status;
select * from (select * from corder where customer_id = 4) t order by order_id;
select c.customer_id, d.title from customer c join (select o.order_id, o.customer_id, p.title from corder o join commerce.product p on p.product_id = o.product_id where o.qty = 9) d on d.customer_id = c.customer_id where c.customer_id < 30 order by 1, d.order_id;
select count(*), sum(t.price) from (select o.order_id, p.price from corder o join commerce.product p on p.product_id = o.product_id where o.customer_id < 100) t;

-- ===== derived tables and CTEs that span shards: the subquery runs across shards, the outer query in the gate
select t.customer_id from (select customer_id from customer order by customer_id desc limit 10) t order by t.customer_id limit 3;
select * from (select customer_id, tier from customer order by customer_id limit 5) t;
select t.customer_id, t.tier from (select customer_id, tier from customer order by customer_id limit 20 offset 5) t where t.tier is null or t.tier > 2 order by t.tier desc, t.customer_id;
select t.x from (select tier + 1 as x from customer) t where t.x > 2;
select count(*), sum(t.n), max(t.n), min(t.tier) from (select tier, count(*) as n from customer group by tier) t;
select t.tier, t.n from (select tier, count(*) as n from customer group by tier) t where t.n > 2 order by t.n desc, t.tier;
select t.tier + 1 as up, t.n * 2 from (select tier, count(*) as n from customer group by tier) t order by up;
select count(*) from (select distinct tier from customer) t;
select count(*), count(t.cc) from (select distinct country_code as cc from customer) t;
select count(*), max(u.id), min(u.id) from (select customer_id as id from customer union select order_id from corder) u;
select sum(u.q), count(u.q), count(*) from (select qty as q from corder where customer_id < 50 union all select tier from customer where customer_id < 50) u;
select distinct t.tier from (select tier, customer_id from customer order by customer_id limit 40) t order by t.tier;
select t.tier, sum(t.n) as s from (select tier, country_code, count(*) as n from customer group by tier, country_code) t group by t.tier having sum(t.n) > 3 order by s, t.tier;
select avg(t.bal), count(t.bal), count(*) from (select customer_id, balance as bal from customer order by balance desc, customer_id limit 10) t;
select t.tier, t.c, t.b from (select tier, count(balance) as c, max(balance) as b from customer group by tier) t order by t.tier;
select t.tier, t.b from (select tier, max(balance) as b from customer group by tier) t order by t.b desc, t.tier;
select * from (select * from customer order by customer_id limit 3) t;
select * from (select * from country order by code desc limit 4) t order by t.code;
select t.k, t.n from (select qty % 3 as k, count(*) as n from corder group by qty % 3) t where t.k is not null order by t.k;
select sum(t.n), count(*) from (select customer_id, count(*) as n from corder group by customer_id) t where t.n >= 3;
select t.customer_id, t.n from (select customer_id, count(*) as n from corder group by customer_id) t where t.customer_id = 17;
select t.customer_id, t.n from (select customer_id, count(*) as n from corder group by customer_id) t order by t.n desc, t.customer_id limit 3;
select count(*), sum(t.n), max(t.n), avg(t.n) from (select customer_id, count(*) as n from corder group by customer_id) t where t.n > 1;
select t.n, count(*) from (select customer_id, count(*) as n from corder group by customer_id) t group by t.n order by t.n;
select t.customer_id, t.name from (select customer_id, name from customer order by customer_id limit 200) t where t.name = 'anna' and t.customer_id % 2 = 0 order by t.customer_id;
select t.customer_id, t.nick = 'alpha' from (select customer_id, nick from customer order by customer_id limit 30) t order by t.customer_id;
-- ci: 0
select t.name, t.n from (select name, count(*) as n from customer group by name) t where t.name = 'anna' order by t.n;
-- ci: 0
select t.name, t.n from (select name, count(*) as n from customer group by name) t order by t.n desc, t.name limit 5;
-- ci: 0
select t.country_code, count(*) from (select customer_id, country_code from customer order by customer_id limit 100) t group by t.country_code order by t.country_code;
-- ci: 0
select t.status, t.total from (select status, sum(amount) as total from corder group by status) t order by t.total desc, t.status;
select c.customer_id, c.tier, t.n from (select customer_id, count(*) as n from corder group by customer_id order by n desc, customer_id limit 5) t join customer c on c.customer_id = t.customer_id order by t.n desc, c.customer_id;
select c.customer_id, t.n from customer c join (select customer_id, count(*) as n from corder group by customer_id) t on t.customer_id = c.customer_id where c.tier = 3 and c.customer_id < 200 order by c.customer_id;
select c.customer_id, t.order_id from customer c join (select order_id, customer_id from corder order by order_id limit 30) t on t.customer_id = c.customer_id order by t.order_id;
select * from customer c join (select order_id, customer_id from corder order by order_id limit 10) t on t.customer_id = c.customer_id;
select c.tier, sum(t.n), count(*) from (select customer_id, count(*) as n from corder group by customer_id) t join customer c on c.customer_id = t.customer_id group by c.tier order by c.tier;
select t.customer_id, c.tier from (select customer_id from corder group by customer_id having count(*) > 2) t left join customer c on c.customer_id = t.customer_id and c.tier > 1 order by t.customer_id;
select c.customer_id, t.n from customer c left join (select customer_id, count(*) as n from corder group by customer_id) t on t.customer_id = c.customer_id where t.n is null and c.tier = 2 and c.customer_id < 500 order by c.customer_id;
-- ci: 0
select t.name, count(*) from (select customer_id, name from customer order by customer_id limit 300) t group by t.name order by count(*) desc, t.name limit 10;
-- ci: 0
select distinct t.nick from (select nick, customer_id from customer order by customer_id limit 100) t order by t.nick;
select count(distinct t.nick), count(t.nick), count(*) from (select nick, customer_id from customer order by customer_id limit 100) t;
select t.customer_id, t.email from (select customer_id, email from customer order by customer_id limit 60) t order by t.email, t.customer_id;
select t.customer_id, t.nick from (select customer_id, nick from customer order by customer_id limit 60) t order by t.nick desc, t.customer_id;
-- ci: 0,1
select min(t.name), max(t.name) from (select name from customer order by customer_id limit 100) t;
-- ci: 0
select t.status, count(*) from (select status from corder order by order_id limit 500) t group by t.status order by t.status;
select group_concat(t.tier order by t.tier desc) from (select distinct tier from customer) t;
select count(*) from (select t.tier from (select tier, count(*) as n from customer group by tier) t where t.n > 1) u;
select t.cc, co.name, t.n from (select country_code as cc, count(*) as n from customer group by country_code) t join country co on co.code = t.cc order by t.n desc, t.cc limit 5;
select u.id from (select customer_id as id from customer where customer_id < 20 union select order_id from corder where order_id < 20) u order by u.id desc limit 5;
select t.tier is null, count(*) from (select tier from customer order by customer_id limit 200) t group by t.tier is null order by 1;
with t as (select tier, count(*) as n from customer group by tier) select t1.tier, t1.n, t2.n from t t1 left join t t2 on t2.tier = t1.tier + 1 order by t1.tier;
with t as (select customer_id, count(*) as n from corder group by customer_id) select count(*), sum(a.n), sum(b.n) from t a join t b on b.customer_id = a.customer_id + 1;
select c.customer_id, t.n from customer c join (select tier, count(*) as n from customer group by tier) t on t.tier = c.tier where c.customer_id < 10 order by c.customer_id;
select c.customer_id, t.customer_id from customer c join (select customer_id, count(*) as n from corder group by customer_id) t on t.n = c.tier where c.customer_id < 10 and t.customer_id < 40 order by 1, 2;
select c.name, t.n from customer c join (select customer_id, count(*) as n from corder group by customer_id) t on t.customer_id = c.customer_id where t.customer_id in (17, 18, 19) order by c.customer_id;
select * from (with x as (select tier from customer group by tier) select * from x) y order by y.tier;
with customer as (select customer_id, tier from customer where tier = 1 order by customer_id limit 3) select count(*), sum(customer_id) from customer;
with t as (select tier, count(*) as n from customer group by tier) select t.tier, t.n from t order by t.n desc, t.tier limit 2;
with a(k, n) as (select tier, count(*) from customer group by tier), b as (select k from a where n > 1) select count(*) from b;
with c as (select customer_id, name from customer where tier = 3) select c.customer_id from c where c.customer_id < 100 order by c.customer_id;
with t as (select 1 as x) select count(*), sum(t.x) from customer, t;
with t as (select tier, count(*) as n from customer group by tier) select t.tier, t.n from t where t.n = (select max(n) from t);
select t.tier, t.n from (select tier, count(*) as n from customer group by tier) t where t.tier in (select tier from customer where customer_id < 5) order by t.tier;
with t as (select tier, count(*) as n from customer group by tier) select a.tier, b.n from t a join t b on a.tier = b.tier order by a.tier;
with t as (select tier, count(*) as n from customer group by tier) select t.tier from t where t.tier > 1 union all select t.n from t;

-- ===== joins of three groups of tables on different shards
select c.customer_id, o.order_id, p.title from customer c join corder o on c.tier = o.qty join commerce.product p on p.product_id = o.product_id where c.customer_id < 6 and o.customer_id < 30 order by 1, 2;
select c.customer_id, o.order_id, c2.customer_id from customer c join corder o on o.order_id = c.customer_id join customer c2 on c2.customer_id = o.product_id where c.customer_id < 40 order by 1, 2, 3;
-- ci: 0
select p.category, count(*) from customer c join corder o on c.tier = o.qty join commerce.product p on p.product_id = o.product_id where c.customer_id < 50 group by p.category order by p.category;

-- ===== expressions over aggregates across shards (computed in the gate)
select sum(balance) / count(*) from customer;
select max(amount) - min(amount) from corder;
select tier, sum(balance) / count(*), max(score) * 2, count(*) + 1 from customer group by tier order by tier;
select tier, max(balance) - min(balance) as spread from customer group by tier having spread > 100 order by spread desc;
select sum(qty) * 1.5, avg(amount) + 1, count(*) - count(note), sum(amount) / 0 from corder;
select country_code, coalesce(sum(balance), 0) + 1 from customer where customer_id < 200 group by country_code order by country_code;
-- ci: 0
select p.category, sum(o.amount) / count(*) from corder o join commerce.product p on p.product_id = o.product_id where p.category is not null group by p.category order by 1;

-- ===== GROUP BY, DISTINCT and aggregates over joins across shards (the gate aggregates the joined rows)
select count(*) from customer c join corder o on c.tier = o.qty;
-- ci: 5
select count(*), count(o.note), sum(o.amount), avg(o.qty), min(o.amount), max(o.status) from customer c join corder o on c.tier = o.qty where c.customer_id < 300;
select c.tier, count(*), sum(o.amount), max(o.ordered_at) from customer c join corder o on c.tier = o.qty group by c.tier order by c.tier;
-- ci: 0
select p.category, count(*), sum(o.qty * o.amount), avg(o.amount) from corder o join commerce.product p on p.product_id = o.product_id group by p.category order by p.category;
-- ci: 0
select p.category, count(distinct o.customer_id), count(distinct o.status) from corder o join commerce.product p on p.product_id = o.product_id group by p.category order by 1;
-- ci: 0
select o.status, sum(distinct p.price), avg(distinct p.price) from corder o join commerce.product p on p.product_id = o.product_id group by o.status order by o.status;
-- ci: 0
select c.name, count(*) as n from customer c join corder o on o.order_id = c.customer_id group by c.name having count(*) > 1 order by n desc, c.name limit 5;
select distinct c.tier, p.category from customer c join commerce.product p on p.product_id = c.tier;
-- ci: 0
select distinct o.status from corder o join commerce.product p on p.product_id = o.product_id where p.price > 20;
-- ci: 1,2
select p.product_id, min(c.name), max(c.nick), count(c.customer_id) from commerce.product p left join customer c on c.tier = p.product_id where p.product_id < 12 group by p.product_id order by p.product_id;
-- ci: 0,1
select p.category, group_concat(distinct o.status order by o.status separator '|') from corder o join commerce.product p on p.product_id = o.product_id where o.customer_id < 40 group by p.category order by p.category;
select c.tier, group_concat(o.order_id order by o.order_id desc) from customer c join corder o on o.qty = c.tier where c.customer_id < 30 and o.order_id < 60 group by c.tier order by c.tier;
select c.country_code, bit_or(o.qty), bit_and(o.qty), bit_xor(o.qty) from customer c join corder o on o.qty = c.tier group by c.country_code order by c.country_code;
select count(*), sum(c.balance), avg(c.score) from customer c join commerce.product p on p.product_id = c.tier where p.price > 1000000;
-- ci: 0
select p.category, count(*) from corder o join commerce.product p on p.product_id = o.product_id group by p.category having sum(o.amount) > 1000 order by count(*) desc, p.category;
select o.qty, count(*) from customer c join corder o on c.tier = o.qty group by o.qty order by o.qty desc limit 2;
select c.tier, sum(p.price) from customer c left join commerce.product p on p.product_id = c.tier group by c.tier order by c.tier;
select count(distinct c.country_code, p.category) from customer c join commerce.product p on p.product_id = c.tier;
select count(distinct tier, country_code) from customer;
select avg(distinct tier) from customer;
select o.customer_id, max(p.title) from corder o join commerce.product p on p.product_id = o.product_id where o.customer_id between 10 and 20 group by o.customer_id order by o.customer_id;
-- ci: 1
select c.tier, min(c.name), count(*) from customer c join corder o on o.qty = c.tier where o.amount > 50 group by c.tier having min(c.name) is not null order by c.tier;

-- ===== subqueries
select c.customer_id, (select count(*) from corder o where o.customer_id = c.customer_id) n from customer c where c.customer_id < 30 order by c.customer_id;
select c.customer_id from customer c where exists (select 1 from corder o where o.customer_id = c.customer_id and o.amount > 1900) order by c.customer_id;
select c.customer_id from customer c where not exists (select 1 from corder o where o.customer_id = c.customer_id) order by c.customer_id;
select customer_id, name from customer where customer_id in (select customer_id from corder where amount > 1990) order by customer_id;
select count(*) from customer where customer_id not in (select customer_id from corder);
select customer_id from customer where balance = (select max(balance) from customer);
select customer_id, balance from customer where balance > (select avg(balance) from customer) and tier = 1 order by customer_id;
select * from corder where product_id in (select product_id from commerce.product where category = 'books') order by order_id;
select code from country where code in (select country_code from customer where tier = 5) order by code;
select customer_id from customer where country_code in (select code from country where region = 'Europe') and tier = 4 order by customer_id;
select (select count(*) from customer) as total;
select customer_id from customer where customer_id = (select min(customer_id) from corder);
select count(*) from customer where exists (select 1 from corder where order_id = 5);
select count(*) from customer where not exists (select 1 from corder where order_id = -5);
select customer_id from customer where customer_id in (select customer_id from corder where order_id in (1, 2, 3)) order by 1;
select count(*) from customer where balance > (select balance from customer where customer_id = 999999);
select count(*) from customer where customer_id in (select customer_id from corder where order_id < 0);
select count(*) from customer where customer_id not in (select customer_id from corder where order_id < 0);
select customer_id, (select name from country where code = customer.country_code) from customer where customer_id < 15 order by customer_id;
select order_id from corder where customer_id = (select customer_id from customer where customer_id = 17) order by order_id;
select customer_id, name from customer where customer_id = any (select customer_id from corder where qty > 9) order by customer_id;

-- ===== NULLs, decimals, dates, unicode
select customer_id, balance * 2, balance / 3 from customer where customer_id < 20 order by customer_id;
select customer_id from customer where nick is null and tier is not null order by customer_id limit 20;
select customer_id, coalesce(nick, 'none') from customer where customer_id < 20 order by customer_id;
select sum(balance), count(*) from customer where balance < 0;
select customer_id, created, date_format(created, '%Y/%m') from customer where customer_id < 10 order by customer_id;
select count(*) from corder where ordered_at between '2021-01-01' and '2021-12-31 23:59:59';
select customer_id, datediff('2025-01-01', created) from customer where customer_id in (1, 2, 3) order by 1;
select customer_id, name from customer where name = 'emile' order by customer_id;
select customer_id, name from customer where name like 'é%' order by customer_id;
select customer_id, email from customer where email = 'alice1@example.org';
select customer_id, name from customer where name in ('李', '王') order by customer_id;
select customer_id, name from customer where name = 'smile😀' order by customer_id;
select customer_id, round(balance, 1), truncate(score, 0) from customer where customer_id between 100 and 110 order by 1;
select cast(balance as char), cast(score as char) from customer where customer_id = 5;
select customer_id, tier <=> null from customer where customer_id < 10 order by 1;
select sum(amount) from corder where customer_id in (select customer_id from customer where country_code is null);
select customer_id, hex(name) from customer where customer_id < 5 order by 1;
select customer_id, name from customer where name = 'STRASSE' or name = 'strase' order by customer_id;
select count(*) from customer where name = 'Ελένη';
select customer_id, nick from customer where nick = 'mu' order by customer_id;
select min(created), max(ordered_at) from customer c join corder o on o.customer_id = c.customer_id where c.customer_id in (10, 11, 12);
select customer_id, score from customer where score is not null and score = floor(score) and customer_id < 100 order by customer_id;
select name, count(*) from customer where name like 'smile%' group by hex(name), name order by hex(name);
select customer_id, email from customer where email like 'BOB%' order by customer_id;

-- ===== more shapes
select customer_id, name from customer where customer_id < 300 order by lower(name), customer_id;
select customer_id, nick from customer where customer_id < 300 order by nick collate utf8mb4_general_ci, customer_id;
select count(*) from customer group by year(created) order by 1;
select customer_id, tier from customer where customer_id < 100 order by tier desc, customer_id desc;
select distinct tier from customer order by tier desc;
select tier, count(*) from customer where 1 = 0 group by tier;
select count(*), sum(qty), max(amount) from corder where 1 = 0;
-- ordered
select tier, count(*) from customer group by tier limit 3;
select customer_id from customer where customer_id not in (select max(tier) from customer where 1 = 0) and customer_id < 20;
select customer_id from customer where customer_id not in (select customer_id from corder where order_id < 10) and customer_id < 20;
select customer_id, (select max(order_id) from corder o where o.customer_id = c.customer_id) from customer c where customer_id in (1, 2, 3, 4, 5) order by 1;
select customer_id from customer where customer_id = (select customer_id from corder where order_id < 3);
select customer_id, name from customer where name = 'Zoë' order by customer_id;
select customer_id from customer where email like 'alice1\_%' escape '\\' order by customer_id;
select customer_id, case when balance < 0 then 'neg' when balance is null then 'none' else 'pos' end from customer where customer_id < 30 order by customer_id;
select customer_id from customer where customer_id <=> 17;
select sum(distinct balance), count(distinct balance) from customer where tier = 3;
select customer_id from customer where created > date_sub('2024-12-31', interval 30 day) order by customer_id;
select customer_id, name from customer where name = _utf8mb4'ANNA' collate utf8mb4_bin order by customer_id;
select customer_id from customer where hex(name) = hex('anna') order by customer_id;
select tier, count(*) from customer group by tier having count(*) > 100 and min(customer_id) < 10 order by tier;
select country_code, avg(score), sum(score) from customer group by country_code order by country_code;
select c.country_code, sum(o.amount) from customer c join corder o on o.customer_id = c.customer_id where c.tier = 1 group by c.country_code order by c.country_code;
-- ci: 0
select o.status, count(*) from corder o join customer c on c.customer_id = o.customer_id join country co on co.code = c.country_code where co.region = 'Asia' group by o.status order by count(*) desc, o.status;
select customer_id from customer where customer_id in (select customer_id from corder where amount between 1000 and 1001) order by customer_id limit 5;
select customer_id, balance from customer where balance >= 99000 order by balance desc limit 3 offset 1;
select max(name collate utf8mb4_bin), min(name collate utf8mb4_bin) from customer;
select count(*) from corder where note = 'gift';
select count(*) from corder where note = ' trailing space';
select order_id, note from corder where note like '%é%' or note like '%ç%' order by order_id;

-- ===== DML, each checked by the statements after it
insert into customer (customer_id, name, nick, email, country_code, balance, score, created, tier) values (5001, 'Nouveau', 'nouveau', 'n@x.org', 'FR', 10.50, 1.25, '2024-05-01', 2), (5002, 'Ærøskøbing', NULL, NULL, NULL, NULL, NULL, '2024-05-02', NULL), (5003, 'Zoë', 'Zêta', 'ZOE@x.org', 'XX', -1.00, -0.5, '2024-05-03', 5);
select * from customer where customer_id > 5000 order by customer_id;
insert into corder (customer_id, product_id, qty, amount, status, ordered_at, note) values (5001, 3, 2, 19.99, 'new', '2024-05-03 10:00:00', 'première');
select last_insert_id();
select * from corder where customer_id = 5001 order by order_id;
insert into corder (customer_id, product_id, qty, amount, status, ordered_at) values (5002, 4, 1, 5.00, 'new', '2024-05-04 11:00:00'), (5003, 5, 3, 7.50, 'paid', '2024-05-04 12:00:00'), (17, 6, 4, 100.00, 'new', '2024-05-04 13:00:00');
select last_insert_id();
select order_id, customer_id, amount from corder where order_id > 8000 order by order_id;
insert into corder (order_id, customer_id, product_id, qty, amount, status, ordered_at) values (null, 5001, 9, 1, 1.00, 'new', '2024-05-05 00:00:00');
select order_id, customer_id from corder where order_id > 8000 order by order_id;
insert into corder values (null, 5002, 10, 1, 2.00, 'new', '2024-05-05 01:00:00', 'no column list'), (null, 17, 11, 2, 3.00, 'paid', '2024-05-05 02:00:00', NULL);
select last_insert_id();
select * from corder where order_id > 8000 order by order_id;
insert into corder values (null, 5002, 12);
insert into corder values (null, 5002, 12, 1, 1.00, 'new', '2024-05-05 03:00:00', NULL), (null, 5003);
select count(*) from corder where order_id > 8000;
update customer set balance = balance + 1 where customer_id = 5001;
select balance from customer where customer_id = 5001;
update customer set tier = 9 where tier is null and created < '2016-01-01';
select count(*) from customer where tier = 9;
update corder set status = 'archived' where ordered_at < '2020-02-01';
-- ci: 0
select status, count(*) from corder group by status;
delete from corder where status = 'archived' and qty > 5;
select count(*), sum(amount) from corder;
delete from customer where customer_id = 5003;
select customer_id from customer where customer_id > 5000 order by customer_id;
insert into customer (customer_id, name, created, balance) values (5001, 'Nouveau', '2024-05-01', 99.99) on duplicate key update balance = values(balance);
select customer_id, balance from customer where customer_id = 5001;
replace into customer (customer_id, name, created) values (5002, 'Replaced', '2024-06-01');
select customer_id, name, nick, created from customer where customer_id = 5002;
insert ignore into customer (customer_id, name, created) values (5001, 'Ignored', '2024-01-01'), (5004, 'Fresh', '2024-01-02');
select customer_id, name from customer where customer_id in (5001, 5004) order by customer_id;
update country set vat = vat + 1 where code = 'FR';
select * from country where code = 'FR';
select c.customer_id, co.vat from customer c join country co on co.code = c.country_code where c.customer_id = 5001;
insert into country values ('ZZ', 'Zedland', NULL, NULL);
select count(*) from country;
delete from country where code = 'ZZ';
select count(*) from country;
update commerce.product set price = price * 2 where product_id = 1;
insert into commerce.product values (101, 'Gadget', 9.99, NULL);
select * from commerce.product where product_id = 1 or product_id > 99 order by product_id;
update customer set name = 'Renamed' where customer_id in (1, 2, 3);
select customer_id, name from customer where customer_id <= 3 order by customer_id;
update customer set tier = 7 where customer_id in (select customer_id from corder where amount > 1995);
select customer_id from customer where tier = 7 order by customer_id;
insert into customer set customer_id = 5010, name = 'Set form', created = '2024-01-01';
select customer_id, name, created from customer where customer_id = 5010;
insert into customer values (5011, 'No column list', NULL, 'ncl@x.org', 'DE', 1.00, 2.5, '2024-02-02', 1), (5012, 'Second', 'Beta', NULL, NULL, NULL, NULL, '2024-02-03', NULL);
select * from customer where customer_id in (5011, 5012) order by customer_id;
delete from customer where customer_id in (5001, 5002) and tier = 2;
select customer_id from customer where customer_id > 5000 order by customer_id;
delete from corder where customer_id = 5001;
delete from corder where order_id = 8003;
select order_id from corder where order_id > 8000 order by order_id;
insert into customer (customer_id, name, created) values (17, 'Duplicate', '2024-01-01');
update customer c join corder o on o.customer_id = c.customer_id set c.score = 0 where o.order_id = 10;
select c.customer_id, c.score from customer c join corder o on o.customer_id = c.customer_id where o.order_id = 10;
delete o from corder o join customer c on c.customer_id = o.customer_id where c.customer_id = 4 and o.qty < 3;
select count(*) from corder where customer_id = 4;

insert into customer (customer_id, name, nick, email, created) values (6001, 'O''Hara \\ back\\slash', 'it''s', 'q"uote@x.org', '2024-03-03'), (6002, 'tab\there', NULL, NULL, '2024-03-04');
select customer_id, name, nick, email from customer where customer_id in (6001, 6002) order by customer_id;
select customer_id from customer where name = 'O''Hara \\ back\\slash';
insert into customer (customer_id, name, created, balance) values (6001, 'x', '2024-01-01', 1), (6003, 'y', '2024-01-01', 2), (17, 'z', '2024-01-01', 3) on duplicate key update balance = balance + values(balance);
select customer_id, balance from customer where customer_id in (6001, 6003, 17) order by customer_id;
replace into customer (customer_id, name, created) values (6001, 'r1', '2024-01-01'), (6004, 'r2', '2024-01-01'), (18, 'r3', '2024-01-01');
select customer_id, name from customer where customer_id in (6001, 6004, 18) order by customer_id;
insert into country (code, name, region, vat) values ('Q1', 'Qland', 'Nowhere', 1.00), ('Q2', 'Qqland', NULL, NULL);
select * from country where code like 'Q%' order by code;
delete from country where code in ('Q1', 'Q2');
update customer set score = score * 2 where customer_id in (select customer_id from corder where order_id between 20 and 30);
select customer_id, score from customer where customer_id in (select customer_id from corder where order_id between 20 and 30) order by customer_id;
delete from customer where customer_id between 6000 and 6100;
update corder set note = concat(coalesce(note, ''), '!') where customer_id = 17 order by order_id limit 2;
select order_id, note from corder where customer_id = 17 order by order_id;

-- ===== after the writes
select count(*), sum(balance), min(created), max(created) from customer;
select count(*), sum(amount), count(distinct customer_id) from corder;
select tier, count(*) from customer group by tier order by tier;
