package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// The connection phase is ours rather than go-mysql's server.Conn: we
// announce the capabilities we implement (multi-statements, multi-results),
// check hashed passwords, and re-authenticate on COM_CHANGE_USER, none of
// which go-mysql's server allows. Packets are read by
// mysqlsrv.PacketConn, and the scrambles are the mysql package's.

// serverCapabilities are the capability flags the gate announces; CLIENT_SSL
// is added when TLS is configured. As a MariaDB server does, it leaves out
// bit 0 (CLIENT_LONG_PASSWORD to MySQL, which every 4.1 server has and no
// client checks; CLIENT_MYSQL to MariaDB, whose absence says the server is
// MariaDB and announces extended capabilities, serverExtCapabilities, in
// the greeting's four bytes after its filler). CLIENT_DEPRECATE_EOF and session
// tracking are not offered; compression (CLIENT_COMPRESS, zlib) is, and
// starts after the OK that ends the connection phase. CLIENT_FOUND_ROWS travels to the
// tablets in every statement's options (Session.SetClientFoundRows);
// CLIENT_IGNORE_SPACE adds IGNORE_SPACE to the session's sql_mode, as
// mysqld does (sqlmode.go).
const serverCapabilities = mysql.CLIENT_LONG_FLAG |
	mysql.CLIENT_CONNECT_WITH_DB | mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_TRANSACTIONS |
	mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_MULTI_RESULTS |
	mysql.CLIENT_PS_MULTI_RESULTS | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_CONNECT_ATTRS |
	mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | mysql.CLIENT_INTERACTIVE |
	mysql.CLIENT_LOCAL_FILES | mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_IGNORE_SPACE |
	mysql.CLIENT_COMPRESS

// clientMySQL is bit 0 of the capability flags under MariaDB's name: a
// client that sets it (every MySQL client, which means
// CLIENT_LONG_PASSWORD) is not a MariaDB client, and the four bytes where
// a MariaDB client puts its extended capabilities are filler.
const clientMySQL = mysql.CLIENT_LONG_PASSWORD

// MariaDB's extended capabilities: the high 32 bits of its 64-bit flags,
// sent in the greeting and the handshake response in place of four
// reserved bytes.
const (
	// extStmtBulkOperations is MARIADB_CLIENT_STMT_BULK_OPERATIONS:
	// COM_STMT_BULK_EXECUTE (bulk.go).
	extStmtBulkOperations uint32 = 1 << 2
	// extCacheMetadata is MARIADB_CLIENT_CACHE_METADATA: a prepared
	// statement's result set goes without the column definitions the
	// client holds (writeFields).
	extCacheMetadata uint32 = 1 << 4
	// extBulkUnitResults is MARIADB_CLIENT_BULK_UNIT_RESULTS (MariaDB
	// 11.5): not offered, as MariaDB 10.11 does not.
	extBulkUnitResults uint32 = 1 << 5
)

// serverExtCapabilities are the extended capabilities the gate announces.
// MariaDB 10.11 also announces MARIADB_CLIENT_PROGRESS (progress reports
// of ALTER TABLE and LOAD DATA) and MARIADB_CLIENT_EXTENDED_METADATA (a
// column's data type name, such as json or uuid), which the gate does not
// send.
const serverExtCapabilities = extStmtBulkOperations | extCacheMetadata

// collationUtf8mb4 is utf8mb4_general_ci, the tablets' server collation.
const collationUtf8mb4 = 45

// errHandshake is a malformed connection-phase packet.
var errHandshake = sqlerr.New(sqlerr.ERHandshakeError, "Bad handshake")

// handshakeResponse is what a client sent in its HandshakeResponse41.
type handshakeResponse struct {
	capability uint32
	// extCapability are a MariaDB client's extended capabilities, 0 for
	// a MySQL client.
	extCapability uint32
	charset       uint16
	user          string
	authData      []byte
	db            string
	plugin        string
}

