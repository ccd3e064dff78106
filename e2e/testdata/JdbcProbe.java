import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

// JdbcProbe runs what Java applications and tools (Hibernate, Flyway, DBeaver,
// Metabase) do through MariaDB Connector/J and prints a transcript, so that a
// run through the gate can be compared line by line with one straight on
// mysqld (e2e/jdbc_test.go). Known differences are left out (see
// docs/compatibility.md, "Java (JDBC)").
// usage: java -cp mariadb-java-client.jar JdbcProbe.java host:port db
public class JdbcProbe {
    static String hostPort, db, extra;

    static Connection connect(String opts) throws SQLException {
        String url = "jdbc:mariadb://" + hostPort + "/" + db + "?user=root" + (extra.isEmpty() ? "" : "&" + extra) + (opts.isEmpty() ? "" : "&" + opts);
        return DriverManager.getConnection(url);
    }

    static void p(String s) { System.out.println(s); }

    static void err(String what, SQLException e) {
        p(what + " ERR " + e.getErrorCode() + " " + e.getSQLState() + " " + e.getMessage().replaceAll("\\s+", " "));
    }

    static void dump(String title, ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder h = new StringBuilder(title + " cols:");
        for (int i = 1; i <= md.getColumnCount(); i++) h.append(" ").append(md.getColumnLabel(i));
        p(h.toString());
        int n = 0;
        while (rs.next()) {
            StringBuilder r = new StringBuilder("  ");
            for (int i = 1; i <= md.getColumnCount(); i++) {
                Object o = rs.getObject(i);
                String s = o == null ? "NULL" : (o instanceof byte[] ? "0x" + hex((byte[]) o) : o.toString() + ":" + o.getClass().getSimpleName());
                r.append(i > 1 ? " | " : "").append(s);
            }
            p(r.toString());
            n++;
        }
        p("  (" + n + " rows)");
    }

