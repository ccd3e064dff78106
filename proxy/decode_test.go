package proxy

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// executePacket builds COM_STMT_EXECUTE's body: header, NULL bitmap,
// bound flag, then rest.
func executePacket(id uint32, nullmap []byte, bound byte, rest ...byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, id)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = append(b, nullmap...)
	b = append(b, bound)
	return append(b, rest...)
}

func errNum(err error) uint16 {
	if err == nil {
		return 0
	}
	return sqlerr.FromError(err).Num
}

// The errors for a bad COM_STMT_EXECUTE are those MariaDB 10.11 gives
// (probed on mariadbd: 1835 for what it cannot frame, 1210 for parameters
// it cannot read). Where mysqld reads a malformed length-encoded string as
// some value, the gate refuses the statement with 1210 instead.
func TestBindArgsMalformed(t *testing.T) {
	str := mysql.MYSQL_TYPE_VAR_STRING
	cases := []struct {
		name string
		data []byte
		want uint16
	}{
		{"header cut", []byte{1, 0, 0, 0, 0, 1}, sqlerr.ERMallformedPacket},
		{"no NULL bitmap", executePacket(1, nil, 0)[:9], sqlerr.ERWrongArguments},
		{"no bound flag", executePacket(1, []byte{0}, 0)[:10], sqlerr.ERWrongArguments},
		{"types cut", executePacket(1, []byte{0}, 1, str), sqlerr.ERMallformedPacket},
		{"bound flag 2", executePacket(1, []byte{0}, 2, str, 0, 1, 'a'), sqlerr.ERMallformedPacket},
		{"no types ever", executePacket(1, []byte{0}, 0, 1, 'a'), sqlerr.ERWrongArguments},
		{"unknown type", executePacket(1, []byte{0}, 1, 0x99, 0, 1, 'a'), sqlerr.ERWrongArguments},
		{"string fe ff*8", executePacket(1, []byte{0}, 1, str, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), sqlerr.ERWrongArguments},
		{"string lone fe", executePacket(1, []byte{0}, 1, str, 0, 0xfe), sqlerr.ERWrongArguments},
		{"string fc 01", executePacket(1, []byte{0}, 1, str, 0, 0xfc, 0x01), sqlerr.ERWrongArguments},
		{"string fd 01", executePacket(1, []byte{0}, 1, str, 0, 0xfd, 0x01), sqlerr.ERWrongArguments},
		{"string longer than packet", executePacket(1, []byte{0}, 1, str, 0, 5, 'a', 'b'), sqlerr.ERWrongArguments},
		{"string NULL length", executePacket(1, []byte{0}, 1, str, 0, 0xfb), sqlerr.ERWrongArguments},
		{"string 0xff length", executePacket(1, []byte{0}, 1, str, 0, 0xff), sqlerr.ERWrongArguments},
		{"no value", executePacket(1, []byte{0}, 1, str, 0), sqlerr.ERWrongArguments},
		{"bigint cut", executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_LONGLONG, 0, 1, 2), sqlerr.ERWrongArguments},
		{"datetime of 5 bytes", executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_DATETIME, 0, 5, 1, 2, 3, 4, 5), sqlerr.ERWrongArguments},
		{"datetime cut", executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_DATETIME, 0, 4, 1), sqlerr.ERWrongArguments},
		{"time of 3 bytes", executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_TIME, 0, 3, 1, 2, 3), sqlerr.ERWrongArguments},
		{"time cut", executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_TIME, 0, 8, 1, 2, 3), sqlerr.ERWrongArguments},
		{"decimal of text", executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_NEWDECIMAL, 0, 3, 'a', 'b', 'c'), sqlerr.ERWrongArguments},
	}
	for _, c := range cases {
		st := &preparedStmt{id: 1, numParams: 1}
		args, err := st.bindArgs(c.data)
		if got := errNum(err); got != c.want {
			t.Errorf("%s: got %v (%v), want error %d", c.name, args, err, c.want)
		}
	}
	// Well-formed, for contrast: a NULL, a string, and the previous
	// execution's types.
	st := &preparedStmt{id: 1, numParams: 2}
	args, err := st.bindArgs(executePacket(1, []byte{0b01}, 1, str, 0, str, 0, 2, 'h', 'i'))
	if err != nil || args[0] != nil || args[1] != "hi" {
		t.Fatalf("got %#v, %v", args, err)
	}
	args, err = st.bindArgs(executePacket(1, []byte{0}, 0, 1, 'a', 0))
	if err != nil || args[0] != "a" || args[1] != "" {
		t.Fatalf("types of the previous execution: got %#v, %v", args, err)
	}
}

