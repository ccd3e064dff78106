package loaddata

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// rows reads every row of data as strings, NULL as "<NULL>".
func rows(t *testing.T, data string, f Format, ignore uint64) [][]string {
	t.Helper()
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	// A reader that hands out one byte at a time exercises every
	// take-back path.
	r := NewReader(&oneByte{s: data}, f)
	if err := r.SkipLines(ignore); err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for {
		fs, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var row []string
		for _, x := range fs {
			if x.Null {
				row = append(row, "<NULL>")
			} else {
				row = append(row, string(x.Value))
			}
		}
		out = append(out, row)
	}
}

type oneByte struct{ s string }

func (o *oneByte) Read(p []byte) (int, error) {
	if o.s == "" {
		return 0, io.EOF
	}
	p[0] = o.s[0]
	o.s = o.s[1:]
	return 1, nil
}

func csv() Format {
	f := DefaultFormat()
	f.FieldTerm, f.Enclosed, f.HasEnclosed, f.LineTerm = ",", '"', true, "\r\n"
	return f
}

func TestReader(t *testing.T) {
	cases := []struct {
		name   string
		f      Format
		ignore uint64
		data   string
		want   [][]string
	}{
		{"default", DefaultFormat(), 0, "1\ta\n2\tb\n", [][]string{{"1", "a"}, {"2", "b"}}},
		{"no final newline", DefaultFormat(), 0, "1\ta\n2\tb", [][]string{{"1", "a"}, {"2", "b"}}},
		{"escapes", DefaultFormat(), 0, `1\ta\tb\nc\\d\0e\Zf\q` + "\n", [][]string{{"1\ta\tb\nc\\d\x00e\x1afq"}}},
		{"escaped terminators", DefaultFormat(), 0, "1\\\tx\\\ny\n", [][]string{{"1\tx\ny"}}},
		{"NULL", DefaultFormat(), 0, "\\N\tx\\N\tNULL\n", [][]string{{"<NULL>", "xN", "NULL"}}},
		{"empty lines", DefaultFormat(), 0, "1\n\n2\n", [][]string{{"1"}, {""}, {"2"}}},
		{"trailing field terminator", DefaultFormat(), 0, "1\t\n", [][]string{{"1", ""}}},
		{"ends after field terminator", DefaultFormat(), 0, "1\t", [][]string{{"1"}}},
		{"escape at EOF", DefaultFormat(), 0, "a\\", [][]string{{"a\\"}}},
		{"utf8", DefaultFormat(), 0, "1\tdéjà vu 日本\n", [][]string{{"1", "déjà vu 日本"}}},
		{"csv", csv(), 1, "id,name\r\n1,\"a,b\"\r\n2,\"say \"\"hi\"\"\"\r\n3,\"two\r\nlines\"\r\n4,NULL\r\n5,\"NULL\"\r\n6,plain\"q\r\n", [][]string{
			{"1", "a,b"}, {"2", `say "hi"`}, {"3", "two\r\nlines"}, {"4", "<NULL>"}, {"5", "NULL"}, {"6", `plain"q`}}},
		{"csv lone CR", csv(), 0, "1,a\rb\r\n", [][]string{{"1", "a\rb"}}},
		// As mysqld: inside an enclosure only an enclosure followed by a
		// terminator ends the field; at EOF the field keeps its opening quote.
		{"enclosure not closed before terminator", csv(), 0, "\"ab\"c,d\r\n", [][]string{{"\"ab\"c,d\r\n"}}},
		{"enclosure open at EOF", csv(), 0, "1,\"ab", [][]string{{"1", "\"ab"}}},
		{"escaped enclosure", csv(), 0, "\"a\\\"b\",c\r\n", [][]string{{"a\"b", "c"}}},
		{"multi-byte terminators", Format{FieldTerm: "||", LineTerm: "<>\n", Escape: '\\', HasEscape: true}, 0,
			"a|b||c<>d<>\ne||f<>\n", [][]string{{"a|b", "c<>d"}, {"e", "f"}}},
		{"lines starting by", Format{FieldTerm: ",", LineStart: "xxx", LineTerm: "\n", Escape: '\\', HasEscape: true}, 0,
			"xxx1,a\nskip me\nfooxxx2,b\nxx3\n", [][]string{{"1", "a"}, {"2", "b"}}},
		{"ignore lines", DefaultFormat(), 2, "h1\nh\\\n2\n1\ta\n", [][]string{{"1", "a"}}},
		{"ignore more lines than there are", DefaultFormat(), 5, "1\n2\n", nil},
		{"no escape", Format{FieldTerm: "\t", LineTerm: "\n"}, 0, "a\\tb\t\\N\n", [][]string{{"a\\tb", "\\N"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rows(t, c.data, c.f, c.ignore)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("rows of %q:\n got %q\nwant %q", c.data, got, c.want)
			}
		})
	}
}

// TestRoundTrip writes rows in the canonical format and reads them back.
func TestRoundTrip(t *testing.T) {
	in := [][]Field{
		{{Value: []byte("1")}, {Null: true}, {Value: []byte("a\tb\nc\\d\x00e\r")}},
		{{Value: []byte("N")}, {Value: []byte(`\N`)}, {Value: []byte("NULL")}},
		{{Value: []byte("")}},
		{{Value: []byte("日本")}, {Value: nil}},
	}
	var b []byte
	for _, r := range in {
		b = AppendRow(b, r)
	}
	got := rows(t, string(b), DefaultFormat(), 0)
	var want [][]string
	for _, r := range in {
		var row []string
		for _, f := range r {
			if f.Null {
				row = append(row, "<NULL>")
			} else {
				row = append(row, string(f.Value))
			}
		}
		want = append(want, row)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip of %q:\n got %q\nwant %q", b, got, want)
	}
}

func TestValidateAndCharsets(t *testing.T) {
	if err := (Format{LineTerm: "\n"}).Validate(); err == nil {
		t.Fatal("empty field terminator accepted")
	}
	if err := (Format{FieldTerm: ","}).Validate(); err == nil {
		t.Fatal("empty line terminator accepted")
	}
	for cs, want := range map[string]bool{"utf8mb4": true, "latin1": true, "": true, "SJIS": false, "utf16": false} {
		if got := ASCIISafeCharset(cs); got != want {
			t.Errorf("ASCIISafeCharset(%q) = %v", cs, got)
		}
	}
}

func BenchmarkReader(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "%d\tname %d with some text\t%d.5\n", i, i, i)
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(strings.NewReader(data), DefaultFormat())
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}
