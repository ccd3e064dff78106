package mysqlctl

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// waitDelay bounds how long a helper command's Wait may take after its
// context ended and it was killed: a child it started (mariadb-install-db
// runs mariadbd --bootstrap) may hold its output pipes open.
const waitDelay = 5 * time.Second

// command is exec.CommandContext for the MariaDB helper programs
// (mariadb-install-db, mariadb-backup, mbstream): it runs in a process
// group of its own, the end of ctx kills the whole group, and Wait gives
// up on its output pipes waitDelay later.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	return cmd
}
