package proxy

import (
	"testing"

	"github.com/mosaicdb/mosaic/sqlerr"
)

func TestClientCollationSetting(t *testing.T) {
	for _, tc := range []struct {
		id   clientCollation
		want string // "" for no setting
	}{
		{45, ""},  // the tablets' own
		{255, ""}, // utf8mb4_0900_ai_ci: unknown to MariaDB 10.11, which keeps its default
		{0, ""},
		{8, "SET NAMES 'latin1' COLLATE 'latin1_swedish_ci'"},
		{48, "SET NAMES 'latin1' COLLATE 'latin1_general_ci'"},
		{58, "SET NAMES 'cp1257' COLLATE 'cp1257_bin'"},
		{63, "SET NAMES 'binary' COLLATE 'binary'"},
		{224, "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'"},
	} {
		st, ok, err := tc.id.setting()
		if err != nil || ok != (tc.want != "") || st.sql != tc.want || (ok && st.name != "names") {
			t.Errorf("collation %d: %+v %v %v, want %q", tc.id, st, ok, err, tc.want)
		}
	}
	// ucs2_general_ci: no client may use it; mysqld refuses it with 1231.
	if _, _, err := clientCollation(35).setting(); sqlerr.FromError(err).Num != sqlerr.ERWrongValueForVar {
		t.Errorf("ucs2: %v, want 1231", err)
	}
}
