package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/router/loaddata"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// loadChunk is how many bytes of a file the gate gathers for one shard
// before sending them on: what it buffers per shard.
const loadChunk = 256 << 10

// runLoadData carries out LOAD DATA LOCAL INFILE: it asks the client for
// the file and streams it to the shard (an unsharded keyspace, a pinned
// table), or reads it row by row and streams each shard its rows. The
// client's file is always read to its end before the answer, as mysqld
// does, so that the connection stays in step after an error.
func (cc *clientConn) runLoadData(ctx context.Context, ld *router.LoadData) error {
	if cc.capability&mysql.CLIENT_LOCAL_FILES == 0 {
		return sqlerr.New(sqlerr.ERNotAllowedCommand, "The used command is not allowed because the client has disabled the local infile capability")
	}
	if err := cc.pw.WritePacket(append([]byte{0xfb}, ld.Path...)); err != nil {
		return err
	}
	if err := cc.pw.Flush(); err != nil {
		return err
	}
	file := &clientFile{cc: cc}
	var res *querypb.QueryResult
	var err error
	if ld.Shard != "" {
		res, err = cc.loadToShard(ctx, ld.Keyspace.Name, ld.Shard, ld.Query, file)
	} else {
		res, err = cc.loadSharded(ctx, ld, file)
	}
	if derr := file.drain(); derr != nil {
		if errors.Is(derr, mysqlsrv.ErrPacketTooLarge) {
			cc.close()
			return sqlerr.New(sqlerr.ERNetPacketTooLarge, "Got a packet bigger than 'max_allowed_packet' bytes")
		}
		cc.close()
		return derr
	}
	if err != nil {
		return err
	}
	return cc.writeResult(res)
}

// clientFile reads the content packets of the client's file, up to the
// empty packet that ends it. Each packet is bounded by max_allowed_packet.
type clientFile struct {
	cc   *clientConn
	cur  []byte
	done bool
	err  error
}

// next returns the next content packet, valid until the following call;
// io.EOF after the last.
func (f *clientFile) next() ([]byte, error) {
	if f.done {
		return nil, io.EOF
	}
	if f.err != nil && !isRefusal(f.err) {
		return nil, f.err
	}
	// Each packet of the file must come within net_read_timeout, as
	// mysqld waits for them.
	var wait time.Time
	if t := f.cc.g.cfg.NetReadTimeout; t > 0 {
		wait = time.Now().Add(t)
	}
	b, err := f.cc.pc.ReadPacket(&f.cc.in, wait)
	if err != nil {
		if f.err == nil || !isRefusal(err) {
			f.err = err
		}
		return nil, err
	}
	if len(b) == 0 {
		f.done = true
		return nil, io.EOF
	}
	return b, nil
}

// Read implements io.Reader over the content packets.
func (f *clientFile) Read(p []byte) (int, error) {
	for len(f.cur) == 0 {
		b, err := f.next()
		if err != nil {
			return 0, err
		}
		f.cur = b
	}
	n := copy(p, f.cur)
	f.cur = f.cur[n:]
	return n, nil
}

// drain reads what is left of the file. Packets the memory budget
// refused were read and dropped: the file goes on after them.
func (f *clientFile) drain() error {
	f.cur = nil
	for {
		if _, err := f.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if !isRefusal(err) {
				return err
			}
		}
	}
}

// isRefusal says err is the memory budget's refusal of a packet, which
// was read and dropped whole: the connection is in step.
func isRefusal(err error) bool {
	var e *sqlerr.Error
	return errors.As(err, &e)
}

// shardLoad is one shard's LOAD DATA stream.
type shardLoad struct {
	stream interface {
		Send(*querypb.LoadDataRequest) error
		CloseAndRecv() (*querypb.LoadDataResponse, error)
	}
	tx  *shardTx
	buf []byte
	// failed is set once Send failed: the tablet ended the call, and
	// CloseAndRecv says why.
	failed bool
}

