package clusterauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
)

// Environment variables the flags default from.
const (
	// EnvCertDir is the default of --cert-dir.
	EnvCertDir = "MOSAIC_CERT_DIR"
	// EnvTopoPassword is etcd's password when --topo-password-file is not
	// given (a password never goes on the command line, where any local
	// user can read it).
	EnvTopoPassword = "MOSAIC_TOPO_PASSWORD"
)

// Flags are the security flags of one binary.
type Flags struct {
	role mtls.Role

	certDir           string
	ca, cert, key     string
	insecure          bool
	topoCA            string
	topoCert, topoKey string
	topoUser          string
	topoPasswordFile  string
	reloadInterval    time.Duration
}

// Add defines the flags on fs for a binary whose certificate has role r.
func Add(fs *pflag.FlagSet, r mtls.Role) *Flags {
	f := &Flags{role: r}
	fs.StringVar(&f.certDir, "cert-dir", os.Getenv(EnvCertDir), fmt.Sprintf("directory of the cluster's certificates (mosaicctl certs init): ca.pem, %[1]s.pem and %[1]s-key.pem are used; env %s", r, EnvCertDir))
	fs.StringVar(&f.ca, "cluster-ca", "", "PEM bundle of the cluster CA(s) peers must chain to (default <cert-dir>/ca.pem)")
	fs.StringVar(&f.cert, "cluster-cert", "", fmt.Sprintf("PEM certificate of role %[1]s (default <cert-dir>/%[1]s.pem)", r))
	fs.StringVar(&f.key, "cluster-key", "", fmt.Sprintf("PEM private key of the certificate (default <cert-dir>/%s-key.pem)", r))
	fs.BoolVar(&f.insecure, "insecure", false, "no TLS and no authentication between components: anyone who reaches a port may do anything (tests, a throwaway local cluster)")
	fs.StringVar(&f.topoCA, "topo-ca", "", "PEM bundle that verifies etcd's certificate (default: the cluster CA; with --insecure and none, etcd is reached in plaintext)")
	fs.StringVar(&f.topoCert, "topo-cert", "", "PEM client certificate for etcd (default: the cluster certificate when --topo-ca is not given)")
	fs.StringVar(&f.topoKey, "topo-key", "", "PEM key of --topo-cert")
	fs.StringVar(&f.topoUser, "topo-user", "", "etcd user (etcd RBAC); its password comes from --topo-password-file or "+EnvTopoPassword)
	fs.StringVar(&f.topoPasswordFile, "topo-password-file", "", "file holding the etcd user's password")
	fs.DurationVar(&f.reloadInterval, "cert-reload-interval", 10*time.Second, "how often certificate files are checked for a change (SIGHUP reloads at once)")
	return f
}

// Setup is what the flags resolve to.
type Setup struct {
	// Cluster is the binary's certificate and the cluster CA bundle; nil
	// when insecure.
	Cluster *mtls.Source
	// Topo verifies etcd and, with a certificate, authenticates to it;
	// nil: plaintext etcd.
	Topo *mtls.Source
	// TopoUser and TopoPassword authenticate to etcd's RBAC.
	TopoUser, TopoPassword string
	// Insecure is --insecure.
	Insecure bool

	reloadInterval time.Duration
}

