package mtls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// ServerConfig returns a TLS server configuration that presents the
// Source's current certificate and demands a client certificate that
// chains to its current CA bundle (TLS 1.3). Each handshake reads the
// Source anew.
func (s *Source) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.cur.Load()
			if m.cert == nil || m.pool == nil {
				return nil, errors.New("mtls: server has no certificate or no CA bundle")
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*m.cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    m.pool,
			}, nil
		},
	}
}

// AuthInfo is what the server credentials of this package tell a gRPC
// handler about its peer: the TLS state and the role and name of the
// verified client certificate.
type AuthInfo struct {
	credentials.TLSInfo
	// Role is the role the client's certificate names (RoleNone: none).
	Role Role
	// Name is the certificate's common name.
	Name string
}

// ServerCredentials returns gRPC server credentials over ServerConfig
// whose AuthInfo is an AuthInfo. onFailure, when not nil, is called with
// the client's address and the error of each failed handshake (a client
// without a certificate, or with one from another CA): count it, and log
// it only at a low level, since anyone who reaches the port can cause it.
func (s *Source) ServerCredentials(onFailure func(remote net.Addr, err error)) credentials.TransportCredentials {
	return &serverCreds{TransportCredentials: credentials.NewTLS(s.ServerConfig()), onFailure: onFailure}
}

type serverCreds struct {
	credentials.TransportCredentials
	onFailure func(net.Addr, error)
}

func (c *serverCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, ai, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		if c.onFailure != nil {
			c.onFailure(raw.RemoteAddr(), err)
		}
		return nil, nil, err
	}
	ti, ok := ai.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		conn.Close()
		err := errors.New("mtls: handshake left no verified client certificate")
		if c.onFailure != nil {
			c.onFailure(raw.RemoteAddr(), err)
		}
		return nil, nil, err
	}
	leaf := ti.State.VerifiedChains[0][0]
	role, _ := RoleOf(leaf)
	return conn, AuthInfo{TLSInfo: ti, Role: role, Name: leaf.Subject.CommonName}, nil
}

func (c *serverCreds) Clone() credentials.TransportCredentials {
	return &serverCreds{TransportCredentials: c.TransportCredentials.Clone(), onFailure: c.onFailure}
}

// ClientCredentials returns gRPC client credentials that present the
// Source's current certificate (if it has one) and verify the server's
// certificate against its current CA bundle and the host name dialed.
// When want is not RoleNone the server's certificate must also name that
// role: a gate talks only to tablets, never to a process that merely holds
// another certificate of the cluster.
func (s *Source) ClientCredentials(want Role) credentials.TransportCredentials {
	return &clientCreds{src: s, want: want, minVersion: tls.VersionTLS13}
}

// TopoClientCredentials is ClientCredentials for an etcd client: no role
// is asked of the server (an external etcd's certificate comes from
// another CA and names none), and TLS 1.2 is accepted.
func (s *Source) TopoClientCredentials() credentials.TransportCredentials {
	return &clientCreds{src: s, minVersion: tls.VersionTLS12}
}

type clientCreds struct {
	src        *Source
	want       Role
	minVersion uint16
	serverName string // set by OverrideServerName
}

func (c *clientCreds) config() *tls.Config {
	m := c.src.cur.Load()
	cfg := &tls.Config{MinVersion: c.minVersion, RootCAs: m.pool, ServerName: c.serverName}
	if m.cert != nil {
		cfg.Certificates = []tls.Certificate{*m.cert}
	}
	if want := c.want; want != RoleNone {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
				return errors.New("mtls: no verified server certificate")
			}
			got, err := RoleOf(cs.VerifiedChains[0][0])
			if err != nil {
				return fmt.Errorf("mtls: server certificate: %w", err)
			}
			if got != want {
				return fmt.Errorf("mtls: server certificate has role %s, want %s", got, want)
			}
			return nil
		}
	}
	return cfg
}

func (c *clientCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c.src.cur.Load().pool == nil {
		return nil, nil, errors.New("mtls: client has no CA bundle to verify the server with")
	}
	return credentials.NewTLS(c.config()).ClientHandshake(ctx, authority, raw)
}

func (c *clientCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("mtls: client credentials used by a server")
}

func (c *clientCreds) Info() credentials.ProtocolInfo {
	v := "1.3"
	if c.minVersion == tls.VersionTLS12 {
		v = "1.2"
	}
	//lint:ignore SA1019 grpc still takes a channel's authority from Info().ServerName (clientconn.go, grpc 1.85), so dropping it would change the :authority clients send; SecurityVersion goes with it, as credentials.NewTLS's Info fills both.
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: v, ServerName: c.serverName}
}

func (c *clientCreds) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

// OverrideServerName is gRPC's deprecated way to set the name the server
// is verified with.
func (c *clientCreds) OverrideServerName(name string) error {
	c.serverName = name
	return nil
}

// Peer is who called a gRPC server.
type Peer struct {
	// Role and Name are from the verified client certificate; RoleNone and
	// "" on a connection without one (a plaintext server).
	Role Role
	Name string
	// Addr is the peer's address.
	Addr string
	// Authenticated is true when the connection was made with this
	// package's server credentials.
	Authenticated bool
}

// PeerFromContext returns the peer of a gRPC server call.
func PeerFromContext(ctx context.Context) Peer {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Peer{}
	}
	out := Peer{}
	if p.Addr != nil {
		out.Addr = p.Addr.String()
	}
	if ai, ok := p.AuthInfo.(AuthInfo); ok {
		out.Role, out.Name, out.Authenticated = ai.Role, ai.Name, true
	}
	return out
}
