package proxy

import "testing"

func TestForbiddenName(t *testing.T) {
	for sql, want := range map[string]string{
		"select * from t":                             "",
		"select '_mosaic' from t":                     "",
		"select * from _mosaic.dt_state":              mosaicSchema,
		"select * from `_MOSAIC`.`dt_state`":          mosaicSchema,
		"/*!40000 select * from _mosaic.heartbeat */": mosaicSchema,
		"create trigger tr after insert on t for each row update _mosaic.dt_state set state = 'COMMIT'": mosaicSchema,
		"select x_mosaic from t":                       "",
		"SHOW FULL PROCESSLIST":                        "",
		"show processlist":                             "",
		"select * from information_schema.processlist": "processlist",
		"select 'processlist'":                         "",
	} {
		if got := forbiddenName(sql); got != want {
			t.Errorf("forbiddenName(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestCheckServerWords(t *testing.T) {
	for sql, refused := range map[string]bool{
		"select 1":                                          false,
		"XA RECOVER":                                        true,
		"/* x */ xa rollback 'mosaic-1'":                    true,
		"/*!50000 XA */ RECOVER":                            true,
		"KILL HARD QUERY 5":                                 true,
		"SHOW EXPLAIN FOR 7":                                true,
		"show analyze format=json for 7":                    true,
		"SHOW PACKAGE STATUS":                               false,
		"GRANT ALL ON *.* TO x":                             true,
		"CREATE OR REPLACE USER x":                          true,
		"CREATE TABLE user (id int)":                        false,
		"DROP ROLE IF EXISTS r":                             true,
		"SET PASSWORD = OLD_PASSWORD('x')":                  true,
		"SET ROLE r":                                        true,
		"SET DEFAULT ROLE r":                                true,
		"SET STATEMENT max_statement_time=1 FOR XA RECOVER": true,
		"SET STATEMENT a=1, b=2, c=3, d=4, e=5 FOR KILL 3":  true,
		"SET STATEMENT max_statement_time=1 FOR SELECT 1":   false,
	} {
		err := checkServerWords(statementWords(sql, 8))
		if (err != nil) != refused {
			t.Errorf("%q: %v, want refused %v", sql, err, refused)
		}
	}
}

// BenchmarkStatementChecks is what every statement now costs the gate
// before planning: the rights rewrite's first word and the name scan.
func BenchmarkStatementChecks(b *testing.B) {
	const sql = "select c from sbtest1 where id = 4711 and k between 100 and 200 order by c limit 10"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if s, err := invokerRights(sql); err != nil || s != sql {
			b.Fatal(s, err)
		}
		if forbiddenName(sql) != "" {
			b.Fatal("name")
		}
	}
}
