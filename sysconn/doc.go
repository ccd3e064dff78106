// Package sysconn makes a socket's reads and writes cheaper for the Go
// scheduler.
//
// A net.Conn read or write is a system call made with the scheduler told
// (entersyscall/exitsyscall), so that another thread may take over the
// processor if the call blocks. On sockets, which the net package puts in
// non-blocking mode, the call never blocks, but on a loopback connection
// it does the peer's receive work and wake-up and often lasts over 20 µs,
// the scheduler monitor's tick: the monitor then hands the processor to
// another thread (a futex wake-up and two context switches), and keeps
// waking every 20 µs itself. On this project's machine that bookkeeping
// cost the gate and the tablets about a fifth of their CPU.
//
// Wrap returns a net.Conn that reads and writes through syscall.RawConn
// with raw system calls: a call that would block returns EAGAIN and the
// goroutine waits in the network poller as usual, so deadlines, Close
// and the poller behave as with the plain connection.
//
// It must not wrap anything but sockets of the net package (a regular
// file's read may block for real); Wrap returns other connections as
// they are.
package sysconn
