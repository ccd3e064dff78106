package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
)

// upSecurity is how the local cluster's processes prove who they are:
// certificates under <data-dir>/certs, made at the first start and
// reused (renewed near their end) at the next ones, or nothing with
// --insecure.
type upSecurity struct {
	// certDir holds the certificates; "" when insecure.
	certDir string
	// operator is `mosaic up`'s own certificate (it initializes shards);
	// nil when insecure.
	operator *mtls.Source
	// gateTLS is the certificate and key the gate shows MySQL clients
	// that ask for TLS, signed by the cluster CA; none when insecure.
	gateTLS mtls.Files
}

// gateServerCert names the gate's client-facing certificate in the
// certificate directory (gate-mysql.pem, gate-mysql-key.pem).
const gateServerCert = "gate-mysql"

// newUpSecurity makes or reuses the certificates of the cluster in
// dataDir, unless insecure.
func newUpSecurity(dataDir string, insecure bool, log *slog.Logger) (upSecurity, error) {
	if insecure {
		log.Warn("the cluster runs without TLS (--insecure): any local process may read and change the topology and run any tablet RPC, as mysqld's root included")
		return upSecurity{}, nil
	}
	dir := filepath.Join(dataDir, "certs")
	written, err := mtls.InitDir(dir, mtls.DefaultDirOptions())
	if err != nil {
		return upSecurity{}, fmt.Errorf("cluster certificates in %s: %w", dir, err)
	}
	if len(written) > 0 {
		log.Info("cluster certificates written", "dir", dir, "files", len(written))
	}
	// MySQL clients may ask for TLS (tls=true, --ssl) and verify the gate
	// with the cluster's ca.pem; the certificate is renewed in its last
	// 30 days by the next start, and the gate reads it again when it
	// changes.
	gateTLS, written, err := mtls.InitServerCert(dir, gateServerCert, mtls.DefaultDirOptions())
	if err != nil {
		return upSecurity{}, fmt.Errorf("the gate's TLS certificate in %s: %w", dir, err)
	}
	if len(written) > 0 {
		log.Info("gate TLS certificate written", "cert", gateTLS.Cert)
	}
	op, err := mtls.Load(mtls.DirFiles(dir, mtls.RoleOperator), log)
	if err != nil {
		return upSecurity{}, err
	}
	return upSecurity{certDir: dir, operator: op, gateTLS: gateTLS}, nil
}

// connectTLSHint is what the banner adds to its connect line for TLS.
func (s upSecurity) connectTLSHint() string {
	if s.gateTLS.Cert == "" {
		return ""
	}
	return "\n             (TLS: --ssl-ca " + s.gateTLS.CA + " --ssl-verify-server-cert)"
}

// gateFlags give the gate its client-facing certificate.
func (s upSecurity) gateFlags() []string {
	if s.gateTLS.Cert == "" {
		return nil
	}
	return []string{"--tls-cert", s.gateTLS.Cert, "--tls-key", s.gateTLS.Key}
}

// childFlags are the flags that give a child process its certificates.
func (s upSecurity) childFlags() []string {
	if s.certDir == "" {
		return []string{"--insecure"}
	}
	return []string{"--cert-dir", s.certDir}
}

// etcdTLS is the embedded etcd's TLS (nil: plaintext).
func (s upSecurity) etcdTLS() *etcdstore.EmbeddedTLS {
	if s.certDir == "" {
		return nil
	}
	f := mtls.DirFiles(s.certDir, mtls.RoleEtcd)
	return &etcdstore.EmbeddedTLS{CA: f.CA, Cert: f.Cert, Key: f.Key}
}

// tabletCreds are the credentials `mosaic up` calls tablets with.
func (s upSecurity) tabletCreds() credentials.TransportCredentials {
	if s.operator == nil {
		return tmclient.Insecure()
	}
	return s.operator.ClientCredentials(mtls.RoleTablet)
}

// ctlFlags is what mosaicctl needs, for the start-up banner.
func (s upSecurity) ctlFlags() string {
	if s.certDir == "" {
		return "--insecure"
	}
	return "--cert-dir " + s.certDir
}

// notifyHUP catches SIGHUP from now on (instead of dying of it); stop
// ends that.
func notifyHUP() (hup <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

// forwardHUP passes each SIGHUP of hup on to the children, which reload
// their certificates from disk, until ctx ends.
func forwardHUP(ctx context.Context, hup <-chan os.Signal, children func() []*child, log *slog.Logger) {
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: the children reload their certificates")
			for _, c := range children() {
				c.signal(syscall.SIGHUP)
			}
		case <-ctx.Done():
			return
		}
	}
}
