package sysconn

import (
	"os"
	"strings"
)

// HostID names the running kernel: Linux's boot_id, which changes at every
// boot and differs between machines (and VMs) but is shared by every
// container on one host. Two processes with the same HostID may reach each
// other through a unix-domain socket, if they can see the same file. It is
// "" when the system does not say.
func HostID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
