package proxy

import (
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
)

// writeRows writes rows as they came from the tablet, or in the binary
// protocol while a prepared statement's result is being written.
func (cc *clientConn) writeRows(fields []*querypb.Field, rows [][]byte) error {
	if !cc.binaryRows {
		return cc.pw.WriteRows(rows)
	}
	for _, r := range rows {
		b, err := mysqlsrv.AppendBinaryRow(cc.pw.Buf[:0], fields, r)
		if err != nil {
			return err
		}
		cc.pw.Buf = b
		if err := cc.pw.WritePacket(b); err != nil {
			return err
		}
	}
	return nil
}