func responsePacket(caps uint32, rest ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

func TestHandshakeResponseMalformed(t *testing.T) {
	base := mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_CONNECT_WITH_DB
	lenenc := base | mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
	attrs := base | mysql.CLIENT_CONNECT_ATTRS
	pair := mysqlsrv.AppendLenEncString(mysqlsrv.AppendLenEncString(nil, "_os"), "Linux")
	goodAttrs := append(mysqlsrv.AppendLenEncInt(nil, uint64(len(pair))), pair...)
	good := responsePacket(attrs, []byte("app\x00"), []byte{0}, []byte("ks\x00"), []byte("mysql_native_password\x00"), goodAttrs)
	r, _, err := parseHandshakeResponse(good)
	if err != nil || r.user != "app" || r.db != "ks" || r.plugin != authNative {
		t.Fatalf("well-formed response with attributes: %+v, %v", r, err)
	}
	bad := map[string][]byte{
		"short":                  make([]byte, 20),
		"user without NUL":       responsePacket(base, []byte("app")),
		"auth data past the end": responsePacket(base, []byte("app\x00"), []byte{20, 1, 2}),
		"lenenc auth fe ff*8":    responsePacket(lenenc, []byte("app\x00"), []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		"lenenc auth lone fe":    responsePacket(lenenc, []byte("app\x00"), []byte{0xfe}),
		"lenenc auth fc 01":      responsePacket(lenenc, []byte("app\x00"), []byte{0xfc, 0x01}),
		"db without NUL":         responsePacket(base, []byte("app\x00"), []byte{0}, []byte("ks")),
		"attributes past end":    responsePacket(attrs, []byte("app\x00"), []byte{0}, []byte("ks\x00"), []byte("mysql_native_password\x00"), []byte{0xfc, 0xff, 0xff, 1}),
		"attributes fe ff*8":     responsePacket(attrs, []byte("app\x00"), []byte{0}, []byte("ks\x00"), []byte("mysql_native_password\x00"), []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		"attribute key cut":      responsePacket(attrs, []byte("app\x00"), []byte{0}, []byte("ks\x00"), []byte("mysql_native_password\x00"), []byte{2, 9, 'k'}),
	}
	for name, b := range bad {
		if r, _, err := parseHandshakeResponse(b); errNum(err) != sqlerr.ERHandshakeError {
			t.Errorf("%s: got %+v, %v; want 1043", name, r, err)
		}
	}
}

func TestParseChangeUser(t *testing.T) {
	caps := mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_CONNECT_ATTRS
	pair := mysqlsrv.AppendLenEncString(mysqlsrv.AppendLenEncString(nil, "_os"), "Linux")
	attrs := append(mysqlsrv.AppendLenEncInt(nil, uint64(len(pair))), pair...)
	good := append([]byte("bob\x00\x03abc"+"ks\x00"+"\x2d\x00"+"caching_sha2_password\x00"), attrs...)
	r, err := parseChangeUser(good, caps)
	if err != nil || string(r.user) != "bob" || !bytes.Equal(r.authData, []byte("abc")) || string(r.db) != "ks" || r.plugin != authCachingSha2 {
		t.Fatalf("got %+v, %v", r, err)
	}
	// A client of old that sends no character set or plugin.
	if r, err := parseChangeUser([]byte("bob\x00\x00\x00"), caps); err != nil || r.plugin != authNative {
		t.Fatalf("minimal packet: %+v, %v", r, err)
	}
	bad := map[string][]byte{
		"empty":                  nil,
		"user without NUL":       []byte("bob"),
		"auth data past the end": []byte("bob\x00\x14ab"),
		"no database":            []byte("bob\x00\x00"),
		"db without NUL":         []byte("bob\x00\x00ks"),
		"attributes fe ff*8":     append([]byte("bob\x00\x00\x00\x2d\x00mysql_native_password\x00"), 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"attributes lone fe":     append([]byte("bob\x00\x00\x00\x2d\x00mysql_native_password\x00"), 0xfe),
		"attributes fc 01":       append([]byte("bob\x00\x00\x00\x2d\x00mysql_native_password\x00"), 0xfc, 0x01),
	}
	for name, b := range bad {
		if r, err := parseChangeUser(b, caps); errNum(err) != sqlerr.ERUnknownCom {
			t.Errorf("%s: got %+v, %v; want 1047", name, r, err)
		}
	}
}
