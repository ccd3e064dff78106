package sqltypes

import "testing"

// TestFormatDouble checks doubles shown as MariaDB 10.11 shows them
// (SELECT x + 0e0).
func TestFormatDouble(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{1e15, "1e15"},
		{1.5e15, "1.5e15"},
		{-3042510980324848.5, "-3042510980324848.5"},
		{1234567890123456.8, "1234567890123456.8"},
		{2251799813685248.5, "2251799813685248.5"},
		{5e15, "5e15"},
		{1.2345678901234568e16, "1.2345678901234568e16"},
		{1.2345678901234568e17, "1.2345678901234568e17"},
		{3.5e14, "350000000000000"},
		{1e-5, "0.00001"},
		{1.234e-15, "0.000000000000001234"},
		{1.5e-16, "1.5e-16"},
		{1.2e30, "1.2e30"},
	} {
		if got := string(FormatDouble(tc.f)); got != tc.want {
			t.Errorf("%v: gate %s, MariaDB %s", tc.f, got, tc.want)
		}
	}
}
