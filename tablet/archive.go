package tablet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
)

// Binlog archiving (BackupConfig.ArchiveBinlogs). While this tablet is the
// primary, archiveLoop reads its own mysqld's binlog as a replica would
// (a binlog dump from the archive's end), cuts it into segments at
// transaction boundaries every ArchiveRotate or ArchiveMaxBytes, and
// stores each (tablet/backupstore/binlogs.go). A segment is a binlog file
// mariadb-binlog reads: the magic, the server's format description
// event, then whole transactions. A new primary continues from the last
// archived GTID, which its binlog holds (replicas log what they apply),
// so the archive has no gap and no duplicate across a failover.

// binlogMagic starts every binlog file.
var binlogMagic = []byte{0xfe, 'b', 'i', 'n'}

// archiveLoop runs the archiver while this tablet is primary.
func (a *Agent) archiveLoop(ctx context.Context) {
	cfg := a.cfg.Backup
	if cfg.Storage == "" || !cfg.ArchiveBinlogs {
		return
	}
	pause := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		a.mu.Lock()
		primary, term := a.tabletType == topodatapb.TabletType_PRIMARY, a.termStart
		a.mu.Unlock()
		if !primary {
			a.backups.setArchiveLag(0)
			pause = time.Second
			continue
		}
		err := a.archiveTerm(ctx, term)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.log.Warn("binlog archive: stopped; retrying", "err", err)
			pause = 5 * time.Second
		}
	}
}

// archiveTerm archives the binlog until this tablet stops being the
// primary of term, or an error.
func (a *Agent) archiveTerm(ctx context.Context, term int64) error {
	store, err := a.backups.open(ctx)
	if err != nil {
		return err
	}
	start, err := a.archiveStart(ctx, store)
	if err != nil {
		return err
	}
	gset, err := gomysql.ParseMariadbGTIDSet(start)
	if err != nil {
		return fmt.Errorf("archive start %q: %w", start, err)
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		// Beside the tablets' server ids (their uids), not among them.
		ServerID:        uint32(a.alias.GetUid()) | 1<<30,
		Flavor:          "mariadb",
		Host:            "127.0.0.1",
		Port:            uint16(a.mysqld.Port()),
		User:            a.mysqld.ReplicationUser(),
		Password:        a.mysqld.ReplicationPassword().Reveal(),
		HeartbeatPeriod: time.Second,
		ReadTimeout:     10 * time.Second,
		Logger:          slog.New(slog.DiscardHandler),
		// A failed connection is this loop's to retry, from the archive.
		MaxReconnectAttempts: 1,
		DisableRetrySync:     true,
	})
	defer syncer.Close()
	streamer, err := syncer.StartSyncGTID(gset)
	if err != nil {
		return fmt.Errorf("binlog dump from %s: %w", start, err)
	}
	w := &segmentWriter{a: a, store: store, term: term, prev: start}
	if seq, err := backupstore.SeqOf(start); err == nil && seq > 0 {
		w.expect = seq + 1
	}
	for {
		a.mu.Lock()
		still := a.tabletType == topodatapb.TabletType_PRIMARY && a.termStart == term
		a.mu.Unlock()
		if !still {
			// What is complete is archived; the rest is the next
			// primary's to archive from the same point.
			return w.flush(ctx)
		}
		deadline := time.Now().Add(time.Second)
		if rot := w.opened.Add(a.cfg.Backup.ArchiveRotate); w.txs > 0 && rot.Before(deadline) {
			deadline = rot
		}
		ectx, cancel := context.WithDeadline(ctx, deadline)
		ev, err := streamer.GetEvent(ectx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if w.txs > 0 && !time.Now().Before(w.opened.Add(a.cfg.Backup.ArchiveRotate)) && !w.inTx {
				if err := w.flush(ctx); err != nil {
					return err
				}
			}
			w.updateLag()
			continue
		}
		if err != nil {
			// Keep what is complete, also when the tablet is stopping.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			ferr := w.flush(fctx)
			cancel()
			if ferr != nil {
				a.log.Warn("binlog archive: flush", "err", ferr)
			}
			return err
		}
		if err := w.add(ctx, ev); err != nil {
			return err
		}
	}
}

