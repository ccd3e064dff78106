package sqlerr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestRoundTripThroughGRPC(t *testing.T) {
	orig := New(ERDupEntry, "Duplicate entry '1' for key 'PRIMARY'")
	got := FromError(ToGRPC(fmt.Errorf("insert: %w", orig)))
	if got.Num != ERDupEntry || got.State != "23000" || got.Message != orig.Message {
		t.Fatalf("round trip gave %+v", got)
	}
}

// A message quoting binary bytes keeps them, and its code, through gRPC,
// where the status travels marshalled.
func TestBinaryMessageThroughGRPC(t *testing.T) {
	orig := New(ERDupEntry, "Duplicate entry '\xff\xfe' for key 'u'")
	b, err := proto.Marshal(orig.GRPCStatus().Proto())
	if err != nil {
		t.Fatal(err)
	}
	var sp spb.Status
	if err := proto.Unmarshal(b, &sp); err != nil {
		t.Fatal(err)
	}
	got := FromError(status.FromProto(&sp).Err())
	if got.Num != ERDupEntry || got.State != "23000" || got.Message != orig.Message {
		t.Fatalf("round trip gave %+v", got)
	}
}

func TestContextErrors(t *testing.T) {
	if got := FromError(fmt.Errorf("run: %w", context.Canceled)); got.Num != ERQueryInterrupted || got.State != "70100" {
		t.Fatalf("canceled gave %+v", got)
	}
	if got := FromError(context.DeadlineExceeded); got.Num != ERQueryTimeout {
		t.Fatalf("deadline gave %+v", got)
	}
	// Through gRPC without details the code still maps.
	if got := FromError(ToGRPC(context.Canceled)); got.Num != ERQueryInterrupted {
		t.Fatalf("canceled via grpc gave %+v", got)
	}
}

func TestUnknownErrorKeepsCause(t *testing.T) {
	cause := errors.New("boom")
	got := FromError(cause)
	if got.Num != ERUnknown || got.State != "HY000" || !errors.Is(got, cause) {
		t.Fatalf("got %+v", got)
	}
}

func TestRetryableSurvivesGRPC(t *testing.T) {
	err := ToGRPC(NotServing("tablet zone1-101 is not primary"))
	if !IsRetryable(err) {
		t.Fatalf("retryable lost: %v", err)
	}
	if IsRetryable(ToGRPC(New(ERDupEntry, "dup"))) {
		t.Fatal("a dup key error is not retryable")
	}
}

func TestTableMovedSurvivesGRPC(t *testing.T) {
	e := New(ERUnknown, "table t was moved to another keyspace")
	e.TableMoved = true
	got := FromError(ToGRPC(e))
	if !got.TableMoved || got.Retryable || got.Message != e.Message {
		t.Fatalf("through gRPC: %+v", got)
	}
	if FromError(ToGRPC(New(ERUnknown, "other"))).TableMoved {
		t.Fatal("an error that is not a moved table says it is")
	}
}
