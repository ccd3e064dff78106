"""Python drivers through the gate: PyMySQL (pure Python) and mysqlclient
(MySQLdb, on the MariaDB C connector). Run by e2e/drivers_test.go as
    python3 drivers.py HOST PORT KEYSPACE
against an unsharded or a sharded keyspace; exits non-zero with a message when
anything differs from what MariaDB itself would answer."""
import datetime
import decimal
import sys

import MySQLdb
import pymysql
import pymysql.cursors

HOST, PORT, KEYSPACE = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def check(what, got, want):
    if got != want:
        sys.exit("%s: got %r, want %r" % (what, got, want))


def rows_of(n):
    out = []
    for i in range(1, n + 1):
        out.append((
            i * 7919,  # spread over both shards
            "n\u00e9 %d 'q' \"dq\" \\ \t\n \u4e2d" % i,
            bytes(range(256)) if i % 2 else b"\x00\xff\x27\x5c",
            decimal.Decimal("12345.67") * i,
            datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
            None if i % 3 == 0 else i,
        ))
    return out


def exercise(name, connect, table, errors):
    conn = connect()
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS " + table)
    cur.execute("CREATE TABLE " + table + " (id BIGINT PRIMARY KEY, name VARCHAR(100),"
                " data BLOB, amount DECIMAL(12,2), ts DATETIME(6), maybe INT)")
    rows = rows_of(40)
    cur.executemany("INSERT INTO " + table + " (id, name, data, amount, ts, maybe)"
                    " VALUES (%s, %s, %s, %s, %s, %s)", rows)
    conn.commit()
    cur.execute("SELECT id, name, data, amount, ts, maybe FROM " + table + " ORDER BY id")
    got = [tuple(bytes(v) if isinstance(v, (bytearray, memoryview)) else v for v in r) for r in cur.fetchall()]
    check(name + " rows read back", got, rows)

    cur.execute("SELECT name FROM " + table + " WHERE id = %s", (rows[4][0],))
    check(name + " point select", cur.fetchall(), ((rows[4][1],),))

    # A transaction over both shards: rolled back, then committed.
    ids = (rows[0][0], rows[1][0], rows[2][0])
    cur.execute("UPDATE " + table + " SET maybe = -1 WHERE id IN (%s, %s, %s)", ids)
    check(name + " rows updated", cur.rowcount, 3)
    conn.rollback()
    cur.execute("SELECT COUNT(*) FROM " + table + " WHERE maybe = -1")
    check(name + " after rollback", cur.fetchall()[0][0], 0)
    cur.execute("UPDATE " + table + " SET maybe = -1 WHERE id IN (%s, %s, %s)", ids)
    conn.commit()
    cur.execute("SELECT COUNT(*) FROM " + table + " WHERE maybe = -1")
    check(name + " after commit", cur.fetchall()[0][0], 3)

    # MySQL errors keep their numbers.
    try:
        cur.execute("INSERT INTO " + table + " (id, name) VALUES (%s, 'dup')", (rows[0][0],))
        sys.exit(name + ": duplicate key accepted")
    except errors.IntegrityError as e:
        check(name + " duplicate key error", e.args[0], 1062)
    conn.rollback()
    try:
        cur.execute("SELECT nosuchcolumn FROM " + table)
        sys.exit(name + ": unknown column accepted")
    except errors.OperationalError as e:
        check(name + " unknown column error", e.args[0], 1054)
    conn.close()


def pymysql_connect():
    return pymysql.connect(host=HOST, port=PORT, user="root", database=KEYSPACE,
                           charset="utf8mb4", autocommit=False)


def mysqldb_connect():
    return MySQLdb.connect(host=HOST, port=PORT, user="root", database=KEYSPACE,
                           charset="utf8mb4", autocommit=False)


exercise("pymysql", pymysql_connect, "pydrv1", pymysql.err)
exercise("mysqlclient", mysqldb_connect, "pydrv2", MySQLdb)

# A large result read unbuffered (PyMySQL's SSCursor) from every shard.
conn = pymysql.connect(host=HOST, port=PORT, user="root", database=KEYSPACE,
                       cursorclass=pymysql.cursors.SSCursor)
cur = conn.cursor()
cur.execute("SELECT a.id, b.id FROM pydrv1 a JOIN pydrv2 b ON a.id = b.id WHERE a.id > %s", (0,))
check("unbuffered join rows", sum(1 for _ in cur), 40)
conn.close()
print("python drivers ok")