// Load resolves the flags: it reads the certificates and the etcd
// password and checks that the certificate has the binary's role. It
// starts nothing.
func (f *Flags) Load(log *slog.Logger) (*Setup, error) {
	s := &Setup{Insecure: f.insecure, reloadInterval: f.reloadInterval}
	if f.reloadInterval <= 0 {
		return nil, fmt.Errorf("--cert-reload-interval %v must be positive", f.reloadInterval)
	}
	files := mtls.Files{CA: f.ca, Cert: f.cert, Key: f.key}
	if f.certDir != "" {
		d := mtls.DirFiles(f.certDir, f.role)
		files.CA = orDefault(files.CA, d.CA)
		files.Cert = orDefault(files.Cert, d.Cert)
		files.Key = orDefault(files.Key, d.Key)
	}
	named := files != (mtls.Files{})
	switch {
	case f.insecure && named:
		return nil, errors.New("--insecure and cluster certificates (--cert-dir, --cluster-*) are exclusive")
	case !f.insecure && !named:
		return nil, fmt.Errorf("no cluster certificate: give --cert-dir (made by `mosaicctl certs init`, or by mosaic up under its data dir) or --cluster-ca, --cluster-cert and --cluster-key; or --insecure to run without TLS")
	case !f.insecure:
		if files.Cert == "" || files.Key == "" || files.CA == "" {
			return nil, errors.New("the cluster certificate needs a CA bundle, a certificate and its key")
		}
		src, err := mtls.Load(files, log.With("what", "cluster certificate"))
		if err != nil {
			return nil, fmt.Errorf("cluster certificate: %w", err)
		}
		if src.Role() != f.role {
			return nil, fmt.Errorf("cluster certificate %s has role %s; this binary needs one of role %s", files.Cert, src.Role(), f.role)
		}
		s.Cluster = src
	}

	switch {
	case f.topoCA != "":
		if (f.topoCert == "") != (f.topoKey == "") {
			return nil, errors.New("give --topo-cert and --topo-key together")
		}
		src, err := mtls.Load(mtls.Files{CA: f.topoCA, Cert: f.topoCert, Key: f.topoKey}, log.With("what", "topo certificate"))
		if err != nil {
			return nil, fmt.Errorf("topo certificate: %w", err)
		}
		s.Topo = src
	case f.topoCert != "" || f.topoKey != "":
		return nil, errors.New("--topo-cert and --topo-key need --topo-ca")
	default:
		s.Topo = s.Cluster
	}

	if f.topoUser != "" {
		s.TopoUser = f.topoUser
		switch {
		case f.topoPasswordFile != "":
			data, err := os.ReadFile(f.topoPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("--topo-password-file: %w", err)
			}
			s.TopoPassword = strings.TrimRight(string(data), "\r\n")
		default:
			s.TopoPassword = os.Getenv(EnvTopoPassword)
		}
		if s.TopoPassword == "" {
			return nil, fmt.Errorf("--topo-user %s has no password: give --topo-password-file or set %s", f.topoUser, EnvTopoPassword)
		}
	} else if f.topoPasswordFile != "" {
		return nil, errors.New("--topo-password-file needs --topo-user")
	}
	if s.Insecure {
		log.Warn("running without TLS (--insecure): connections between components are neither encrypted nor authenticated, and tablets let any caller run any RPC")
	}
	return s, nil
}

func orDefault(v, d string) string {
	if v != "" {
		return v
	}
	return d
}

// TabletCreds returns the credentials for calling tablets.
func (s *Setup) TabletCreds() credentials.TransportCredentials {
	if s.Cluster == nil {
		return insecure.NewCredentials()
	}
	return s.Cluster.ClientCredentials(mtls.RoleTablet)
}

// ApplyTopo sets etcd's TLS and user in cfg.
func (s *Setup) ApplyTopo(cfg *etcdstore.Config) {
	cfg.TLS = s.Topo
	cfg.Username, cfg.Password = s.TopoUser, s.TopoPassword
}

// Watch reloads the certificates when their files change, and at once on
// SIGHUP, until ctx ends.
func (s *Setup) Watch(ctx context.Context) {
	srcs := []*mtls.Source{}
	for _, src := range []*mtls.Source{s.Cluster, s.Topo} {
		if src != nil && (len(srcs) == 0 || srcs[0] != src) {
			srcs = append(srcs, src)
		}
	}
	if len(srcs) == 0 {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan struct{})
	for _, src := range srcs {
		go func() { src.Watch(ctx, s.reloadInterval); done <- struct{}{} }()
	}
	for {
		select {
		case <-hup:
			for _, src := range srcs {
				_ = src.Reload()
			}
		case <-ctx.Done():
			for range srcs {
				<-done
			}
			return
		}
	}
}
