// Package testports hands tests TCP ports on 127.0.0.1 that are free,
// below the kernel's ephemeral range, and given to no other caller: not
// in this test binary and not in any other process on the machine that
// takes its ports from here.
//
// Asking the kernel for a free port (listen on port 0, close) leaves a
// window before the port's user binds it, in which the kernel may hand
// the same port to the next asker: two tablets started together then
// fight over one port ("address already in use"). Such ports also come
// from the ephemeral range (32768 and up), where the kernel picks the
// local ports of outgoing connections, so a server's port can be taken
// by any client's socket in the meantime.
//
// Ports here come from [Low, High), below the ephemeral range and below
// every default port of a local cluster (gate 15000/15306, tablets
// 17100 to 19999). Each port handed out is held by an exclusive
// flock on a file in the system's temp dir for the life of the process,
// so `go test ./...`, which runs several test binaries at once, and two
// engineers' test runs on one machine never get the same port. The
// kernel drops the locks when the process exits, however it exits.
//
// Every helper of this repository that picks ports for servers
// (tablettest, etcdtest, the e2e cluster's processes) takes them from
// here.
package testports
