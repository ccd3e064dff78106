package loaddata

// AppendRow appends a row in the canonical format (DefaultFormat: fields
// separated by a tab, lines ended by a newline, no enclosure, backslash
// escapes, \N for NULL) that mysqld reads back into the same fields.
func AppendRow(b []byte, fields []Field) []byte {
	for i, f := range fields {
		if i > 0 {
			b = append(b, '\t')
		}
		if f.Null {
			b = append(b, '\\', 'N')
			continue
		}
		for _, c := range f.Value {
			switch c {
			case '\\':
				b = append(b, '\\', '\\')
			case '\t':
				b = append(b, '\\', 't')
			case '\n':
				b = append(b, '\\', 'n')
			case 0:
				b = append(b, '\\', '0')
			default:
				b = append(b, c)
			}
		}
	}
	return append(b, '\n')
}
