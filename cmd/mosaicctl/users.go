package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/mosaicdb/mosaic/proxy"
)

// newUsersCmd is `mosaicctl users`: helpers for the gate's users file.
func newUsersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "helpers for the gate's users file",
	}
	var plugin string
	hashCmd := &cobra.Command{
		Use:   "hash",
		Short: "print the password_hash of a password read from stdin",
		Long: `hash reads a password from standard input (without echo on a terminal; the
first line, without its newline, from a pipe) and prints the password_hash line
of a users file for it, so that the file holds no password in clear:

  mosaicctl users hash                      # mysql_native_password: *<40 hex digits>
  mosaicctl users hash --plugin caching_sha2_password

The password never appears on the command line, where other users of the host
could read it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			h, err := proxy.PasswordHash(pw, plugin)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password_hash: %q\n", h)
			return nil
		},
	}
	hashCmd.Flags().StringVar(&plugin, "plugin", "mysql_native_password", "mysql_native_password or caching_sha2_password")
	cmd.AddCommand(hashCmd)
	return cmd
}

// readPassword reads one line from in; on a terminal it asks for it on
// prompt with echo off.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok {
		if old, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			fmt.Fprint(prompt, "password: ")
			quiet := *old
			quiet.Lflag &^= unix.ECHO
			if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, &quiet); err != nil {
				return "", err
			}
			defer func() {
				_ = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, old)
				fmt.Fprintln(prompt)
			}()
		}
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read the password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}