// archiveStart is where the archive ends (the End of its last segment),
// or, for an empty archive, the beginning of this server's binlog (the
// empty position: all that its binlog files hold).
func (a *Agent) archiveStart(ctx context.Context, store backupstore.Store) (string, error) {
	segs, err := backupstore.ListSegments(ctx, store, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil {
		return "", err
	}
	line, err := backupstore.Timeline(segs)
	if err != nil {
		return "", err
	}
	if len(line) > 0 {
		last, err := backupstore.ReadSegment(ctx, store, line[len(line)-1])
		if err != nil {
			return "", err
		}
		return last.End, nil
	}
	return "", nil
}

// segmentWriter gathers one segment's events.
type segmentWriter struct {
	a     *Agent
	store backupstore.Store
	term  int64
	// fde is the server's format description event, which starts every
	// segment.
	fde []byte
	buf bytes.Buffer
	// prev is the position before the segment.
	prev string
	// The segment so far: complete transactions only.
	txs                 int
	first, last         uint64
	lastGTID            string
	firstTime, lastTime time.Time
	opened              time.Time
	// expect is the sequence number the next transaction must have (0:
	// any, at the beginning of the binlog).
	expect uint64
	// The transaction being read: its events wait in tx until it ends.
	inTx   bool
	tx     bytes.Buffer
	txSeq  uint64
	txGTID string
	txTime time.Time
}

func (w *segmentWriter) add(ctx context.Context, ev *replication.BinlogEvent) error {
	switch e := ev.Event.(type) {
	case *replication.FormatDescriptionEvent:
		w.fde = bytes.Clone(ev.RawData)
		return nil
	case *replication.RotateEvent, *replication.MariadbGTIDListEvent, *replication.MariadbBinlogCheckPointEvent,
		*replication.GenericEvent:
		if _, ok := e.(*replication.GenericEvent); ok && w.inTx {
			break // an event of a transaction that go-mysql does not decode
		}
		return nil
	case *replication.MariadbGTIDEvent:
		// The GTID from the event's own bytes: go-mysql's syncer keeps a
		// pointer to e.GTID in its GTID set and moves it on with later
		// events, so e.GTID may already name a later transaction.
		seq, domain, ok := gtidOf(ev)
		if !ok {
			return errors.New("binlog archive: a GTID event too short to read")
		}
		gtid := fmt.Sprintf("%d-%d-%d", domain, ev.Header.ServerID, seq)
		if w.inTx {
			return fmt.Errorf("binlog archive: transaction %s began inside %s", gtid, w.txGTID)
		}
		if domain != 0 {
			return fmt.Errorf("binlog archive: GTID %s is not of domain 0", gtid)
		}
		if w.expect != 0 && seq != w.expect {
			return fmt.Errorf("binlog archive: transaction %s follows %d: the binlog is not contiguous", gtid, w.expect-1)
		}
		w.inTx, w.txSeq, w.txGTID = true, seq, gtid
		w.txTime = time.Unix(int64(ev.Header.Timestamp), 0).UTC()
		w.tx.Reset()
		w.tx.Write(ev.RawData)
		return nil
	}
	if !w.inTx {
		return nil
	}
	w.tx.Write(ev.RawData)
	if !endsTransaction(ev) {
		return nil
	}
	// A whole transaction: into the segment.
	if w.txs == 0 {
		w.first, w.firstTime, w.opened = w.txSeq, w.txTime, time.Now()
		w.buf.Reset()
	}
	w.buf.Write(w.tx.Bytes())
	w.txs++
	w.last, w.lastGTID, w.lastTime = w.txSeq, w.txGTID, w.txTime
	w.inTx = false
	w.expect = w.last + 1
	w.updateLag()
	if int64(w.buf.Len()) >= w.a.cfg.Backup.ArchiveMaxBytes || time.Since(w.opened) >= w.a.cfg.Backup.ArchiveRotate {
		return w.flush(ctx)
	}
	return nil
}

// gtidOf reads a MariaDB GTID event's sequence number and domain.
func gtidOf(ev *replication.BinlogEvent) (seq uint64, domain uint32, ok bool) {
	const header = replication.EventHeaderSize
	if len(ev.RawData) < header+12 {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(ev.RawData[header:]), binary.LittleEndian.Uint32(ev.RawData[header+8:]), true
}

// endsTransaction says whether ev is the last event of its transaction.
func endsTransaction(ev *replication.BinlogEvent) bool {
	switch e := ev.Event.(type) {
	case *replication.XIDEvent:
		return true
	case *replication.QueryEvent:
		q := strings.ToUpper(strings.TrimSpace(string(e.Query)))
		// A transaction ends with COMMIT or XA's end; a DDL or other
		// standalone statement is its own transaction.
		// A transaction ends with COMMIT or ROLLBACK; an XA transaction's
		// prepare ends with its XA_PREPARE event (below), its second phase
		// is XA COMMIT or XA ROLLBACK alone; a DDL or other standalone
		// statement is its own transaction.
		switch {
		case q == "BEGIN", strings.HasPrefix(q, "SAVEPOINT"), strings.HasPrefix(q, "XA START"), strings.HasPrefix(q, "XA BEGIN"), strings.HasPrefix(q, "XA END"):
			return false
		}
		return true
	}
	return ev.Header.EventType == replication.XA_PREPARE_LOG_EVENT
}

func (w *segmentWriter) updateLag() {
	if w.txs == 0 && !w.inTx {
		w.a.backups.setArchiveLag(0)
		return
	}
	oldest := w.opened
	if w.txs == 0 {
		oldest = time.Now()
	}
	w.a.backups.setArchiveLag(time.Since(oldest).Seconds())
}

// flush stores the segment gathered so far, if any.
func (w *segmentWriter) flush(ctx context.Context) error {
	if w.txs == 0 {
		return nil
	}
	if w.fde == nil {
		return errors.New("binlog archive: no format description event before the first transaction")
	}
	g := backupstore.Segment{
		Keyspace: w.a.cfg.Keyspace, Shard: w.a.cfg.Shard, Tablet: w.a.cfg.Alias, Term: w.term,
		First: w.first, Last: w.last, Prev: w.prev, End: w.lastGTID,
		FirstTime: w.firstTime, LastTime: w.lastTime, Transactions: w.txs,
	}
	sw, err := w.a.backups.codec.Create(ctx, w.store, g.DataName())
	if err != nil {
		return err
	}
	for _, part := range [][]byte{binlogMagic, w.fde, w.buf.Bytes()} {
		if _, err := sw.Write(part); err != nil {
			sw.Abort(err)
			return err
		}
	}
	if g.Data, err = sw.Close(); err != nil {
		return err
	}
	if err := backupstore.PutSegment(ctx, w.store, g); err != nil {
		return err
	}
	w.a.backups.uploaded.WithLabelValues("binlog").Add(float64(g.Data.StoredBytes))
	w.prev = w.lastGTID
	w.txs = 0
	w.buf.Reset()
	w.updateLag()
	return nil
}

// SegmentReader opens an archived segment's binlog (for restores and
// tests).
func SegmentReader(ctx context.Context, store backupstore.Store, g backupstore.Segment, key *backupstore.Key) (io.ReadCloser, error) {
	full, err := backupstore.ReadSegment(ctx, store, g)
	if err != nil {
		return nil, err
	}
	return backupstore.OpenSealed(ctx, store, full.DataName(), full.Data, key)
}
