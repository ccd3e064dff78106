package etcdstore

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EmbeddedConfig describes an in-process single-member etcd.
type EmbeddedConfig struct {
	// Dir holds etcd's data; reusing it keeps the topology across restarts.
	Dir string
	// ClientAddr is host:port for clients, e.g. 127.0.0.1:2379.
	ClientAddr string
	// PeerAddr is host:port for the peer listener, e.g. 127.0.0.1:2380.
	PeerAddr string
	// TLS, when set, makes etcd serve clients and peers over TLS and
	// demand a client certificate that chains to TLS.CA: a client without
	// one, or with one of another CA, is refused. Nil: plaintext, no
	// authentication.
	TLS *EmbeddedTLS
}

// EmbeddedTLS names the PEM files of an embedded etcd's TLS.
type EmbeddedTLS struct {
	// CA is the bundle client and peer certificates must chain to. etcd
	// reads it at start: a new CA in it needs a restart.
	CA string
	// Cert and Key are etcd's certificate (server and client use, for the
	// peer port too) and key; etcd reads them again at each handshake.
	Cert, Key string
}

// StartEmbedded starts an etcd server in this process and waits until it
// serves. The caller stops it with Close.
func StartEmbedded(ctx context.Context, c EmbeddedConfig) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "mosaic"
	cfg.Dir = c.Dir
	scheme := "http://"
	if c.TLS != nil {
		scheme = "https://"
		info := transport.TLSInfo{CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, TrustedCAFile: c.TLS.CA, ClientCertAuth: true}
		cfg.ClientTLSInfo = info
		cfg.PeerTLSInfo = info
		cfg.ClientAutoTLS, cfg.PeerAutoTLS = false, false
	}
	clientURL, err := url.Parse(scheme + c.ClientAddr)
	if err != nil {
		return nil, err
	}
	peerURL, err := url.Parse(scheme + c.PeerAddr)
	if err != nil {
		return nil, err
	}
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"
	// A local cluster does not need fsync latency on every write to be low,
	// but it must survive a restart, so the WAL stays on.
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd did not become ready in 60s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
}
