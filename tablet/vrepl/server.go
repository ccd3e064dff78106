package vrepl

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
)

// Server implements the VReplication service over a tablet's Source and
// Engine. Roles, for the authorization table: StreamRows and
// StreamEvents are tablet-to-tablet calls ("tablet"); WorkflowStatus,
// WaitForStreamPosition and VDiff are operator calls ("operator").
type Server struct {
	vreplicationpb.UnimplementedVReplicationServer
	Source *Source
	Engine *Engine
	// Ready fails calls while the tablet's mysqld is not serving (nil:
	// always ready).
	Ready func() error
}

// Register adds the service to gs.
func (s *Server) Register(gs *grpc.Server) { vreplicationpb.RegisterVReplicationServer(gs, s) }

func (s *Server) ready() error {
	if s.Ready == nil {
		return nil
	}
	if err := s.Ready(); err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	return nil
}

// StreamRows is a "tablet" call.
func (s *Server) StreamRows(req *vreplicationpb.StreamRowsRequest, stream grpc.ServerStreamingServer[vreplicationpb.StreamRowsResponse]) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.Source.StreamRows(stream.Context(), req, stream.Send)
}

// StreamEvents is a "tablet" call.
func (s *Server) StreamEvents(req *vreplicationpb.StreamEventsRequest, stream grpc.ServerStreamingServer[vreplicationpb.StreamEventsResponse]) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.Source.StreamEvents(stream.Context(), req, stream.Send)
}

// WorkflowStatus is an "operator" call.
func (s *Server) WorkflowStatus(ctx context.Context, req *vreplicationpb.WorkflowStatusRequest) (*vreplicationpb.WorkflowStatusResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	streams, err := s.Engine.Status(ctx, req.Workflow)
	if err != nil {
		return nil, err
	}
	return &vreplicationpb.WorkflowStatusResponse{Streams: streams}, nil
}

// WaitForStreamPosition is an "operator" call.
func (s *Server) WaitForStreamPosition(ctx context.Context, req *vreplicationpb.WaitForStreamPositionRequest) (*vreplicationpb.WaitForStreamPositionResponse, error) {
	pos, err := ParsePosition(req.Position)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if req.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMs)*time.Millisecond)
		defer cancel()
	}
	got, err := s.Engine.WaitForPosition(ctx, req.Workflow, req.SourceShard, pos)
	if err != nil {
		return nil, err
	}
	return &vreplicationpb.WaitForStreamPositionResponse{Position: got.String()}, nil
}

// VDiff is an "operator" call.
func (s *Server) VDiff(ctx context.Context, req *vreplicationpb.VDiffRequest) (*vreplicationpb.VDiffResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	return s.Engine.VDiff(ctx, req)
}
