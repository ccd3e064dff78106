package pitr

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/mosaicdb/mosaic/tablet/backupstore"
)

// Target is the moment to restore to: the last transaction committed
// before Time (binlog timestamps are whole seconds: a transaction of the
// same second as Time is left out), or up to and including the GTID
// sequence number Seq (domain 0), or, with Latest, the last transaction
// the archive holds. Exactly one is set.
type Target struct {
	Time   time.Time
	Seq    uint64
	Latest bool
}

func (t Target) String() string {
	if t.Latest {
		return "the end of the archive"
	}
	if t.Seq > 0 {
		return fmt.Sprintf("transaction %d", t.Seq)
	}
	return t.Time.UTC().Format(time.RFC3339)
}

// includes says whether a transaction belongs before the target.
func (t Target) includes(seq uint64, ts time.Time) bool {
	if t.Latest {
		return true
	}
	if t.Seq > 0 {
		return seq <= t.Seq
	}
	return ts.Before(t.Time)
}

// Plan is what a restore reads: a backup and the segments after it.
type Plan struct {
	Backup   backupstore.Manifest
	Segments []backupstore.Segment
}

// MakePlan chooses the newest backup of the shard that ends before the
// target and the archived segments that carry it there. It refuses when
// the archive has a gap after the backup, or holds no transaction at or
// after the target (it could not show that nothing was written between
// its end and the target).
func MakePlan(ctx context.Context, s backupstore.Store, keyspace, shard string, to Target) (Plan, error) {
	set := 0
	for _, ok := range []bool{to.Seq > 0, !to.Time.IsZero(), to.Latest} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return Plan{}, errors.New("pitr: give a time, a GTID or the latest to restore to")
	}
	all, err := backupstore.ListBackups(ctx, s, keyspace, shard)
	if err != nil {
		return Plan{}, err
	}
	var p Plan
	var bseq uint64
	found := false
	for _, m := range all {
		seq, err := backupstore.SeqOf(m.Position)
		if err != nil {
			return Plan{}, err
		}
		if to.Latest || (to.Seq > 0 && seq <= to.Seq) || (!to.Time.IsZero() && m.End.Before(to.Time)) {
			p.Backup, bseq, found = m, seq, true
		}
	}
	if !found {
		return Plan{}, fmt.Errorf("%w of %s/%s before %s in %s", backupstore.ErrNoBackup, keyspace, shard, to, s)
	}
	segs, err := backupstore.ListSegments(ctx, s, keyspace, shard)
	if err != nil {
		return Plan{}, err
	}
	line, err := backupstore.Timeline(segs)
	if err != nil {
		return Plan{}, err
	}
	chain, err := backupstore.Chain(line, bseq, to.Seq)
	if err != nil {
		return Plan{}, fmt.Errorf("pitr: from backup %s (transaction %d) to %s: %w", p.Backup.ID, bseq, to, err)
	}
	if !to.Time.IsZero() {
		// Up to the first segment that starts at or after the target; the
		// archive must reach it.
		reached := false
		for _, g := range chain {
			if !g.LastTime.Before(to.Time) {
				reached = true
			}
			if !g.FirstTime.Before(to.Time.Add(time.Second)) {
				break
			}
			p.Segments = append(p.Segments, g)
		}
		if !reached {
			end := "nothing after the backup"
			if len(chain) > 0 {
				end = chain[len(chain)-1].LastTime.Format(time.RFC3339)
			}
			return Plan{}, fmt.Errorf("pitr: %w: the archive of %s/%s ends at %s, before %s, so it cannot show that nothing was written in between", backupstore.ErrArchiveGap, keyspace, shard, end, to)
		}
	} else {
		p.Segments = chain
	}
	for i, g := range p.Segments {
		full, err := backupstore.ReadSegment(ctx, s, g)
		if err != nil {
			return Plan{}, err
		}
		p.Segments[i] = full
	}
	return p, nil
}