// handshake runs the connection phase: greeting, optional TLS, response,
// authentication and the default database. On success the OK packet is
// written and flushed. A returned error has been sent to the client.
func (cc *clientConn) handshake(ctx context.Context) error {
	g := cc.g
	salt := newSalt()
	cc.salt = salt
	caps := serverCapabilities
	if g.tlsConfig != nil {
		caps |= mysql.CLIENT_SSL
	}
	if err := cc.writeGreeting(caps, salt); err != nil {
		return err
	}
	data, err := cc.readHandshakePacket()
	if err != nil {
		return err
	}
	resp, isSSL, err := parseHandshakeResponse(data)
	if err != nil {
		return cc.failHandshake(err)
	}
	if isSSL {
		if g.tlsConfig == nil {
			return cc.failHandshake(sqlerr.New(sqlerr.ERHandshakeError, "the gate does not offer TLS"))
		}
		tc := tls.Server(cc.pc.Conn, g.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		cc.pc.Conn = mysqlsrv.NewBufConn(tc)
		cc.tls = true
		if data, err = cc.readHandshakePacket(); err != nil {
			return err
		}
		if resp, isSSL, err = parseHandshakeResponse(data); err != nil || isSSL {
			return cc.failHandshake(errHandshake)
		}
	}
	if g.cfg.RequireSecureTransport && !cc.tls {
		return cc.failHandshake(sqlerr.New(sqlerr.ERSecureTransport,
			"Connections using insecure transport are prohibited while --require_secure_transport=ON."))
	}
	cc.capability = resp.capability & caps
	cc.extCapability = resp.extCapability & serverExtCapabilities
	// mysqld takes the client's collation before authenticating it.
	if _, _, err := clientCollation(resp.charset).setting(); err != nil {
		return cc.failHandshake(err)
	}
	cc.collation = clientCollation(resp.charset)
	acct, err := cc.authenticate(resp.user, resp.plugin, resp.authData, salt)
	if err != nil {
		return cc.failHandshake(err)
	}
	cc.acct = acct
	if resp.db != "" {
		if err := cc.checkUse(ctx, resp.db); err != nil {
			return cc.failHandshake(err)
		}
	}
	cc.s = cc.newSession(resp.db)
	if err := cc.pw.WriteOK(0, 0, cc.s.StatusFlags(), 0, ""); err != nil {
		return err
	}
	if err := cc.pw.Flush(); err != nil {
		return err
	}
	if cc.capability&mysql.CLIENT_COMPRESS != 0 {
		cc.pc.Conn = mysqlsrv.NewBufConn(mysqlsrv.NewCompressConn(cc.pc.Conn))
	}
	return nil
}

// readHandshakePacket reads a packet of the connection phase (or of a
// COM_CHANGE_USER's exchange), bounded by mysqlsrv.MaxHandshakePacket, into a
// buffer of its own: the command being answered may still point into the
// connection's.
func (cc *clientConn) readHandshakePacket() ([]byte, error) {
	buf := mysqlsrv.PacketBuffer{Max: mysqlsrv.MaxHandshakePacket}
	// In the connection phase the connect timeout's hard deadline holds
	// already; a COM_CHANGE_USER's exchange gets as long.
	data, err := cc.pc.ReadPacket(&buf, time.Now().Add(cc.g.cfg.ConnectTimeout))
	if err != nil {
		if errors.Is(err, mysqlsrv.ErrPacketTooLarge) {
			cc.failHandshake(errHandshake)
		}
		return nil, err
	}
	return data, nil
}

func (cc *clientConn) failHandshake(err error) error {
	cc.pw.WriteError(err)
	cc.pw.Flush()
	return err
}

// writeGreeting writes the initial handshake packet (protocol 10).
func (cc *clientConn) writeGreeting(caps uint32, salt []byte) error {
	b := make([]byte, 0, 128)
	b = append(b, 10)
	b = append(b, cc.g.cfg.ServerVersion...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, cc.connID)
	b = append(b, salt[:8]...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, collationUtf8mb4)
	b = binary.LittleEndian.AppendUint16(b, mysqlsrv.StatusAutocommit)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, byte(len(salt)+1))
	b = append(b, make([]byte, 6)...)
	// Where MySQL has four more bytes of filler: bit 0 being clear,
	// MariaDB's extended capabilities.
	b = binary.LittleEndian.AppendUint32(b, serverExtCapabilities)
	b = append(b, salt[8:]...)
	b = append(b, 0)
	b = append(b, cc.g.defaultPlugin()...)
	b = append(b, 0)
	if err := cc.pw.WritePacket(b); err != nil {
		return err
	}
	return cc.pw.Flush()
}

