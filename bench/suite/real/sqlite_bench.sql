-- sqlite_bench.sql -- sqlite3 building and querying a table in memory, for
-- the benchmark suite.  Run as
--     sqlite3 -batch -cmd '.parameter set @n ROWS' :memory: < sqlite_bench.sql
-- What it stresses, through sqlite's malloc calls: the page cache of an
-- in-memory database growing to tens of MiB, rows of mixed text sizes, two
-- indexes built by sorting, GROUP BY with group_concat (growing strings), an
-- UPDATE that doubles some values, a DELETE and a VACUUM that rebuild pages,
-- and a self-join.  Deterministic: no random(), values come from the row id.
-- Prints  result: sqlite <seconds> s  (time measured inside sqlite).
.mode list
CREATE TEMP TABLE t0 AS SELECT julianday('now') AS s;
CREATE TABLE kv(id INTEGER PRIMARY KEY, k TEXT, v TEXT, n INTEGER);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < @n)
INSERT INTO kv(k, v, n)
  SELECT printf('key-%08x', (x * 2654435761) % 4294967296),
         printf('%d:', x) || substr(hex(zeroblob(160)), 1, 8 + (x * 7919) % 300),
         (x * 40503) % 100003
  FROM c;
CREATE INDEX kv_k ON kv(k);
CREATE INDEX kv_n ON kv(n);
SELECT count(*), sum(length(v)) FROM kv WHERE k BETWEEN 'key-4' AND 'key-c';
SELECT count(*), sum(length(g)) FROM
  (SELECT n % 1000 AS b, group_concat(substr(k, 5, 4)) AS g FROM kv GROUP BY b);
UPDATE kv SET v = v || v WHERE n % 3 = 0;
SELECT count(*) FROM (SELECT v FROM kv ORDER BY v DESC LIMIT 1000);
DELETE FROM kv WHERE n % 5 = 0;
SELECT count(*) FROM kv a JOIN kv b ON b.id = a.n WHERE length(a.v) > length(b.v);
VACUUM;
SELECT count(DISTINCT substr(v, 1, 6)) FROM kv;
SELECT printf('result: sqlite %.3f s', (julianday('now') - s) * 86400.0) FROM t0;