// WriteBinlog writes one binlog file holding the transactions of the
// segments after sequence number from and before the target, in order:
// what mariadb-binlog replays. It returns the last transaction written
// (0: none).
func WriteBinlog(ctx context.Context, s backupstore.Store, key *backupstore.Key, segs []backupstore.Segment, from uint64, to Target, w io.Writer) (last uint64, lastGTID string, err error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write([]byte{0xfe, 'b', 'i', 'n'}); err != nil {
		return 0, "", err
	}
	wroteFDE := false
	done := false
	for _, g := range segs {
		if done {
			break
		}
		rc, err := backupstore.OpenSealed(ctx, s, g.DataName(), g.Data, key)
		if err != nil {
			return 0, "", err
		}
		magic := make([]byte, 4)
		if _, err := io.ReadFull(rc, magic); err != nil || !bytes.Equal(magic, []byte{0xfe, 'b', 'i', 'n'}) {
			rc.Close()
			return 0, "", fmt.Errorf("pitr: segment %s is not a binlog file (%v)", g.DataName(), err)
		}
		var keep bool
		var tx bytes.Buffer
		p := replication.NewBinlogParser()
		perr := p.ParseReader(rc, func(ev *replication.BinlogEvent) error {
			if done {
				return nil
			}
			switch ev.Header.EventType {
			case replication.FORMAT_DESCRIPTION_EVENT:
				if !wroteFDE {
					wroteFDE = true
					_, err := bw.Write(ev.RawData)
					return err
				}
				return nil
			case replication.MARIADB_GTID_EVENT:
				if len(ev.RawData) < replication.EventHeaderSize+12 {
					return errors.New("pitr: short GTID event")
				}
				seq := binary.LittleEndian.Uint64(ev.RawData[replication.EventHeaderSize:])
				ts := time.Unix(int64(ev.Header.Timestamp), 0)
				if seq > from && !to.includes(seq, ts) {
					done = true
					return nil
				}
				keep = seq > from
				if keep {
					last = seq
					lastGTID = fmt.Sprintf("0-%d-%d", ev.Header.ServerID, seq)
				}
				tx.Reset()
			}
			if keep {
				tx.Write(ev.RawData)
				if endsTransaction(ev) {
					if _, err := bw.Write(tx.Bytes()); err != nil {
						return err
					}
					tx.Reset()
				}
			}
			return nil
		})
		rc.Close()
		if perr != nil {
			return 0, "", fmt.Errorf("pitr: read segment %s: %w", g.DataName(), perr)
		}
	}
	if !wroteFDE {
		return 0, "", nil
	}
	return last, lastGTID, bw.Flush()
}

// endsTransaction says whether ev ends its transaction (as the archiver
// cut them).
func endsTransaction(ev *replication.BinlogEvent) bool {
	switch e := ev.Event.(type) {
	case *replication.XIDEvent:
		return true
	case *replication.QueryEvent:
		q := strings.ToUpper(strings.TrimSpace(string(e.Query)))
		switch {
		case q == "BEGIN", strings.HasPrefix(q, "SAVEPOINT"), strings.HasPrefix(q, "XA START"), strings.HasPrefix(q, "XA BEGIN"), strings.HasPrefix(q, "XA END"):
			return false
		}
		return true
	}
	return ev.Header.EventType == replication.XA_PREPARE_LOG_EVENT
}

// Result says what a restore did.
type Result struct {
	Backup backupstore.Manifest
	// Segments replayed, and the last transaction applied (the backup's
	// own position when nothing was replayed).
	Segments int
	Position string
	Bytes    int64
}

