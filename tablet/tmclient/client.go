package tmclient

import (
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// Client talks to one tablet.
type Client struct {
	conn *grpc.ClientConn
	// TM is the TabletManager client.
	TM tabletmanagerpb.TabletManagerClient
	// Query is the Query client.
	Query querypb.QueryClient
}

// Dial returns a client of the tablet at addr (host:port of its gRPC
// server). The connection is made lazily, on the first call.
func Dial(addr string, opts ...grpc.DialOption) (*Client, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial tablet at %s: %w", addr, err)
	}
	return &Client{conn: conn, TM: tabletmanagerpb.NewTabletManagerClient(conn), Query: querypb.NewQueryClient(conn)}, nil
}

// Addr returns the gRPC address of a tablet record.
func Addr(t *topodatapb.Tablet) string {
	return net.JoinHostPort(t.Hostname, strconv.Itoa(int(t.GrpcPort)))
}

// DialTablet returns a client of the tablet a topo record describes.
func DialTablet(t *topodatapb.Tablet, opts ...grpc.DialOption) (*Client, error) {
	return Dial(Addr(t), opts...)
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
