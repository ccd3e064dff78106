package rpcauth

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Table maps a full gRPC method name ("/mosaic.query.Query/Execute", the
// generated <Service>_<Method>_FullMethodName constants) to the roles
// that may call it.
type Table map[string][]mtls.Role

// otherMethod is the method label of a refused call to a method the
// Table does not name.
const otherMethod = "other"

// Authorizer checks calls against a Table.
type Authorizer struct {
	table  Table
	log    *slog.Logger
	denied *prometheus.CounterVec
}

// New returns an Authorizer for table; reg (nil: none) receives its
// counter of refused calls.
func New(table Table, log *slog.Logger, reg prometheus.Registerer) (*Authorizer, error) {
	for m, roles := range table {
		if !strings.HasPrefix(m, "/") || strings.Count(m, "/") != 2 {
			return nil, fmt.Errorf("rpcauth: %q is not a full method name", m)
		}
		for _, r := range roles {
			if _, err := mtls.ParseRole(string(r)); err != nil {
				return nil, fmt.Errorf("rpcauth: method %s: %w", m, err)
			}
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authorizer{
		table: table,
		log:   log,
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_tablet_rpc_denied_total",
			Help: "Tablet RPCs refused because the caller's certificate role may not call the method (method \"other\": a method no role may call).",
		}, []string{"method", "role"}),
	}
	if reg != nil {
		if err := reg.Register(a.denied); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Allowed reports whether role r may call the full method name.
func (a *Authorizer) Allowed(method string, r mtls.Role) bool {
	return r != mtls.RoleNone && slices.Contains(a.table[method], r)
}

// Check returns nil when the peer of ctx may call method, else a
// PermissionDenied status (logged and counted).
func (a *Authorizer) Check(ctx context.Context, method string) error {
	p := mtls.PeerFromContext(ctx)
	if a.Allowed(method, p.Role) {
		return nil
	}
	label := otherMethod
	if _, ok := a.table[method]; ok {
		label = shortName(method)
	}
	a.denied.WithLabelValues(label, p.Role.String()).Inc()
	a.log.Warn("tablet rpc refused", "method", method, "peer_role", p.Role.String(), "peer_name", p.Name, "peer_addr", p.Addr, "authenticated", p.Authenticated)
	msg := fmt.Sprintf("access denied: a caller with role %s may not call %s", p.Role, shortName(method))
	st := status.New(codes.PermissionDenied, msg)
	if d, err := st.WithDetails(sqlerr.New(sqlerr.ERSpecifiedAccessDenied, "%s", msg).Proto()); err == nil {
		st = d
	}
	return st.Err()
}

// Unary is the unary server interceptor.
func (a *Authorizer) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := a.Check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream is the stream server interceptor.
func (a *Authorizer) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := a.Check(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// shortName turns "/mosaic.query.Query/Execute" into "Query.Execute".
func shortName(method string) string {
	svc, m, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if i := strings.LastIndexByte(svc, '.'); i >= 0 {
		svc = svc[i+1:]
	}
	return svc + "." + m
}
