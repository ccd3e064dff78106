package mysqlctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// runAs is the system user mariadbd runs as: Config.SystemUser when the
// tablet runs as root (mariadbd must not), else the tablet's own user.
type runAs struct {
	name     string
	uid, gid int
	groups   []int // every group of the user, for the traversal check
	// other is set when it is not the tablet's user: the tablet then
	// gives mariadbd's dirs to it and writes my.cnf's user= line.
	other bool
}

// resolveRunAs finds who mariadbd runs as.
func resolveRunAs(systemUser string) (runAs, error) {
	if os.Geteuid() != 0 {
		return runAs{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup(systemUser)
	if err != nil {
		return runAs{}, fmt.Errorf("mysqlctl: mariadbd runs as system user %q when the tablet runs as root, and that user does not exist (the mariadb-server package makes `mysql`; or choose another with --mysqld-user): %w", systemUser, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return runAs{}, fmt.Errorf("mysqlctl: system user %q has uid %q and gid %q", systemUser, u.Uid, u.Gid)
	}
	if uid == 0 {
		return runAs{}, fmt.Errorf("mysqlctl: system user %q is root; mariadbd must run as an unprivileged user", systemUser)
	}
	r := runAs{name: systemUser, uid: uid, gid: gid, groups: []int{gid}, other: true}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.Atoi(s); err == nil && !slices.Contains(r.groups, g) {
				r.groups = append(r.groups, g)
			}
		}
	}
	return r, nil
}

// cnfUser is the user= line's value of my.cnf ("" for none).
func (r runAs) cnfUser() string {
	if r.other {
		return r.name
	}
	return ""
}

// mkdirOwned makes dir (mode perm) and gives it to mariadbd's user.
func (r runAs) mkdirOwned(dir string, perm fs.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	return r.chown(dir)
}

// chown gives path (not what a link names) to mariadbd's user.
func (r runAs) chown(path string) error {
	if !r.other {
		return nil
	}
	if err := os.Lchown(path, r.uid, r.gid); err != nil {
		return fmt.Errorf("give %s to %s: %w", path, r.name, err)
	}
	return nil
}

// chownTree gives root and everything under it to mariadbd's user. Links
// are changed themselves, never followed.
func (r runAs) chownTree(root string) error {
	if !r.other {
		return nil
	}
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return r.chown(p)
	})
}

// letThrough lets mariadbd's user into dir, which the tablet's user owns:
// the dir's group becomes the user's group, with search permission, so
// that it reaches its own dirs inside (and reads my.cnf) and nobody else
// gains anything.
func (r runAs) letThrough(dir string) error {
	if !r.other {
		return nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if err := os.Chown(dir, -1, r.gid); err != nil {
		return fmt.Errorf("let %s into %s: %w", r.name, dir, err)
	}
	return os.Chmod(dir, st.Mode().Perm()|0o010)
}

// CheckReachable reports, before any tablet starts, whether mariadbd,
// running as systemUser when this process is root (as itself otherwise),
// can pass through every directory above dir: a local cluster checks its
// data dir with it, to fail with advice rather than in each tablet's log.
func CheckReachable(systemUser, dir string) error {
	ra, err := resolveRunAs(systemUser)
	if err != nil {
		return err
	}
	return ra.checkTraversable(dir)
}

// errNotTraversable is wrapped by the error of checkTraversable.
var errNotTraversable = errors.New("not traversable")

// checkTraversable makes sure mariadbd's user may pass through every
// ancestor of path: a tablet dir under a private dir (a test's temp dir,
// a home dir with mode 0700) would make mariadbd fail with a vague
// "permission denied" later.
func (r runAs) checkTraversable(path string) error {
	if !r.other {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if !r.mayTraverse(st) {
			return fmt.Errorf("mysqlctl: mariadbd runs as %s, which cannot reach %s: %s (mode %v) is %w for it; give it search permission (chmod o+x, or group %s) or put the tablet dir elsewhere",
				r.name, path, dir, st.Mode().Perm(), errNotTraversable, r.name)
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// mayTraverse says whether mariadbd's user may search a dir with st.
func (r runAs) mayTraverse(st fs.FileInfo) bool {
	perm := st.Mode().Perm()
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return perm&0o001 != 0
	}
	switch {
	case int(sys.Uid) == r.uid:
		return perm&0o100 != 0
	case slices.Contains(r.groups, int(sys.Gid)):
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}
