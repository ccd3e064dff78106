package mysqlctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Physical copies: mariadb-backup streams the running server's files as an
// xbstream archive (BACKUP STAGE locks make it consistent with one binlog
// position, recorded in the archive's xtrabackup_binlog_info); a receiver
// extracts it with mbstream, applies the copied redo log with
// mariadb-backup --prepare and swaps it in as its data dir.

// binlogInfoFiles are the names mariadb-backup gives the file that holds
// the copy's binlog position: 10.x writes the first, 11.x the second.
var binlogInfoFiles = []string{"xtrabackup_binlog_info", "mariadb_backup_binlog_info"}

// Backup writes an xbstream archive of the running server's data to w and
// returns where the copy stands in this server's binlog. It blocks until
// the copy is done, fails or ctx ends.
func (m *Mysqld) Backup(ctx context.Context, w io.Writer) (BinlogInfo, error) {
	bin, err := resolveBinary(m.cfg.BackupPath)
	if err != nil {
		return BinlogInfo{}, err
	}
	// In the tablet's own dir, not mariadbd's tmp dir: mariadb-backup
	// runs as the tablet's user and must not write where mariadbd's user
	// could have put links.
	work, err := os.MkdirTemp(m.cfg.Dir, "backup-")
	if err != nil {
		return BinlogInfo{}, err
	}
	defer os.RemoveAll(work)
	// The server's config and the Backup account's password, in a file
	// only the tablet's user reads (never on a command line).
	cnf := filepath.Join(work, "backup.cnf")
	creds := fmt.Sprintf("\n[mariadb-backup]\nuser=%s\npassword=%s\n", m.cfg.Accounts.Backup, m.local.backup.Reveal())
	if err := os.WriteFile(cnf, []byte(m.cfg.myCnf(m.runAs.cnfUser())+creds), 0o600); err != nil {
		return BinlogInfo{}, err
	}
	extra := filepath.Join(work, "info")
	cmd := command(ctx, bin,
		"--defaults-file="+cnf,
		"--backup",
		"--stream=xbstream",
		"--socket="+m.cfg.socketPath(),
		"--target-dir="+work,
		// A copy of xtrabackup_info, with the binlog position, lands here
		// too: the archive itself goes to w.
		"--extra-lsndir="+extra,
		"--parallel=2",
	)
	var stderr tailBuffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return BinlogInfo{}, ctx.Err()
		}
		return BinlogInfo{}, fmt.Errorf("mariadb-backup --backup: %w: %s", err, lastLines(stderr.String(), 5))
	}
	return readBackupInfo(filepath.Join(extra, "xtrabackup_info"))
}

// backupInfoPos matches the binlog_pos line of xtrabackup_info.
var backupInfoPos = regexp.MustCompile(`binlog_pos = filename '([^']*)', position '(\d+)'(?:, GTID of the last change '([^']*)')?`)

// readBackupInfo reads the binlog position from an xtrabackup_info file.
func readBackupInfo(path string) (BinlogInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return BinlogInfo{}, fmt.Errorf("backup info: %w", err)
	}
	mm := backupInfoPos.FindStringSubmatch(string(data))
	if mm == nil {
		return BinlogInfo{}, fmt.Errorf("backup info %s has no binlog position", path)
	}
	off, _ := strconv.ParseInt(mm[2], 10, 64)
	return BinlogInfo{File: mm[1], Offset: off, GTID: mm[3]}, nil
}

// BinlogInfo is where in its source's binlog a physical copy stands: the
// binlog file and offset of SHOW MASTER STATUS, read while commits were
// blocked (consistent with the data), and the GTID position mariadb-backup
// wrote beside them. That GTID position is the source's gtid_current_pos,
// which on a former primary can lag its data: prefer the position of the
// file and offset in the source's binlog (flavor PositionAt) when the
// source can be asked.
type BinlogInfo struct {
	File   string
	Offset int64
	GTID   string
}

