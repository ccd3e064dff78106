package mysqlctl

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// A helper whose child holds its output pipe (as mariadbd --bootstrap does
// under mariadb-install-db) stops with its context: the whole process
// group is killed, and Wait does not wait for the pipe.
func TestCommandStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	cmd := command(ctx, "sh", "-c", "sleep 60 & sleep 60")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err == nil {
		t.Fatal("a killed command succeeded")
	}
	if took := time.Since(start); took > waitDelay+5*time.Second {
		t.Fatalf("Run returned %v after start, its context ended after 200ms", took)
	}
}