// Restore builds a MariaDB data dir at dir (which must not exist) holding
// the shard as it was at the target: the plan's backup, extracted and
// prepared, then the archived transactions replayed into a mariadbd
// started on it for the purpose (no networking, no grant checks) and
// stopped again. Run mariadbd on dir afterwards to read it.
func Restore(ctx context.Context, s backupstore.Store, key *backupstore.Key, keyspace, shard string, to Target, dir string, log *slog.Logger) (Result, error) {
	p, err := MakePlan(ctx, s, keyspace, shard, to)
	if err != nil {
		return Result{}, err
	}
	if _, err := os.Stat(dir); err == nil {
		return Result{}, fmt.Errorf("pitr: %s exists: give a new folder", dir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Result{}, err
	}
	res := Result{Backup: p.Backup, Position: p.Backup.Position}
	log.Info("restoring backup", "backup", p.Backup.ID, "position", p.Backup.Position, "dir", dir)
	rc, err := backupstore.OpenSealed(ctx, s, p.Backup.DataName(), p.Backup.Data, key)
	if err != nil {
		return res, err
	}
	x := exec.CommandContext(ctx, "mbstream", "-x", "-C", dir)
	x.Stdin = rc
	out, err := x.CombinedOutput()
	rc.Close()
	if err != nil {
		return res, fmt.Errorf("pitr: mbstream -x: %w: %s", err, tail(out))
	}
	res.Bytes = p.Backup.Data.RawBytes
	if out, err := exec.CommandContext(ctx, "mariadb-backup", "--prepare", "--target-dir="+dir, "--use-memory=256M").CombinedOutput(); err != nil {
		return res, fmt.Errorf("pitr: mariadb-backup --prepare: %w: %s", err, tail(out))
	}
	from, err := backupstore.SeqOf(p.Backup.Position)
	if err != nil {
		return res, err
	}
	work, err := os.MkdirTemp("", "mosaic-pitr-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	binlog := filepath.Join(work, "replay.binlog")
	f, err := os.Create(binlog)
	if err != nil {
		return res, err
	}
	last, lastGTID, err := WriteBinlog(ctx, s, key, p.Segments, from, to, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	res.Segments = len(p.Segments)
	if last == 0 {
		log.Info("nothing to replay after the backup")
		return res, nil
	}
	log.Info("replaying archived binlog", "segments", len(p.Segments), "to", lastGTID)
	if err := replay(ctx, dir, work, binlog); err != nil {
		return res, err
	}
	res.Position = lastGTID
	return res, nil
}

// server is a mariadbd started on a restored data dir, for the restore's
// own use: no networking, no grant checks.
type server struct {
	sock, work string
	exited     chan error
	proc       *exec.Cmd
	stopped    bool
}

func startServer(ctx context.Context, dir, work string) (*server, error) {
	s := &server{sock: filepath.Join(work, "s"), work: work, exited: make(chan error, 1)}
	args := []string{"--no-defaults", "--datadir=" + dir, "--socket=" + s.sock, "--pid-file=" + filepath.Join(work, "pid"),
		"--skip-networking", "--skip-grant-tables", "--innodb-buffer-pool-size=128M", "--log-error=" + filepath.Join(work, "err.log")}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	s.proc = exec.Command("mariadbd", args...)
	if err := s.proc.Start(); err != nil {
		return nil, fmt.Errorf("pitr: start mariadbd: %w", err)
	}
	go func() { s.exited <- s.proc.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := s.client(ctx, "-e", "SELECT 1").Run(); err == nil {
			return s, nil
		}
		select {
		case err := <-s.exited:
			s.stopped = true
			log, _ := os.ReadFile(filepath.Join(work, "err.log"))
			return nil, fmt.Errorf("pitr: mariadbd exited at start (%v): %s", err, tail(log))
		case <-ctx.Done():
			s.kill()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, errors.New("pitr: mariadbd did not answer within 2 minutes")
		}
	}
}

func (s *server) client(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "mariadb", append([]string{"--no-defaults", "--socket=" + s.sock, "-uroot"}, args...)...)
}

func (s *server) kill() {
	if !s.stopped {
		s.proc.Process.Kill()
		<-s.exited
		s.stopped = true
	}
}

// stop shuts the server down cleanly.
func (s *server) stop(ctx context.Context) error {
	if out, err := s.client(ctx, "-e", "SHUTDOWN").CombinedOutput(); err != nil {
		s.kill()
		return fmt.Errorf("pitr: shut mariadbd down: %w: %s", err, tail(out))
	}
	select {
	case <-s.exited:
		s.stopped = true
		return nil
	case <-time.After(2 * time.Minute):
		s.kill()
		return errors.New("pitr: mariadbd did not stop within 2 minutes")
	}
}

// replay starts mariadbd on dir, pipes mariadb-binlog of file into it and
// stops it.
func replay(ctx context.Context, dir, work, file string) error {
	srv, err := startServer(ctx, dir, work)
	if err != nil {
		return err
	}
	defer srv.kill()
	dec := exec.CommandContext(ctx, "mariadb-binlog", file)
	apply := srv.client(ctx)
	pipe, err := dec.StdoutPipe()
	if err != nil {
		return err
	}
	var decErr, applyOut bytes.Buffer
	dec.Stderr = &decErr
	apply.Stdin, apply.Stdout, apply.Stderr = pipe, &applyOut, &applyOut
	if err := dec.Start(); err != nil {
		return err
	}
	aerr := apply.Run()
	derr := dec.Wait()
	if aerr != nil {
		return fmt.Errorf("pitr: replay: %w: %s", aerr, tail(applyOut.Bytes()))
	}
	if derr != nil {
		return fmt.Errorf("pitr: mariadb-binlog: %w: %s", derr, tail(decErr.Bytes()))
	}
	return srv.stop(ctx)
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
