package mysqlctl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// readyMarker is written into a template data dir once it is complete.
const readyMarker = "mosaic-template-ready"

// resolveBinary finds a binary in PATH or /usr/sbin (not in every PATH).
func resolveBinary(name string) (string, error) {
	if filepath.IsAbs(name) {
		return name, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin", name)
}

// serverVersion returns `mariadbd --version`, which keys the template.
func serverVersion(ctx context.Context, mariadbd string) (string, error) {
	out, err := command(ctx, mariadbd, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", mariadbd, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// initDataDir makes sure the data dir holds an initialized server, from
// the template when one is configured.
func (m *Mysqld) initDataDir(ctx context.Context) error {
	dataDir := m.cfg.dataDir()
	if _, err := os.Stat(filepath.Join(dataDir, "mysql")); err == nil {
		return nil
	}
	// A half-made data dir from an interrupted init is useless.
	if err := os.RemoveAll(dataDir); err != nil {
		return err
	}
	m.mu.Lock()
	m.fresh = true
	m.mu.Unlock()
	if m.cfg.TemplateDir == "" {
		m.log.Info("initializing mysqld data dir", "dir", dataDir)
		return m.installDB(ctx, m.cfg.cnfPath())
	}
	tmpl, err := m.ensureTemplate(ctx)
	if err != nil {
		return err
	}
	m.log.Info("copying mysqld data dir from template", "dir", dataDir, "template", tmpl)
	tmp := dataDir + ".copying"
	_ = os.RemoveAll(tmp)
	if err := copyTree(tmpl, tmp); err != nil {
		return fmt.Errorf("copy template data dir: %w", err)
	}
	_ = os.Remove(filepath.Join(tmp, readyMarker))
	if err := m.runAs.chownTree(tmp); err != nil {
		return err
	}
	return os.Rename(tmp, dataDir)
}

// installDB runs mariadb-install-db with the given defaults file.
func (m *Mysqld) installDB(ctx context.Context, cnf string) error {
	installDB, err := resolveBinary(m.cfg.InstallDBPath)
	if err != nil {
		return err
	}
	// root@localhost and the account of the user who runs it (mysql@
	// when root runs it for mysql) authenticate by unix_socket: no
	// password exists to be known or guessed (lockDown makes sure of it
	// on older data dirs).
	args := []string{
		"--defaults-file=" + cnf,
		"--auth-root-authentication-method=socket",
		"--skip-test-db",
	}
	if u := m.runAs.cnfUser(); u != "" {
		args = append(args, "--user="+u)
	}
	cmd := command(ctx, installDB, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mariadb-install-db: %w: %s", err, lastLines(out.String(), 10))
	}
	return nil
}

// ensureTemplate returns the template data dir for this server version,
// making it once. Several processes (test packages run in parallel) may
// ask at once: a file lock makes one of them build it, and the finished
// dir appears by rename so nobody copies a half-made one.
func (m *Mysqld) ensureTemplate(ctx context.Context) (string, error) {
	// The accounts install-db makes depend on who runs it and for whom.
	sum := sha256.Sum256([]byte(m.version + "\x00" + m.cfg.InnoDBLogFileSize + "\x00auth=socket\x00" + m.dbaUser + "\x00" + m.runAs.cnfUser()))
	key := "mariadb-" + hex.EncodeToString(sum[:8])
	root := m.cfg.TemplateDir
	dir := filepath.Join(root, key)
	if _, err := os.Stat(filepath.Join(dir, readyMarker)); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(root, key+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, readyMarker)); err == nil {
		return dir, nil
	}
	m.log.Info("building mysqld template data dir", "dir", dir)
	work, err := os.MkdirTemp(root, key+".building-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	data := filepath.Join(work, "data")
	var cnf strings.Builder
	fmt.Fprintf(&cnf, "[mysqld]\ndatadir=%s\ninnodb_log_file_size=%s\n", data, m.cfg.InnoDBLogFileSize)
	if u := m.runAs.cnfUser(); u != "" {
		fmt.Fprintf(&cnf, "user=%s\n", u)
		// mariadb-install-db runs mariadbd as that user in work.
		if err := m.runAs.letThrough(work); err != nil {
			return "", err
		}
	}
	cnfPath := filepath.Join(work, "my.cnf")
	if err := os.WriteFile(cnfPath, []byte(cnf.String()), 0o644); err != nil {
		return "", err
	}
	if err := m.installDB(ctx, cnfPath); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(data, readyMarker), []byte(m.version+"\n"), 0o644); err != nil {
		return "", err
	}
	_ = os.RemoveAll(dir) // a stale, unfinished one
	if err := os.Rename(data, dir); err != nil {
		return "", fmt.Errorf("publish template data dir: %w", err)
	}
	return dir, nil
}

// flock takes an exclusive lock on f, polling so that ctx can end the wait.
func flock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// copyTree copies the regular files and dirs under src into dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		return copyFile(p, target, info.Mode().Perm())
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
