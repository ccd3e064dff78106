package tablet

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/tablet/rpcauth"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
)

// security is how the tablet's gRPC server proves itself and checks its
// callers, and how the tablet calls its peers.
type security struct {
	// serverOpts secure the gRPC server: mTLS credentials (TCP port and
	// unix socket alike) and the authorization interceptors.
	serverOpts []grpc.ServerOption
	// peerCreds secure calls to peer tablets (a repair's donor).
	peerCreds credentials.TransportCredentials
}

// newSecurity builds the tablet's security from cfg: with ClusterTLS,
// every connection must present a certificate of the cluster CA and
// every call is checked against rpcRoles; with Insecure, none of that.
func newSecurity(cfg Config, log *slog.Logger, reg prometheus.Registerer) (security, error) {
	if cfg.ClusterTLS == nil {
		log.Warn("tablet gRPC runs without TLS (--insecure): any process that reaches its port or socket may run any RPC, as mysqld's root included")
		return security{peerCreds: tmclient.Insecure()}, nil
	}
	src := cfg.ClusterTLS
	failures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mosaic_tablet_tls_handshake_failures_total",
		Help: "Connections to the tablet's gRPC port or socket whose TLS handshake failed (no client certificate, one from another CA, expired...).",
	})
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mosaic_tablet_tls_cert_expiry_timestamp_seconds",
		Help: "When the tablet's cluster certificate expires (Unix time); reloaded from disk when it changes.",
	}, func() float64 {
		if l := src.Leaf(); l != nil {
			return float64(l.NotAfter.Unix())
		}
		return 0
	})
	for _, c := range []prometheus.Collector{failures, expiry} {
		if err := reg.Register(c); err != nil {
			return security{}, fmt.Errorf("register tls metrics: %w", err)
		}
	}
	auth, err := rpcauth.New(rpcRoles(), log.With("component", "rpcauth"), reg)
	if err != nil {
		return security{}, err
	}
	onFailure := func(remote net.Addr, err error) {
		failures.Inc()
		// Anyone who reaches the port can cause this: debug level only.
		log.Debug("tls handshake refused", "peer_addr", addrString(remote), "err", err)
	}
	return security{
		serverOpts: []grpc.ServerOption{
			grpc.Creds(src.ServerCredentials(onFailure)),
			grpc.ChainUnaryInterceptor(auth.Unary()),
			grpc.ChainStreamInterceptor(auth.Stream()),
		},
		peerCreds: src.ClientCredentials(mtls.RoleTablet),
	}, nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
