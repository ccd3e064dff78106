package sqltext

import "testing"

func TestRedactSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                           "SELECT 1",
		"select 'identified' from t":         "select 'identified' from t",
		"CREATE USER u IDENTIFIED BY 's3cr'": "CREATE USER u IDENTIFIED BY '***'",
		"alter user 'u'@'%' identified via ed25519 using password('x1'), 'y'": "alter user 'u'@'%' identified via ed25519 using password('***'), '***'",
		"SET PASSWORD FOR `u`@`%` = PASSWORD(\"p w\")":                        "SET PASSWORD FOR `u`@`%` = PASSWORD('***')",
		"SELECT SLEEP(2), PASSWORD('topsecret') /* c */":                      "SELECT SLEEP(2), PASSWORD('***') /* c */",
		"CHANGE MASTER TO MASTER_USER='r', MASTER_PASSWORD='pw'":              "CHANGE MASTER TO MASTER_USER='r', MASTER_PASSWORD='***'",
		"SELECT AES_ENCRYPT(data, 'key') FROM t WHERE name = 'bob'":           "SELECT AES_ENCRYPT(data, '***') FROM t WHERE name = 'bob'",
	} {
		if got := RedactSecrets(in); got != want {
			t.Errorf("RedactSecrets(%q) = %q, want %q", in, got, want)
		}
	}
}
