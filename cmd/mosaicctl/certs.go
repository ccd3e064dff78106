package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/mtls"
)

// newCertsCmd is `mosaicctl certs init|issue|show`: the cluster's CA and
// certificates (docs/security.md).
func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "make and inspect the cluster's CA and certificates (mutual TLS between components)"}
	o := mtls.DefaultDirOptions()
	var dir string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "create the cluster CA and a certificate per role (gate, tablet, operator, etcd) in --dir; existing valid ones are kept",
		Long: `init makes --dir a certificate directory: ca.pem and ca-key.pem (the cluster
CA, ECDSA P-256), then <role>.pem and <role>-key.pem for the roles gate,
tablet, operator and etcd, each valid for --hosts plus localhost, 127.0.0.1
and ::1, with its role as the URI SAN mosaic://role/<role>. A CA already
there is reused; a certificate is issued again when it is missing, not
signed by the CA, does not cover the hosts or expires within --renew-before.
Keys are written 0600. Give each host only the files of its role and
ca.pem; ca-key.pem belongs off the cluster's hosts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			written, err := mtls.InitDir(dir, o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(written) == 0 {
				fmt.Fprintf(out, "%s: every certificate is there and valid; nothing written\n", dir)
			}
			for _, f := range written {
				fmt.Fprintf(out, "wrote %s\n", f)
			}
			return nil
		},
	}
	fs := initCmd.Flags()
	fs.StringVar(&dir, "dir", "", "certificate directory (created 0700)")
	fs.StringSliceVar(&o.Hosts, "hosts", nil, "host names and IP addresses the certificates are valid for (comma-separated), besides localhost, 127.0.0.1 and ::1")
	fs.DurationVar(&o.CAValidity, "ca-validity", o.CAValidity, "validity of a new CA")
	fs.DurationVar(&o.Validity, "validity", o.Validity, "validity of a new certificate")
	fs.DurationVar(&o.RenewBefore, "renew-before", o.RenewBefore, "issue a certificate again when it expires within this long")
	initCmd.MarkFlagRequired("dir")

	var issueDir, role, name, certOut, keyOut string
	var issueHosts []string
	validity := o.Validity
	issue := &cobra.Command{
		Use:   "issue",
		Short: "issue one more certificate from the CA in --dir (a host's own tablet certificate, or a replacement when rotating)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := mtls.ParseRole(role)
			if err != nil {
				return err
			}
			ca, err := mtls.LoadCA(filepath.Join(issueDir, mtls.CAFile), filepath.Join(issueDir, mtls.CAKeyFile))
			if err != nil {
				return err
			}
			certPEM, keyPEM, err := ca.Issue(mtls.Request{Role: r, Name: name, Hosts: issueHosts, Validity: validity})
			if err != nil {
				return err
			}
			if certOut == "" {
				certOut = string(r) + ".pem"
			}
			if keyOut == "" {
				keyOut = strings.TrimSuffix(certOut, ".pem") + "-key.pem"
			}
			// The key first: a component reloading in between sees a
			// certificate that does not match and keeps its old pair.
			if err := mtls.WriteFileAtomic(keyOut, keyPEM, 0o600); err != nil {
				return err
			}
			if err := mtls.WriteFileAtomic(certOut, certPEM, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", certOut, keyOut)
			return nil
		},
	}
	fs = issue.Flags()
	fs.StringVar(&issueDir, "dir", "", "certificate directory holding ca.pem and ca-key.pem")
	fs.StringVar(&role, "role", "", "role: gate, tablet, operator or etcd")
	fs.StringVar(&name, "name", "", "common name (default mosaic-<role>)")
	fs.StringSliceVar(&issueHosts, "hosts", nil, "host names and IP addresses the certificate is valid for, besides localhost, 127.0.0.1 and ::1")
	fs.DurationVar(&validity, "validity", validity, "validity")
	fs.StringVar(&certOut, "cert", "", "certificate file to write (default <role>.pem); replaced atomically")
	fs.StringVar(&keyOut, "key", "", "key file to write (default: the certificate's name with -key.pem)")
	issue.MarkFlagRequired("dir")
	issue.MarkFlagRequired("role")

	show := &cobra.Command{
		Use:   "show FILE...",
		Short: "print the role, names, issuer and validity of PEM certificates",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			for _, path := range args {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				n := 0
				for {
					var b *pem.Block
					b, data = pem.Decode(data)
					if b == nil {
						break
					}
					if b.Type != "CERTIFICATE" {
						continue
					}
					c, err := x509.ParseCertificate(b.Bytes)
					if err != nil {
						return fmt.Errorf("%s: %w", path, err)
					}
					n++
					fmt.Fprintln(out, describeCert(path, c))
				}
				if n == 0 {
					return errors.New(path + ": no PEM certificate")
				}
			}
			return nil
		},
	}
	cmd.AddCommand(initCmd, issue, show)
	return cmd
}

// describeCert is one line about a certificate: nothing in it is secret.
func describeCert(path string, c *x509.Certificate) string {
	role := "none"
	switch r, err := mtls.RoleOf(c); {
	case err == nil:
		role = r.String()
	case c.IsCA:
		role = "CA"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	left := time.Until(c.NotAfter).Round(time.Hour)
	return fmt.Sprintf("%s: role %s, name %q, hosts %s, issuer %q, serial %s, valid %s to %s (%v left)",
		path, role, c.Subject.CommonName, strings.Join(names, ","), c.Issuer.CommonName, c.SerialNumber.Text(16),
		c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), left)
}
