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
	// Healthy fails while the tablet should not feed streams (a replica
	// that does not replicate, or lags): streams are refused then, and a
	// running binlog stream ends, so that its target moves to another
	// tablet of the shard. nil: always healthy.
	Healthy func() error
}

// sourceCheck is how often a running binlog stream checks Healthy.
const sourceCheck = 5 * time.Second

func (s *Server) healthy() error {
	if s.Healthy == nil {
		return s.ready()
	}
	if err := s.Healthy(); err != nil {
		return status.Error(codes.Unavailable, "source: "+err.Error())
	}
	return nil
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
	if err := s.healthy(); err != nil {
		return err
	}
	return s.Source.StreamRows(stream.Context(), req, stream.Send)
}

// StreamEvents is a "tablet" call.
func (s *Server) StreamEvents(req *vreplicationpb.StreamEventsRequest, stream grpc.ServerStreamingServer[vreplicationpb.StreamEventsResponse]) error {
	if err := s.healthy(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	go func() {
		t := time.NewTicker(sourceCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.healthy(); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	err := s.Source.StreamEvents(ctx, req, stream.Send)
	if cause := context.Cause(ctx); cause != nil && stream.Context().Err() == nil && ctx.Err() != nil {
		return cause
	}
	return err
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