// Restore replaces the data dir with the xbstream archive read from r and
// returns where the copy stands in its source's binlog. mysqld must be
// held (Hold). The archive is extracted and prepared beside the data dir,
// which is swapped only once that succeeded.
func (m *Mysqld) Restore(ctx context.Context, r io.Reader) (BinlogInfo, error) {
	if st, _ := m.State(); st == Running || st == Starting {
		return BinlogInfo{}, errors.New("mysqlctl: restore needs mysqld held")
	}
	mbstream, err := resolveBinary(m.cfg.MbstreamPath)
	if err != nil {
		return BinlogInfo{}, err
	}
	backup, err := resolveBinary(m.cfg.BackupPath)
	if err != nil {
		return BinlogInfo{}, err
	}
	staging := m.cfg.dataDir() + ".restore"
	if err := os.RemoveAll(staging); err != nil {
		return BinlogInfo{}, err
	}
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return BinlogInfo{}, err
	}
	defer os.RemoveAll(staging)
	extract := command(ctx, mbstream, "-x", "-C", staging)
	var stderr tailBuffer
	extract.Stdin, extract.Stderr = r, &stderr
	if err := extract.Run(); err != nil {
		if ctx.Err() != nil {
			return BinlogInfo{}, ctx.Err()
		}
		return BinlogInfo{}, fmt.Errorf("mbstream -x: %w: %s", err, lastLines(stderr.String(), 5))
	}
	info, err := readBinlogInfo(staging)
	if err != nil {
		return BinlogInfo{}, err
	}
	prepare := command(ctx, backup, "--prepare", "--target-dir="+staging, "--use-memory=256M")
	stderr.Reset()
	prepare.Stdout, prepare.Stderr = &stderr, &stderr
	if err := prepare.Run(); err != nil {
		if ctx.Err() != nil {
			return BinlogInfo{}, ctx.Err()
		}
		return BinlogInfo{}, fmt.Errorf("mariadb-backup --prepare: %w: %s", err, lastLines(stderr.String(), 5))
	}
	if err := m.runAs.chownTree(staging); err != nil {
		return BinlogInfo{}, err
	}
	old := m.cfg.dataDir() + ".old"
	if err := os.RemoveAll(old); err != nil {
		return BinlogInfo{}, err
	}
	if err := os.Rename(m.cfg.dataDir(), old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return BinlogInfo{}, fmt.Errorf("move the old data dir aside: %w", err)
	}
	if err := os.Rename(staging, m.cfg.dataDir()); err != nil {
		return BinlogInfo{}, fmt.Errorf("swap in the restored data dir: %w", err)
	}
	m.mu.Lock()
	m.restored = true
	m.mu.Unlock()
	if err := os.RemoveAll(old); err != nil {
		m.log.Warn("cannot remove the old data dir", "dir", old, "err", err)
	}
	return info, nil
}

// readBinlogInfo reads a copy's binlog info file ("file\toffset\tgtid").
func readBinlogInfo(dir string) (BinlogInfo, error) {
	for _, name := range binlogInfoFiles {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return BinlogInfo{}, err
		}
		fields := strings.Fields(string(data))
		if len(fields) < 2 {
			return BinlogInfo{}, fmt.Errorf("bad %s: %q", name, data)
		}
		off, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return BinlogInfo{}, fmt.Errorf("bad %s: %q", name, data)
		}
		info := BinlogInfo{File: fields[0], Offset: off}
		if len(fields) >= 3 {
			info.GTID = fields[2]
		}
		return info, nil
	}
	return BinlogInfo{}, fmt.Errorf("the copy has no binlog position (%s)", strings.Join(binlogInfoFiles, ", "))
}

// tailBuffer keeps the last 64 KiB written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.buf.Len() > 64<<10 {
		keep := b.buf.Bytes()[b.buf.Len()-32<<10:]
		b.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *tailBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// DataSize estimates how much a physical copy of the data dir holds: its
// files but the binlogs and relay logs, which a copy leaves out.
func (m *Mysqld) DataSize() int64 {
	var total int64
	filepath.WalkDir(m.cfg.dataDir(), func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, "mysql-bin.") || strings.HasPrefix(name, "relay-bin.") {
			return nil
		}
		if info, err := d.Info(); err == nil {
			total += info.Size()
		}
		return nil
	})
	return total
}
