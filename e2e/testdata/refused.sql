-- Statements the gate refuses on the sharded customer keyspace: each must fail
-- with ERROR 1235 (42000) and never return rows or change data. When the
-- router learns one, move it to differential.sql.

select customer_id, (select count(*) from corder o where o.product_id = c.tier) from customer c;
select * from customer c where c.balance > (select avg(balance) from customer c2 where c2.tier = c.tier);
select customer_id, row_number() over (order by customer_id) from customer;
update customer set customer_id = 5 where customer_id = 4;
insert into customer (customer_id, name, created) select customer_id + 100000, name, created from customer where customer_id < 3;
select customer_id from customer order by rand() limit 1;
delete from customer order by customer_id limit 1;
update corder set qty = qty + 1 where qty > 5 limit 10;
select customer_id from customer intersect select customer_id from corder;
select sql_calc_found_rows customer_id from customer limit 1;
select tier, count(*) from customer group by tier with rollup;
select * from customer natural join corder;
select * from customer where customer_id in (select customer_id from corder o where o.qty = customer.tier);
select tier, count(*) from customer group by tier order by count(*) + 1;
select distinct tier from customer order by country_code;
select * from customer group by tier;
select std(balance) from customer;
select customer_id from customer into outfile '/tmp/mosaic-refused.txt';
select concat(max(name), '!') from customer;
-- Text the gate would compare without knowing its collation (a UNION's column, an aggregate of a derived table).
select u.n from (select name as n from customer union all select status from corder) u order by u.n limit 3;
select t.m from (select tier, max(name) as m from customer group by tier) t where t.m > 'm';
with recursive r as (select 1 as n union all select n + 1 from r where n < 3) select r.n, c.name from r join customer c on c.customer_id = r.n;
