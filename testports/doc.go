// Package testports hands tests TCP ports on 127.0.0.1 that are free and
// that no other caller in the same test binary was given.
//
// Asking the kernel for a free port (listen on port 0, close) leaves a
// window before the port's user binds it, in which the kernel may hand
// the same port to the next asker: two tablets started together then
// fight over one port ("address already in use"). Every helper of this
// repository that picks ports for servers (tablettest, etcdtest, the e2e
// cluster's processes) takes them from here, so that within one test
// binary a port is given out once.
package testports
