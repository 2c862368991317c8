-- sqlite_workload.sql -- run by the sqlite3 shell on an in-memory database:
--   sqlite3 -bail -batch :memory: '.read sqlite_workload.sql'
-- Hundreds of thousands of rows generated with recursive CTEs inside one
-- transaction, indexes, aggregates, joins, updates, deletes, a VACUUM.
-- Deterministic: pseudo-random values come from integer hashing, not random().
.bail on
.headers on
.mode list
.nullvalue NULL
PRAGMA cache_size = -65536;   -- 64 MiB of page cache, all of it malloc'ed
PRAGMA temp_store = MEMORY;

BEGIN;
CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
                      tier INTEGER NOT NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount INTEGER NOT NULL,
                    qty INTEGER NOT NULL, day INTEGER NOT NULL, note TEXT);
CREATE TABLE city(name TEXT PRIMARY KEY, region TEXT NOT NULL) WITHOUT ROWID;

WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 49)
INSERT INTO city SELECT printf('city%02d', i), printf('region%d', i % 7) FROM c;

WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO customer
SELECT i, printf('cust-%05d-%s', i, substr('abcdefghijklmnopqrstuvwxyz', 1 + (i * 7) % 26, 1 + i % 9)),
       printf('city%02d', (i * 2654435761) % 50), (i * 40503) % 5
FROM c;

WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300000)
INSERT INTO orders
SELECT i, 1 + (i * 2654435761) % 20000, (i * 7919 + 13) % 100000, 1 + (i * 31) % 17,
       (i * 104729) % 365,
       CASE WHEN i % 3 = 0 THEN NULL ELSE printf('note %d %s', i, hex(i * 12345)) END
FROM c;
COMMIT;

SELECT 'rows', (SELECT count(*) FROM customer) AS customers, (SELECT count(*) FROM orders) AS orders,
       (SELECT count(*) FROM city) AS cities;

CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_day_amount ON orders(day, amount);
CREATE INDEX customer_city ON customer(city, tier);
CREATE INDEX orders_note ON orders(note) WHERE note IS NOT NULL;
PRAGMA integrity_check;

SELECT 'totals', count(*), sum(amount), sum(qty), avg(amount), min(amount), max(amount),
       count(note), sum(length(note)) FROM orders;

SELECT 'by_day', day, count(*) AS n, sum(amount * qty) AS revenue, round(avg(amount), 3) AS avg_amount
FROM orders GROUP BY day ORDER BY revenue DESC, day LIMIT 12;

SELECT 'top_customers', c.id, c.name, c.city, count(*) AS n, sum(o.amount) AS total
FROM orders o JOIN customer c ON c.id = o.customer_id
GROUP BY c.id ORDER BY total DESC, c.id LIMIT 15;

SELECT 'by_region', ci.region, c.tier, count(DISTINCT c.id) AS customers, count(o.id) AS orders,
       sum(o.amount) AS total, round(avg(o.qty), 4) AS avg_qty
FROM city ci JOIN customer c ON c.city = ci.name LEFT JOIN orders o ON o.customer_id = c.id
GROUP BY ci.region, c.tier ORDER BY ci.region, c.tier;

SELECT 'lonely_customers', count(*) FROM customer c
WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id);

SELECT 'range', count(*), sum(amount) FROM orders WHERE day BETWEEN 100 AND 120 AND amount > 50000;

SELECT 'notes', note FROM orders WHERE note LIKE 'note 12%' ORDER BY note LIMIT 8;

SELECT 'group_concat', city, length(group_concat(name, ',')), count(*)
FROM (SELECT city, name FROM customer ORDER BY name) GROUP BY city ORDER BY city LIMIT 10;

-- window functions keep whole partitions in memory
SELECT 'window', customer_id, id, amount, running FROM (
  SELECT customer_id, id, amount,
         sum(amount) OVER (PARTITION BY customer_id ORDER BY id) AS running,
         row_number() OVER (PARTITION BY customer_id ORDER BY amount DESC, id) AS rn
  FROM orders)
WHERE rn = 1 ORDER BY running DESC, customer_id LIMIT 10;

BEGIN;
UPDATE orders SET amount = amount + 1, note = coalesce(note, 'was null ' || id) WHERE id % 5 = 0;
DELETE FROM orders WHERE day % 10 = 3;
INSERT INTO orders(customer_id, amount, qty, day, note)
  SELECT customer_id, amount / 2, qty, (day + 1) % 365, 'copy of ' || id FROM orders WHERE id % 97 = 0;
COMMIT;

SELECT 'after_update', count(*), sum(amount), count(note), max(id) FROM orders;
VACUUM;
PRAGMA integrity_check;
SELECT 'after_vacuum', count(*), total(amount) FROM orders;

-- a big sort that does not use an index, and a self-join
SELECT 'sorted', id, amount FROM orders ORDER BY amount * 31 % 1009 DESC, id LIMIT 5;
SELECT 'self_join', count(*), sum(a.amount - b.amount) FROM orders a JOIN orders b
  ON b.id = a.id + 1 AND b.customer_id % 100 < a.customer_id % 100;

-- large values: text of 100 bytes .. 8 KiB, grown in place, json built from them
CREATE TABLE doc(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO doc SELECT i, printf('%d:', i) || replace(hex(zeroblob(50 + (i * 7919) % 4000)), '00', 'xy') FROM c;
UPDATE doc SET body = body || upper(substr(body, 1, id % 700)) WHERE id % 3 = 0;
SELECT 'doc', count(*), sum(length(body)), max(length(body)), sum(instr(body, 'XY') > 0) FROM doc;
SELECT 'json', length(j), json_array_length(j), json_extract(j, '$[17].len') FROM (
  SELECT json_group_array(json_object('id', id, 'len', length(body), 'head', substr(body, 1, 12))) AS j
  FROM (SELECT id, body FROM doc ORDER BY length(body) DESC, id LIMIT 5000));
DELETE FROM doc WHERE id % 2 = 1;
SELECT 'doc_after', count(*), sum(length(body)) FROM doc;
SELECT 'done';