// openLoad starts a LoadData call on a shard: in the session's
// transaction there (beginning it if the shard is new to it), else on a
// serving tablet outside any transaction.
func (cc *clientConn) openLoad(ctx context.Context, keyspace, shard, sql string) (*shardLoad, error) {
	s := cc.s
	target := &querypb.Target{Keyspace: keyspace, Shard: shard, TabletType: s.TabletType}
	opts := s.Options()
	key := shardKey{keyspace, shard}
	var th *tabletgw.TabletHealth
	var tx *shardTx
	if s.InTransaction {
		if err := s.checkShards([]shardKey{key}); err != nil {
			return nil, err
		}
		if tx = s.getTx(key); tx == nil {
			bo, xa, err := s.beginOptionsFor(key)
			if err != nil {
				return nil, err
			}
			err = cc.g.gw.Call(ctx, target, func(h *tabletgw.TabletHealth) error {
				resp, err := h.Client.Begin(ctx, &querypb.BeginRequest{Target: target, Options: opts, BeginOptions: bo})
				if err != nil {
					return err
				}
				tx = &shardTx{key: key, target: target, tablet: h, txID: resp.TransactionId, xa: xa}
				s.addTx(tx)
				s.ran(tx)
				return nil
			})
			if err != nil {
				return nil, wrapShardErr(err)
			}
		}
		th, target = tx.tablet, tx.target
	} else {
		// The file cannot be sent twice: pick the tablet (waiting out a
		// failover like any primary request), then run there once.
		err := cc.g.gw.Call(ctx, target, func(h *tabletgw.TabletHealth) error { th = h; return nil })
		if err != nil {
			return nil, wrapShardErr(err)
		}
	}
	st, err := th.Client.LoadData(ctx)
	if err != nil {
		return nil, wrapShardErr(err)
	}
	first := &querypb.LoadDataRequest{Target: target, Sql: sql, Options: opts}
	if tx != nil {
		first.TransactionId = tx.txID
	}
	l := &shardLoad{stream: st, tx: tx}
	if err := st.Send(first); err != nil {
		l.failed = true
	}
	return l, nil
}

// send sends data to the shard; after a failure it drops it (finish
// returns the tablet's error).
func (l *shardLoad) send(data []byte) {
	if l.failed || len(data) == 0 {
		return
	}
	if err := l.stream.Send(&querypb.LoadDataRequest{Data: data}); err != nil {
		l.failed = true
	}
}

// finish ends the file and returns the shard's result.
func (cc *clientConn) finishLoad(l *shardLoad) (*querypb.QueryResult, error) {
	resp, err := l.stream.CloseAndRecv()
	if l.tx != nil {
		cc.s.ran(l.tx)
	}
	if err != nil {
		return nil, wrapShardErr(err)
	}
	res := resp.GetResult()
	if res == nil {
		res = &querypb.QueryResult{}
	}
	cc.s.addWarnings(res.WarningList)
	return res, nil
}

// loadToShard streams the whole file to one shard with sql.
func (cc *clientConn) loadToShard(ctx context.Context, keyspace, shard, sql string, file *clientFile) (*querypb.QueryResult, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l, err := cc.openLoad(lctx, keyspace, shard, sql)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, loadChunk)
	for !l.failed {
		n, rerr := io.ReadFull(file, buf)
		l.send(buf[:n])
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break
			}
			// The client went away or sent too much: cancel, so the
			// shard abandons the statement instead of loading part of it.
			cancel()
			return nil, rerr
		}
	}
	return cc.finishLoad(l)
}

// loadSharded reads the file row by row and streams each row to its
// shard in the canonical format. Outside a transaction each shard loads
// its rows on its own: one shard's failure at the end does not undo
// another's load.
func (cc *clientConn) loadSharded(ctx context.Context, ld *router.LoadData, file *clientFile) (*querypb.QueryResult, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := loaddata.NewReader(file, ld.Format)
	if err := r.SkipLines(ld.IgnoreLines); err != nil {
		return nil, err
	}
	loads := map[string]*shardLoad{}
	var order []string
	for {
		fields, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		shard, err := ld.ShardFor(fields, r.Line())
		if err != nil {
			return nil, err // cancel abandons every shard's statement
		}
		l := loads[shard]
		if l == nil {
			if l, err = cc.openLoad(lctx, ld.Keyspace.Name, shard, ld.Query); err != nil {
				return nil, err
			}
			loads[shard] = l
			order = append(order, shard)
		}
		l.buf = loaddata.AppendRow(l.buf, fields)
		if len(l.buf) >= loadChunk {
			l.send(l.buf)
			l.buf = l.buf[:0]
			if l.failed {
				// The shard refused: stop here; finishing says why.
				break
			}
		}
	}
	var sum loadInfo
	out := &querypb.QueryResult{}
	var firstErr error
	for _, shard := range order {
		l := loads[shard]
		l.send(l.buf)
		res, err := cc.finishLoad(l)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out.RowsAffected += res.RowsAffected
		out.Warnings += res.Warnings
		sum.add(res.Info)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	out.Info = sum.String()
	return out, nil
}

// loadInfo sums the info strings of the shards' OK packets.
type loadInfo struct{ records, deleted, skipped, warnings uint64 }

func (s *loadInfo) add(info string) {
	var r, d, k, w uint64
	if n, _ := fmt.Sscanf(info, "Records: %d  Deleted: %d  Skipped: %d  Warnings: %d", &r, &d, &k, &w); n == 4 {
		s.records += r
		s.deleted += d
		s.skipped += k
		s.warnings += w
	}
}

// String is mysqld's info text for LOAD DATA.
func (s loadInfo) String() string {
	return fmt.Sprintf("Records: %d  Deleted: %d  Skipped: %d  Warnings: %d", s.records, s.deleted, s.skipped, s.warnings)
}
