package rpcauth_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/rpcauth"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	ch chan struct{}
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.ch <- struct{}{}
	defer func() { <-l.ch }()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.ch <- struct{}{}
	defer func() { <-l.ch }()
	return l.b.String()
}

// queryServer answers Execute and sends one StreamHealth message; its
// other methods are unimplemented.
type queryServer struct {
	querypb.UnimplementedQueryServer
}

func (queryServer) Execute(context.Context, *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	return &querypb.ExecuteResponse{}, nil
}

func (queryServer) StreamHealth(_ *querypb.StreamHealthRequest, st grpc.ServerStreamingServer[querypb.StreamHealthResponse]) error {
	return st.Send(&querypb.StreamHealthResponse{Serving: true})
}

// TestAuthorizer serves the Query service with mTLS and a table that lets
// operators Execute, gates StreamHealth, and nobody Begin.
func TestAuthorizer(t *testing.T) {
	ca := mtlstest.New(t)
	logs := &lockedBuffer{ch: make(chan struct{}, 1)}
	reg := prometheus.NewRegistry()
	auth, err := rpcauth.New(rpcauth.Table{
		querypb.Query_Execute_FullMethodName:      {mtls.RoleOperator},
		querypb.Query_StreamHealth_FullMethodName: {mtls.RoleGate},
	}, slog.New(slog.NewTextHandler(logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.Creds(ca.Source(t, mtls.RoleTablet).ServerCredentials(nil)),
		grpc.UnaryInterceptor(auth.Unary()),
		grpc.StreamInterceptor(auth.Stream()),
	)
	querypb.RegisterQueryServer(srv, queryServer{})
	sock := filepath.Join(t.TempDir(), "grpc.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	client := func(r mtls.Role) querypb.QueryClient {
		conn, err := grpc.NewClient("passthrough:///127.0.0.1:1",
			grpc.WithTransportCredentials(ca.TabletCreds(t, r)),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return querypb.NewQueryClient(conn)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	operator, gate := client(mtls.RoleOperator), client(mtls.RoleGate)

	denied := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%s: got %v, want PermissionDenied", what, err)
		}
		if e := sqlerr.FromError(err); e.Num != sqlerr.ERSpecifiedAccessDenied {
			t.Fatalf("%s: MySQL error %d, want %d", what, e.Num, sqlerr.ERSpecifiedAccessDenied)
		}
	}
	// count returns the refusals counted for method and role, and how
	// many series the counter has.
	count := func(method, role string) (n float64, series int) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "mosaic_tablet_rpc_denied_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				series++
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["method"] == method && labels["role"] == role {
					n = m.GetCounter().GetValue()
				}
			}
		}
		return n, series
	}

	if _, err := operator.Execute(ctx, &querypb.ExecuteRequest{}); err != nil {
		t.Fatalf("operator Execute: %v", err)
	}
	_, err = gate.Execute(ctx, &querypb.ExecuteRequest{})
	denied("gate Execute", err)
	if n, _ := count("Query.Execute", "gate"); n != 1 {
		t.Errorf("denied{Query.Execute, gate} = %v, want 1", n)
	}
	if log := logs.String(); !strings.Contains(log, "tablet rpc refused") || !strings.Contains(log, "method=/mosaic.query.Query/Execute") ||
		!strings.Contains(log, "peer_role=gate") || !strings.Contains(log, "peer_name=mosaic-gate") {
		t.Errorf("refusal not logged with method and peer: %s", log)
	}

	// Streams: the stream interceptor checks them.
	st, err := gate.StreamHealth(ctx, &querypb.StreamHealthRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := st.Recv(); err != nil || !h.Serving {
		t.Fatalf("gate StreamHealth: %v, %v", h, err)
	}
	st, err = operator.StreamHealth(ctx, &querypb.StreamHealthRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	denied("operator StreamHealth", err)
	if n, _ := count("Query.StreamHealth", "operator"); n != 1 {
		t.Errorf("denied{Query.StreamHealth, operator} = %v, want 1", n)
	}

	// A method the table does not name is closed to everyone.
	_, err = operator.Begin(ctx, &querypb.BeginRequest{})
	denied("operator Begin", err)
	if n, series := count("other", "operator"); n != 1 || series != 3 {
		t.Errorf("denied{other, operator} = %v, want 1; %d series, want 3", n, series)
	}
}

// TestAuthorizerPlaintext: a call on a connection without mTLS has no
// role and is refused, even for a method every role may call.
func TestAuthorizerPlaintext(t *testing.T) {
	auth, err := rpcauth.New(rpcauth.Table{querypb.Query_Execute_FullMethodName: {mtls.RoleGate, mtls.RoleTablet, mtls.RoleOperator, mtls.RoleEtcd}}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = auth.Check(t.Context(), querypb.Query_Execute_FullMethodName)
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("unauthenticated call: %v", err)
	}
}

func TestNewRefusesBadTable(t *testing.T) {
	for _, tb := range []rpcauth.Table{
		{"Execute": {mtls.RoleGate}},
		{"/mosaic.query.Query/Execute": {"root"}},
	} {
		if _, err := rpcauth.New(tb, nil, nil); err == nil {
			t.Errorf("New took %v", tb)
		}
	}
	if _, err := rpcauth.New(rpcauth.Table{"/a.B/C": {mtls.RoleGate}}, nil, nil); err != nil {
		t.Fatal(err)
	}
}