// parseHandshakeResponse parses a HandshakeResponse41; isSSL says the
// packet was an SSLRequest (the client wants TLS first).
func parseHandshakeResponse(data []byte) (r handshakeResponse, isSSL bool, err error) {
	if len(data) < 32 {
		return r, false, errHandshake
	}
	r.capability = binary.LittleEndian.Uint32(data)
	if r.capability&mysql.CLIENT_PROTOCOL_41 == 0 {
		return r, false, sqlerr.New(sqlerr.ERHandshakeError, "Bad handshake: clients older than protocol 4.1 are not supported")
	}
	r.charset = uint16(data[8])
	if r.capability&clientMySQL == 0 {
		// A MariaDB client: its extended capabilities end the 23
		// reserved bytes (and so the SSLRequest too).
		r.extCapability = binary.LittleEndian.Uint32(data[28:])
	}
	if len(data) == 32 && r.capability&mysql.CLIENT_SSL != 0 {
		return r, true, nil
	}
	p := data[32:]
	user, rest, ok := mysqlsrv.CutNul(p)
	if !ok {
		return r, false, errHandshake
	}
	r.user, p = string(user), rest
	switch {
	case r.capability&mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0:
		a, n, ok := mysqlsrv.ReadLenEncString(p)
		if !ok {
			return r, false, errHandshake
		}
		r.authData, p = a, p[n:]
	case r.capability&mysql.CLIENT_SECURE_CONNECTION != 0:
		if len(p) < 1 || len(p)-1 < int(p[0]) {
			return r, false, errHandshake
		}
		n := int(p[0])
		r.authData, p = p[1:1+n], p[1+n:]
	default:
		a, rest, ok := mysqlsrv.CutNul(p)
		if !ok {
			return r, false, errHandshake
		}
		r.authData, p = a, rest
	}
	if r.capability&mysql.CLIENT_CONNECT_WITH_DB != 0 && len(p) > 0 {
		db, rest, ok := mysqlsrv.CutNul(p)
		if !ok {
			return r, false, errHandshake
		}
		r.db, p = string(db), rest
	}
	r.plugin = authNative
	if r.capability&mysql.CLIENT_PLUGIN_AUTH != 0 && len(p) > 0 {
		name, rest, ok := mysqlsrv.CutNul(p)
		if !ok {
			// Some clients end the packet with the plugin name
			// unterminated (and no attributes after it).
			name, rest = p, nil
		}
		r.plugin, p = string(name), rest
	}
	// Connection attributes follow; the gate has no use for them, but
	// they must add up.
	if r.capability&mysql.CLIENT_CONNECT_ATTRS != 0 && len(p) > 0 && !mysqlsrv.CheckConnectAttrs(p) {
		return r, false, errHandshake
	}
	return r, false, nil
}

// errAccessDenied is MySQL's 1045 for user at the client's address.
func (cc *clientConn) errAccessDenied(user string, withPassword bool) error {
	using := "NO"
	if withPassword {
		using = "YES"
	}
	return sqlerr.New(sqlerr.ERAccessDenied, "Access denied for user '%s'@'%s' (using password: %s)", user, cc.remoteHost(), using)
}

func (cc *clientConn) remoteHost() string {
	host, _, err := net.SplitHostPort(cc.remote)
	if err != nil {
		return cc.remote
	}
	return host
}
