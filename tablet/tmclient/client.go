package tmclient

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
)

// Client talks to one tablet.
type Client struct {
	conn *grpc.ClientConn
	// TM is the TabletManager client.
	TM tabletmanagerpb.TabletManagerClient
	// Query is the Query client.
	Query querypb.QueryClient
	// VR is the VReplication client (resharding streams and workflows).
	VR vreplicationpb.VReplicationClient
}

// Insecure returns credentials for a plaintext connection, to a tablet
// run with --insecure: no TLS, no proof of who calls.
func Insecure() credentials.TransportCredentials { return insecure.NewCredentials() }

// Dial returns a client of the tablet at addr (host:port of its gRPC
// server) over creds: mtls.Source.ClientCredentials(mtls.RoleTablet) of the
// caller's certificate, or Insecure(); nil is refused. The connection is
// made lazily, on the first call.
func Dial(addr string, creds credentials.TransportCredentials, opts ...grpc.DialOption) (*Client, error) {
	if creds == nil {
		return nil, errors.New("dial tablet: no transport credentials (a certificate, or tmclient.Insecure)")
	}
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial tablet at %s: %w", addr, err)
	}
	return &Client{conn: conn, TM: tabletmanagerpb.NewTabletManagerClient(conn), Query: querypb.NewQueryClient(conn), VR: vreplicationpb.NewVReplicationClient(conn)}, nil
}

// Addr returns the gRPC address of a tablet record.
func Addr(t *topodatapb.Tablet) string {
	return net.JoinHostPort(t.Hostname, strconv.Itoa(int(t.GrpcPort)))
}

// DialTablet returns a client of the tablet a topo record describes.
func DialTablet(t *topodatapb.Tablet, creds credentials.TransportCredentials, opts ...grpc.DialOption) (*Client, error) {
	return Dial(Addr(t), creds, opts...)
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
