package sqltypes

import (
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

func TestGeneralCIOrder(t *testing.T) {
	c, err := NewComparator(&querypb.Field{Type: TypeVarString, Charset: 45})
	if err != nil {
		t.Fatal(err)
	}
	// Each string sorts before the next; accents and case do not count,
	// Hangul syllables keep their code point (they decompose into jamo,
	// which are not marks), trailing spaces do not count.
	ordered := []string{"a", "Äb", "émile", "Zoë", "中国", "日本", "대한민국"}
	for i := 0; i+1 < len(ordered); i++ {
		if c.Compare([]byte(ordered[i]), []byte(ordered[i+1])) >= 0 {
			t.Errorf("%q should sort before %q", ordered[i], ordered[i+1])
		}
	}
	for _, eq := range [][2]string{{"Émile", "emile"}, {"straße", "STRASE"}, {"abc ", "abc"}, {"smile😀", "smile😁"}} {
		if c.Compare([]byte(eq[0]), []byte(eq[1])) != 0 || string(c.Key([]byte(eq[0]))) != string(c.Key([]byte(eq[1]))) {
			t.Errorf("%q and %q should be equal", eq[0], eq[1])
		}
	}
}

func TestBinaryFlagMeansBin(t *testing.T) {
	// MariaDB sends the connection's collation (45) for a utf8mb4_bin
	// column, with the binary flag.
	c, err := NewComparator(&querypb.Field{Type: TypeVarString, Charset: 45, Flags: FlagBinary})
	if err != nil {
		t.Fatal(err)
	}
	if c.Compare([]byte("Alice"), []byte("alice")) >= 0 || c.Compare([]byte("b "), []byte("b")) != 0 {
		t.Fatal("binary-flagged text should compare as _bin (bytes, PAD SPACE)")
	}
}