    static void meta(String title, ResultSetMetaData md) throws SQLException {
        for (int i = 1; i <= md.getColumnCount(); i++) {
            p(title + " col " + i + " label=" + md.getColumnLabel(i) + " name=" + md.getColumnName(i) + " table=" + md.getTableName(i)
                + " cat=" + md.getCatalogName(i) + " type=" + md.getColumnType(i) + "/" + md.getColumnTypeName(i)
                + " class=" + md.getColumnClassName(i) + " prec=" + md.getPrecision(i) + " scale=" + md.getScale(i)
                + " null=" + md.isNullable(i) + " ai=" + md.isAutoIncrement(i) + " signed=" + md.isSigned(i)
                + " size=" + md.getColumnDisplaySize(i));
        }
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) s.append(String.format("%02x", x));
        return s.toString();
    }

    static void q(Connection c, String sql) {
        try (Statement st = c.createStatement()) {
            boolean rs = st.execute(sql);
            if (rs) dump("Q " + sql, st.getResultSet());
            else p("Q " + sql + " -> " + st.getUpdateCount());
        } catch (SQLException e) { err("Q " + sql, e); }
    }

    // qs is q printing values as strings, whatever their column types.
    static void qs(Connection c, String sql) {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            StringBuilder r = new StringBuilder("QS " + sql + ":");
            while (rs.next()) for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) r.append(" ").append(rs.getString(i));
            p(r.toString());
        } catch (SQLException e) { err("QS " + sql, e); }
    }

    static void u(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) { st.execute(sql); }
    }

    interface Step { void run() throws Exception; }

    static void step(String name, Step s) {
        p("== " + name);
        if (System.getenv("PROBE_TIMES") != null) System.err.println(System.nanoTime() / 1000000 + " " + name);
        try { s.run(); } catch (SQLException e) { err(name, e); } catch (Exception e) { p(name + " EXC " + e); }
    }

    public static void main(String[] a) throws Exception {
        hostPort = a[0]; db = a[1]; extra = a.length > 2 ? a[2] : "";
        String only = System.getenv("ONLY");
        try (Connection c = connect("")) {
            DatabaseMetaData md = c.getMetaData();
            p("product " + md.getDatabaseProductName() + " " + md.getDatabaseMajorVersion() + "." + md.getDatabaseMinorVersion());
            p("catalog " + c.getCatalog() + " autocommit " + c.getAutoCommit() + " iso " + c.getTransactionIsolation() + " ro " + c.isReadOnly());
            if (only == null || only.contains("setup")) setup(c);
            if (only == null || only.contains("meta")) metadata(c);
            if (only == null || only.contains("tools")) tools(c);
            if (only == null || only.contains("gatevalues")) gateValues(c);
        }
        if (only == null || only.contains("ps")) {
            for (String opts : new String[]{"", "useServerPrepStmts=true"}) {
                try (Connection c = connect(opts)) { prepared(c, opts); }
            }
        }
        if (only == null || only.contains("batch")) {
            for (String opts : new String[]{"", "rewriteBatchedStatements=true", "useServerPrepStmts=true", "useBulkStmts=true", "useBulkStmts=true&useServerPrepStmts=true"}) {
                try (Connection c = connect(opts)) { batch(c, opts); }
            }
        }
        if (only == null || only.contains("keys")) {
            for (String opts : new String[]{"", "useServerPrepStmts=true", "rewriteBatchedStatements=true"}) {
                try (Connection c = connect(opts)) { keys(c, opts); }
            }
        }
        if (only == null || only.contains("tx")) try (Connection c = connect("")) { tx(c); }
        if (only == null || only.contains("stream")) {
            for (String opts : new String[]{"", "useServerPrepStmts=true"}) {
                try (Connection c = connect(opts)) { stream(c, opts); }
            }
        }
        if (only == null || only.contains("timeout")) {
            try (Connection c = connect("")) { timeout(c, ""); }
        }
        if (only == null || only.contains("multi")) try (Connection c = connect("allowMultiQueries=true")) { multi(c); }
        if (only == null || only.contains("call")) {
            for (String opts : new String[]{"", "useServerPrepStmts=true"}) {
                try (Connection c = connect(opts)) { callable(c, opts); }
            }
        }
        if (only == null || only.contains("misc")) try (Connection c = connect("")) { misc(c); }
    }

    static void setup(Connection c) throws SQLException {
        step("setup", () -> {
            u(c, "DROP TABLE IF EXISTS jchild");
            u(c, "DROP TABLE IF EXISTS jparent");
            u(c, "DROP TABLE IF EXISTS jtypes");
            u(c, "DROP TABLE IF EXISTS jai");
            u(c, "DROP TABLE IF EXISTS jbig");
            u(c, "DROP PROCEDURE IF EXISTS jproc");
            u(c, "DROP PROCEDURE IF EXISTS jproc2");
            u(c, "DROP PROCEDURE IF EXISTS jproc3");
            u(c, "DROP FUNCTION IF EXISTS jfn");
            u(c, "CREATE TABLE jtypes (id int NOT NULL PRIMARY KEY, ti tinyint, si smallint unsigned, i int, bi bigint, ubi bigint unsigned, "
                + "d decimal(12,4), dbl double, f float, s varchar(100) CHARACTER SET utf8mb4, ch char(3), txt text, dt date, dtt datetime(6), "
                + "ts timestamp(3) NULL DEFAULT NULL, tm time(3), yr year, b blob, vb varbinary(20), bit1 bit(1), bool1 tinyint(1), en enum('a','b'), "
                + "js json, KEY k_i (i), UNIQUE KEY u_s (s)) COMMENT 'types table'");
            u(c, "CREATE TABLE jai (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, v varchar(20))");
            u(c, "CREATE TABLE jparent (pid int NOT NULL, pk2 int NOT NULL, name varchar(20), PRIMARY KEY (pid, pk2))");
            u(c, "CREATE TABLE jchild (cid int NOT NULL PRIMARY KEY, pid int, pk2 int, CONSTRAINT fk_child FOREIGN KEY (pid, pk2) REFERENCES jparent (pid, pk2) ON DELETE CASCADE)");
            u(c, "CREATE TABLE jbig (id int NOT NULL PRIMARY KEY, v varchar(50))");
            StringBuilder sb = new StringBuilder("INSERT INTO jbig VALUES ");
            for (int i = 1; i <= 2000; i++) sb.append(i > 1 ? "," : "").append("(").append(i).append(",'row").append(i).append("')");
            u(c, sb.toString());
            p("ok");
        });
    }

    static void metadata(Connection c) throws SQLException {
        DatabaseMetaData md = c.getMetaData();
        step("getCatalogs", () -> dump("catalogs", md.getCatalogs()));
        step("getSchemas", () -> dump("schemas", md.getSchemas()));
        step("getTableTypes", () -> dump("tabletypes", md.getTableTypes()));
        step("getTables null", () -> dump("tables", md.getTables(null, null, "j%", null)));
        step("getTables cat", () -> dump("tables", md.getTables(db, null, "%", new String[]{"TABLE", "VIEW"})));
        step("getColumns", () -> dump("columns", md.getColumns(db, null, "jtypes", "%")));
        step("getColumns null cat", () -> dump("columns", md.getColumns(null, null, "jai", "%")));
        step("getPrimaryKeys", () -> dump("pk", md.getPrimaryKeys(db, null, "jparent")));
        step("getIndexInfo", () -> dump("idx", md.getIndexInfo(db, null, "jtypes", false, false)));
        step("getImportedKeys", () -> dump("imp", md.getImportedKeys(db, null, "jchild")));
        step("getExportedKeys", () -> dump("exp", md.getExportedKeys(db, null, "jparent")));
        step("getCrossReference", () -> dump("xref", md.getCrossReference(db, null, "jparent", db, null, "jchild")));
        step("getBestRowIdentifier", () -> dump("brid", md.getBestRowIdentifier(db, null, "jtypes", DatabaseMetaData.bestRowSession, true)));
        step("getProcedures", () -> dump("procs", md.getProcedures(db, null, "%")));
        step("getFunctions", () -> dump("funcs", md.getFunctions(db, null, "%")));
        step("getVersionColumns", () -> dump("vercols", md.getVersionColumns(db, null, "jtypes")));
        step("getTablePrivileges", () -> { ResultSet rs = md.getTablePrivileges(db, null, "jtypes"); int n = 0; while (rs.next()) n++; p("tableprivs rows>0 " + (n > 0)); });
        step("getColumnPrivileges", () -> { ResultSet rs = md.getColumnPrivileges(db, null, "jtypes", "%"); int n = 0; while (rs.next()) n++; p("colprivs " + n); });
        step("getTypeInfo", () -> { ResultSet rs = md.getTypeInfo(); int n = 0; while (rs.next()) n++; p("typeinfo " + n); });
        step("getClientInfoProperties", () -> { ResultSet rs = md.getClientInfoProperties(); int n = 0; while (rs.next()) n++; p("clientinfo " + n); });
        step("misc md", () -> {
            p("user " + md.getUserName() + " url? ro " + md.isReadOnly() + " maxconn " + md.getMaxConnections()
                + " kw " + md.getSQLKeywords().length() + " numfn " + md.getNumericFunctions().length()
                + " sysfn " + md.getSystemFunctions() + " tz? ");
        });
    }

    // gateValues selects values the gate answers itself, whose column types
    // (getObject's class, the metadata) must be mysqld's, and statements
    // that parse only with IGNORE_SPACE, which Connector/J's
    // CLIENT_IGNORE_SPACE sets.
    static void gateValues(Connection c) {
        step("gate values", () -> {
            String sql = "SELECT LAST_INSERT_ID(), @@max_allowed_packet, @@autocommit, ROW_COUNT(), FOUND_ROWS(), @@in_transaction, @@warning_count, DATABASE()";
            // @@max_allowed_packet is the gate's own limit, and ROW_COUNT()
            // follows the driver's own statements: their values differ.
            q(c, "SELECT LAST_INSERT_ID(), @@autocommit, FOUND_ROWS(), @@in_transaction, @@warning_count, DATABASE()");
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) { meta("gate values", rs.getMetaData()); }
            try (PreparedStatement ps = c.prepareStatement(sql + " FROM DUAL WHERE ? = 1")) {
                ps.setInt(1, 1);
                meta("ps gate values", ps.getMetaData());
                try (ResultSet rs = ps.executeQuery()) { meta("ps gate values rows", rs.getMetaData()); }
            }
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT CONNECTION_ID()")) {
                meta("connection id", rs.getMetaData());
                rs.next();
                p("connection id class " + rs.getObject(1).getClass().getSimpleName());
            }
            q(c, "SELECT @@sql_mode LIKE '%IGNORE_SPACE%'");
            q(c, "SELECT COUNT (*), MAX (pid) FROM jparent");
        });
    }

    static void tools(Connection c) {
        step("tool queries", () -> {
            String[] qs = {
                "SELECT @@version_comment, @@version_compile_os, @@lower_case_table_names",
                "SELECT DATABASE(), SCHEMA()",
                "SELECT @@tx_isolation, @@tx_read_only, @@session.tx_read_only",
                "SELECT @@session.transaction_read_only",
                "SELECT @@character_set_client, @@character_set_connection, @@character_set_results, @@collation_connection",
                "SELECT @@time_zone, @@system_time_zone IS NOT NULL",
                "SELECT @@auto_increment_increment, @@auto_increment_offset",
                "SHOW VARIABLES LIKE 'pxc_strict_mode'",
                "SHOW VARIABLES LIKE 'lower_case%'",
                "SHOW VARIABLES LIKE 'character_set_server'",
                "SHOW ENGINES",
                "SHOW CHARSET LIKE 'utf8mb4'",
                "SHOW COLLATION LIKE 'utf8mb4_bin'",
                "SHOW FULL TABLES",
                "SHOW FULL TABLES FROM " + db + " LIKE 'j%'",
                "SHOW FULL COLUMNS FROM jai",
                "SHOW INDEX FROM jtypes",
                "SHOW CREATE TABLE jai",
                "SHOW CREATE DATABASE " + db,
                "SHOW TRIGGERS",
                "SHOW PROCEDURE STATUS WHERE Db = DATABASE()",
                "SHOW FUNCTION STATUS WHERE Db = DATABASE()",
                "SELECT * FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '" + db + "'",
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('information_schema', '" + db + "') ORDER BY 1",
                "SELECT TABLE_NAME, TABLE_TYPE, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'j%' ORDER BY 1",
                "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '" + db + "' AND TABLE_NAME = 'jai' ORDER BY ORDINAL_POSITION",
                "SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '" + db + "' AND REFERENCED_TABLE_NAME IS NOT NULL",
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '" + db + "'",
                "SELECT TRUE AS _ FROM `jai` WHERE 1 <> 1 LIMIT 0",
                "SELECT * FROM jai WHERE 1=0",
                "SELECT GET_LOCK('flyway', 10)",
                "SELECT RELEASE_LOCK('flyway')",
                "SELECT 1 FROM DUAL",
                "/* ping */ SELECT 1",
                "SELECT NOW() IS NOT NULL, CURRENT_TIMESTAMP(6) IS NOT NULL, UTC_TIMESTAMP() IS NOT NULL",
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "SELECT @@tx_isolation",
                "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
                "SELECT @@collation_connection",
                "SET character_set_results = NULL",
                "SELECT @@character_set_results",
                "SET NAMES utf8mb4",
                "SET SQL_SELECT_LIMIT=DEFAULT",
                "SET @@session.sql_mode = CONCAT(@@session.sql_mode, ',STRICT_TRANS_TABLES')",
                "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'",
                "SET autocommit=1",
                "SET STATEMENT max_statement_time=5 FOR SELECT 1",
                "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
                "SELECT CURRENT_ROLE()",
                "SHOW WARNINGS",
                "EXPLAIN SELECT * FROM jai WHERE id = 1",
                "SELECT COUNT(*) FROM jbig",
                "CREATE DATABASE IF NOT EXISTS " + db,
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '" + db + "' AND table_name = 'flyway_schema_history'",
            };
            for (String s : qs) q(c, s);
            p("catalog " + c.getCatalog());
            p("isValid " + c.isValid(5));
            c.setReadOnly(true);
            q(c, "SELECT @@tx_read_only");
            c.setReadOnly(false);
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
            q(c, "SELECT @@tx_isolation");
            c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            try { c.setSchema(db); p("setSchema ok"); } catch (SQLException e) { err("setSchema", e); }
            try { c.setCatalog(db); p("setCatalog ok " + c.getCatalog()); } catch (SQLException e) { err("setCatalog", e); }
            try { c.setNetworkTimeout(Runnable::run, 30000); p("netTimeout " + c.getNetworkTimeout()); } catch (SQLException e) { err("netTimeout", e); }
        });
    }

    static void prepared(Connection c, String opts) {
        step("prepared " + opts, () -> {
            u(c, "DELETE FROM jtypes");
            String ins = "INSERT INTO jtypes (id, ti, si, i, bi, ubi, d, dbl, f, s, ch, txt, dt, dtt, ts, tm, yr, b, vb, bit1, bool1, en, js) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
            try (PreparedStatement ps = c.prepareStatement(ins)) {
                ParameterMetaData pmd = ps.getParameterMetaData();
                p("param count " + pmd.getParameterCount());
                ps.setInt(1, 1); ps.setByte(2, (byte) -128); ps.setShort(3, (short) 65535 > 0 ? (short) 300 : 0); ps.setInt(4, Integer.MIN_VALUE);
                ps.setLong(5, Long.MAX_VALUE); ps.setBigDecimal(6, new BigDecimal("18446744073709551615"));
                ps.setBigDecimal(7, new BigDecimal("-12345678.1234")); ps.setDouble(8, 1.0e300); ps.setFloat(9, 3.25f);
                ps.setString(10, "héllo 😀 'q' \"d\" \\ b"); ps.setString(11, "abc"); ps.setString(12, "long text\nline2");
                ps.setDate(13, java.sql.Date.valueOf("2024-02-29")); ps.setTimestamp(14, Timestamp.valueOf("2024-02-29 23:59:59.123456"));
                ps.setTimestamp(15, Timestamp.valueOf("2021-06-01 12:00:00.5")); ps.setTime(16, Time.valueOf("13:14:15"));
                ps.setInt(17, 2024); ps.setBytes(18, new byte[]{0, 1, 2, (byte) 0xff, (byte) 0x80, 39, 92});
                ps.setBytes(19, new byte[]{(byte) 0xde, (byte) 0xad}); ps.setBoolean(20, true); ps.setBoolean(21, false);
                ps.setString(22, "b"); ps.setString(23, "{\"k\": [1, 2]}");
                p("insert " + ps.executeUpdate());
                ps.setInt(1, 2);
                for (int i = 2; i <= 23; i++) ps.setNull(i, Types.NULL);
                p("insert nulls " + ps.executeUpdate());
                ps.setInt(1, 3);
                ps.setObject(2, 5); ps.setObject(3, 7L); ps.setObject(4, "42"); ps.setObject(5, new BigDecimal("99"));
                ps.setObject(6, 0); ps.setObject(7, 1.5); ps.setObject(8, 2.5f); ps.setObject(9, null, Types.FLOAT);
                ps.setObject(10, "x"); ps.setObject(11, "c"); ps.setObject(12, "t");
                ps.setObject(13, java.time.LocalDate.of(2000, 1, 1)); ps.setObject(14, java.time.LocalDateTime.of(2000, 1, 2, 3, 4, 5, 600000000));
                ps.setObject(15, java.time.LocalDateTime.of(2030, 1, 1, 0, 0, 0, 1000000)); ps.setObject(16, java.time.LocalTime.of(1, 2, 3));
                ps.setObject(17, (short) 1999); ps.setObject(18, new byte[0]); ps.setObject(19, "str".getBytes());
                ps.setObject(20, false); ps.setObject(21, true); ps.setObject(22, "a"); ps.setObject(23, "[]");
                p("insert objects " + ps.executeUpdate());
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT * FROM jtypes WHERE id >= ? ORDER BY id")) {
                meta("sel", ps.getMetaData() == null ? null : ps.getMetaData());
                ps.setInt(1, 0);
                try (ResultSet rs = ps.executeQuery()) {
                    meta("selrs", rs.getMetaData());
                    dump("rows", rs);
                }
                ps.setInt(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        p("typed id=" + rs.getInt("id") + " d=" + rs.getBigDecimal("d") + " dtt=" + rs.getTimestamp("dtt") + " ts=" + rs.getTimestamp("ts")
                            + " tm=" + rs.getTime("tm") + " dt=" + rs.getDate("dt") + " s=" + rs.getString("s") + " ldt=" + rs.getObject("dtt", java.time.LocalDateTime.class)
                            + " ubi=" + rs.getString("ubi") + " bit=" + rs.getBoolean("bit1") + " js=" + rs.getString("js") + " yr=" + rs.getString("yr"));
                    }
                }
            }
            // Bare parameters and expressions over them: the gate binds values as
            // literals, so ? + 1 and a TIMESTAMP ? get other types than mysqld
            // gives them (docs/connecting.md, "Differences from mysqld").
            try (PreparedStatement ps = c.prepareStatement("SELECT ? AS a, CONCAT(?, 'x') AS c, ? AS d")) {
                ps.setInt(1, 5); ps.setString(2, "é"); ps.setNull(3, Types.VARCHAR);
                try (ResultSet rs = ps.executeQuery()) { dump("exprs", rs); }
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT id FROM jtypes WHERE s = ? OR b = ? OR dtt = ?")) {
                ps.setString(1, "héllo 😀 'q' \"d\" \\ b"); ps.setBytes(2, new byte[]{0, 1, 2, (byte) 0xff, (byte) 0x80, 39, 92}); ps.setTimestamp(3, Timestamp.valueOf("2000-01-02 03:04:05.6"));
                try (ResultSet rs = ps.executeQuery()) { dump("where", rs); }
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE jtypes SET i = i + ? WHERE id IN (?, ?)")) {
                ps.setInt(1, 1); ps.setInt(2, 1); ps.setInt(3, 3);
                p("update " + ps.executeUpdate());
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT * FROM nosuchtable WHERE id = ?")) {
                ps.setInt(1, 1); ps.executeQuery(); p("no error?");
            } catch (SQLException e) { err("bad table", e); }
            try (PreparedStatement ps = c.prepareStatement("SELEC 1")) {
                ps.executeQuery(); p("no error?");
            } catch (SQLException e) { err("bad syntax", e); }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jtypes (id) VALUES (?)")) {
                ps.setInt(1, 1); ps.executeUpdate(); p("no error?");
            } catch (SQLException e) { err("dup", e); }
        });
    }

    static void batch(Connection c, String opts) {
        step("batch " + opts, () -> {
            u(c, "DELETE FROM jparent");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jparent (pid, pk2, name) VALUES (?, ?, ?)")) {
                for (int i = 1; i <= 5; i++) { ps.setInt(1, i); ps.setInt(2, 0); ps.setString(3, "n" + i + (i == 3 ? "'q" : "")); ps.addBatch(); }
                p("counts " + Arrays.toString(ps.executeBatch()));
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE jparent SET name = ? WHERE pid = ?")) {
                for (int i = 1; i <= 3; i++) { ps.setString(1, "u" + i); ps.setInt(2, i == 2 ? 99 : i); ps.addBatch(); }
                p("upd counts " + Arrays.toString(ps.executeBatch()));
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jparent (pid, pk2, name) VALUES (?, ?, ?)")) {
                for (int i = 6; i <= 8; i++) { ps.setInt(1, i == 7 ? 1 : i); ps.setInt(2, 0); ps.setString(3, "x"); ps.addBatch(); }
                p("dup counts " + Arrays.toString(ps.executeBatch()));
            } catch (BatchUpdateException e) { p("BatchUpdateException " + e.getErrorCode() + " " + e.getSQLState() + " " + Arrays.toString(e.getUpdateCounts())); }
            try (Statement st = c.createStatement()) { dump("after dup", st.executeQuery("SELECT pid, name FROM jparent ORDER BY pid")); }
            try (Statement st = c.createStatement()) {
                st.addBatch("INSERT INTO jparent VALUES (20, 0, 'a')");
                st.addBatch("UPDATE jparent SET name = 'b' WHERE pid >= 20");
                st.addBatch("DELETE FROM jparent WHERE pid = 20");
                p("stmt batch " + Arrays.toString(st.executeBatch()));
            }
            q(c, "SELECT * FROM jparent ORDER BY pid");
        });
    }

    static void keys(Connection c, String opts) {
        step("keys " + opts, () -> {
            u(c, "DELETE FROM jai");
            u(c, "ALTER TABLE jai AUTO_INCREMENT = 1");
            try (Statement st = c.createStatement()) {
                st.executeUpdate("INSERT INTO jai (v) VALUES ('a')", Statement.RETURN_GENERATED_KEYS);
                dump("stmt keys", st.getGeneratedKeys());
                st.executeUpdate("INSERT INTO jai (v) VALUES ('b'), ('c'), ('d')", Statement.RETURN_GENERATED_KEYS);
                dump("stmt multi keys", st.getGeneratedKeys());
                st.executeUpdate("INSERT INTO jai (id, v) VALUES (100, 'e')", Statement.RETURN_GENERATED_KEYS);
                dump("explicit keys", st.getGeneratedKeys());
                st.executeUpdate("UPDATE jai SET v = 'z' WHERE id = 1", Statement.RETURN_GENERATED_KEYS);
                dump("update keys", st.getGeneratedKeys());
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jai (v) VALUES (?)", Statement.RETURN_GENERATED_KEYS)) {
                ps.setString(1, "p"); ps.executeUpdate();
                dump("ps keys", ps.getGeneratedKeys());
                for (int i = 0; i < 3; i++) { ps.setString(1, "bb" + i); ps.addBatch(); }
                p("batch " + Arrays.toString(ps.executeBatch()));
                dump("batch keys", ps.getGeneratedKeys());
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jai (v) VALUES (?)", new String[]{"id"})) {
                ps.setString(1, "named"); ps.executeUpdate();
                dump("named keys", ps.getGeneratedKeys());
            }
            q(c, "SELECT LAST_INSERT_ID()");
            q(c, "SELECT id, v FROM jai ORDER BY id");
        });
    }

    static void tx(Connection c) {
        step("tx", () -> {
            u(c, "DELETE FROM jparent");
            c.setAutoCommit(false);
            q(c, "SELECT @@autocommit");
            u(c, "INSERT INTO jparent VALUES (1, 1, 'a')");
            c.rollback();
            q(c, "SELECT COUNT(*) FROM jparent");
            u(c, "INSERT INTO jparent VALUES (2, 1, 'b')");
            Savepoint sp1 = c.setSavepoint("sp1");
            u(c, "INSERT INTO jparent VALUES (3, 1, 'c')");
            Savepoint sp2 = c.setSavepoint();
            u(c, "INSERT INTO jparent VALUES (4, 1, 'd')");
            c.rollback(sp2);
            c.releaseSavepoint(sp1);
            try { c.rollback(sp1); p("rollback released sp: no error?"); } catch (SQLException e) { err("rollback released sp", e); }
            c.commit();
            q(c, "SELECT * FROM jparent ORDER BY pid");
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            q(c, "SELECT @@tx_isolation");
            u(c, "UPDATE jparent SET name = 'bb' WHERE pid = 2");
            c.setAutoCommit(true); // commits
            q(c, "SELECT name FROM jparent WHERE pid = 2");
            c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            c.setAutoCommit(false);
            c.setReadOnly(true);
            try { u(c, "INSERT INTO jparent VALUES (9, 9, 'ro')"); p("ro insert no error?"); } catch (SQLException e) { err("ro insert", e); }
            c.rollback();
            c.setReadOnly(false);
            c.setAutoCommit(true);
        });
    }

    static void stream(Connection c, String opts) {
        step("stream " + opts, () -> {
            try (Statement st = c.createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY)) {
                st.setFetchSize(Integer.MIN_VALUE);
                try (ResultSet rs = st.executeQuery("SELECT id, v FROM jbig ORDER BY id")) {
                    long sum = 0; int n = 0; while (rs.next()) { sum += rs.getInt(1); n++; if (n == 10) { q2(c); } }
                    p("streamed " + n + " sum " + sum);
                }
                q(c, "SELECT 1");
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT id, v FROM jbig WHERE id > ? ORDER BY id")) {
                ps.setFetchSize(100);
                ps.setInt(1, 1000);
                try (ResultSet rs = ps.executeQuery()) {
                    int n = 0; while (rs.next()) n++;
                    p("fetch100 " + n);
                }
            }
            try (Statement st = c.createStatement()) {
                st.setFetchSize(7);
                st.setMaxRows(15);
                try (ResultSet rs = st.executeQuery("SELECT id FROM jbig")) { int n = 0; while (rs.next()) n++; p("maxrows " + n); }
            }
            try (Statement st = c.createStatement()) {
                st.setFetchSize(Integer.MIN_VALUE);
                ResultSet rs = st.executeQuery("SELECT id FROM jbig ORDER BY id");
                rs.next(); rs.next();
                st.close(); // abandon a streaming result mid-way
                q(c, "SELECT COUNT(*) FROM jbig");
            }
        });
    }

    static void q2(Connection c) {
        // another statement while a streaming result is open: the driver must buffer the rest
        q(c, "SELECT 2");
    }

    static void timeout(Connection c, String opts) {
        step("timeout " + opts, () -> {
            try (Statement st = c.createStatement()) {
                st.setQueryTimeout(1);
                long t0 = System.nanoTime();
                try { st.executeQuery("SELECT SLEEP(2)").next(); p("sleep returned " + st.getResultSet().getObject(1)); } catch (SQLException e) { err("timeout", e); }
                p("elapsed<1.8s " + ((System.nanoTime() - t0) < 1_800_000_000L));
                try (ResultSet rs = st.executeQuery("SELECT 1")) { rs.next(); p("after timeout " + rs.getInt(1)); }
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT SLEEP(?)")) {
                ps.setQueryTimeout(1); ps.setInt(1, 2);
                long t0 = System.nanoTime();
                try { ResultSet rs = ps.executeQuery(); rs.next(); p("ps sleep returned " + rs.getObject(1)); } catch (SQLException e) { err("ps timeout", e); }
                p("elapsed<1.8s " + ((System.nanoTime() - t0) < 1_800_000_000L));
            }
            try (Statement st = c.createStatement()) {
                st.setQueryTimeout(1);
                try { p("update in time " + st.executeUpdate("UPDATE jbig SET v = v WHERE id = 1")); } catch (SQLException e) { err("upd timeout", e); }
            }
        });
    }

    static void multi(Connection c) {
        step("multi", () -> {
            try (Statement st = c.createStatement()) {
                boolean r = st.execute("INSERT INTO jparent VALUES (50, 0, 'm'); SELECT name FROM jparent WHERE pid = 50; UPDATE jparent SET name = 'mm' WHERE pid = 50; SELECT name FROM jparent WHERE pid = 50; DELETE FROM jparent WHERE pid = 50");
                int i = 0;
                while (true) {
                    if (r) dump("multi rs " + i, st.getResultSet());
                    else { int uc = st.getUpdateCount(); if (uc == -1) break; p("multi uc " + i + " " + uc); }
                    r = st.getMoreResults(); i++;
                }
            }
            try (Statement st = c.createStatement()) {
                st.execute("SELECT 1; SELECT * FROM nosuch; SELECT 3");
                p("no error?");
            } catch (SQLException e) { err("multi err", e); }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jparent VALUES (?, 0, 'x'); DELETE FROM jparent WHERE pid = ?")) {
                ps.setInt(1, 60); ps.setInt(2, 60);
                ps.execute();
                p("ps multi uc " + ps.getUpdateCount()); ps.getMoreResults(); p("ps multi uc2 " + ps.getUpdateCount());
            } catch (SQLException e) { err("ps multi", e); }
            q(c, "SELECT COUNT(*) FROM jparent WHERE pid IN (50, 60)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jparent VALUES (?, 0, 'x')")) {
                for (int i = 70; i < 73; i++) { ps.setInt(1, i); ps.addBatch(); }
                p("multi batch " + Arrays.toString(ps.executeBatch()));
            }
        });
    }

    // callable runs procedures and functions as CallableStatements, OUT
    // and INOUT parameters bound as ? included.
    static void callable(Connection c, String opts) {
        step("callable " + opts, () -> {
            u(c, "DROP PROCEDURE IF EXISTS jproc");
            u(c, "CREATE PROCEDURE jproc(IN a INT, OUT b INT, INOUT cc VARCHAR(20)) BEGIN SELECT a AS a1; SET b = a * 2; SET cc = CONCAT(cc, '!'); END");
            u(c, "DROP PROCEDURE IF EXISTS jproc2");
            u(c, "CREATE PROCEDURE jproc2(IN a INT, IN s VARCHAR(20)) BEGIN SELECT a AS a1, s AS s1; SELECT COUNT(*) AS n FROM jbig WHERE id <= a; END");
            try (CallableStatement cs = c.prepareCall("{call jproc2(?, ?)}")) {
                cs.setInt(1, 21); cs.setString(2, "hé");
                boolean r = cs.execute();
                int i = 0;
                while (true) {
                    if (r) dump("call rs " + i, cs.getResultSet());
                    else if (cs.getUpdateCount() == -1) break;
                    else p("call uc " + cs.getUpdateCount());
                    r = cs.getMoreResults(); i++;
                }
            }
            try (CallableStatement cs = c.prepareCall("{call jproc(?, ?, ?)}")) {
                cs.setInt(1, 21); cs.registerOutParameter(2, Types.INTEGER); cs.setString(3, "hi"); cs.registerOutParameter(3, Types.VARCHAR);
                boolean r = cs.execute();
                if (r) dump("out call rs", cs.getResultSet());
                p("out b=" + cs.getInt(2) + " cc=" + cs.getString(3) + " b obj=" + cs.getObject(2) + " cc obj=" + cs.getObject(3));
                cs.setInt(1, 5); cs.setNull(3, Types.VARCHAR);
                cs.execute();
                p("out again b=" + cs.getInt(2) + " cc=" + cs.getString(3) + " wasNull=" + cs.wasNull());
            }
            u(c, "DROP PROCEDURE IF EXISTS jproc3");
            u(c, "CREATE PROCEDURE jproc3(OUT n INT, INOUT t VARCHAR(20), IN x INT) BEGIN SELECT COUNT(*) INTO n FROM jbig WHERE id <= x; SET t = CONCAT(t, '/', x); END");
            c.setAutoCommit(false);
            try (CallableStatement cs = c.prepareCall("{call jproc3(?, ?, ?)}")) {
                cs.registerOutParameter(1, Types.INTEGER); cs.setString(2, "it's é"); cs.registerOutParameter(2, Types.VARCHAR); cs.setInt(3, 7);
                p("no rs " + cs.execute() + " n=" + cs.getInt(1) + " t=" + cs.getString(2));
                cs.setString(2, "x"); cs.setInt(3, 9);
                cs.execute();
                p("n=" + cs.getInt("n") + " t=" + cs.getString("t"));
            }
            c.commit();
            c.setAutoCommit(true);
            try (CallableStatement cs = c.prepareCall("{call jproc3(?, @tv, ?)}")) {
                u(c, "SET @tv = 'v'");
                cs.registerOutParameter(1, Types.INTEGER); cs.setInt(2, 3);
                cs.execute();
                p("mixed n=" + cs.getInt(1));
            }
            qs(c, "SELECT @tv");
            try (CallableStatement cs = c.prepareCall("{call nosuchproc(?, ?)}")) {
                cs.setInt(1, 1); cs.registerOutParameter(2, Types.INTEGER);
                cs.execute(); p("no error?");
            } catch (SQLException e) { err("no such proc", e); }
            try (Statement st = c.createStatement()) {
                st.execute("SET @cc = 'hi'");
                st.execute("CALL jproc(21, @b, @cc)");
                dump("call rs", st.getResultSet());
            }
            qs(c, "SELECT @b, @cc");
            u(c, "DROP FUNCTION IF EXISTS jfn");
            u(c, "CREATE FUNCTION jfn(x INT) RETURNS INT DETERMINISTIC RETURN x + 1");
            try (CallableStatement cs = c.prepareCall("{? = call jfn(?)}")) {
                cs.registerOutParameter(1, Types.INTEGER); cs.setInt(2, 41); cs.execute();
                p("fn " + cs.getInt(1));
            }
            dump("procs", c.getMetaData().getProcedures(db, null, "j%"));
            dump("proccols", c.getMetaData().getProcedureColumns(db, null, "jproc", "%"));
        });
    }

    static void misc(Connection c) {
        step("misc", () -> {
            q(c, "SELECT 'a' AS x UNION ALL SELECT 'b'");
            try (Statement st = c.createStatement(ResultSet.TYPE_SCROLL_INSENSITIVE, ResultSet.CONCUR_READ_ONLY)) {
                ResultSet rs = st.executeQuery("SELECT id FROM jbig WHERE id <= 5 ORDER BY id");
                rs.last(); p("scroll last " + rs.getInt(1) + " row " + rs.getRow()); rs.first(); p("first " + rs.getInt(1));
            }
            try (Statement st = c.createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_UPDATABLE)) {
                ResultSet rs = st.executeQuery("SELECT pid, pk2, name FROM jparent WHERE pid = 70");
                if (rs.next()) { rs.updateString("name", "upd"); rs.updateRow(); p("updatable ok"); }
            }
            q(c, "SELECT name FROM jparent WHERE pid = 70");
            SQLWarning w;
            try (Statement st = c.createStatement()) {
                st.execute("SELECT CAST('abc' AS SIGNED)");
                w = st.getWarnings();
                p("warning " + (w == null ? "none" : w.getErrorCode() + " " + w.getSQLState() + " " + w.getMessage()));
            }
            c.setClientInfo("ApplicationName", "probe");
            p("clientinfo " + c.getClientInfo("ApplicationName"));
            try (Statement st = c.createStatement()) {
                st.setEscapeProcessing(true);
                try (ResultSet rs = st.executeQuery("SELECT {fn UCASE('x')}, {d '2020-01-02'}, {ts '2020-01-02 03:04:05'}")) { dump("escapes", rs); }
            }
        });
    }
}
