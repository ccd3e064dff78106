package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/grpclog"
)

// logFlags are the logging flags every subcommand shares.
type logFlags struct {
	format string
	level  string
}

func addLogFlags(root *cobra.Command) *logFlags {
	f := &logFlags{}
	root.PersistentFlags().StringVar(&f.format, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&f.level, "log-level", "info", "log level: debug, info, warn, error")
	return f
}

// logger builds the slog logger the flags describe, writing to stderr.
func (f *logFlags) logger() (*slog.Logger, error) {
	return f.loggerTo(os.Stderr)
}

func (f *logFlags) loggerTo(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var l *slog.Logger
	switch f.format {
	case "text":
		l = slog.New(slog.NewTextHandler(w, opts))
	case "json":
		l = slog.New(slog.NewJSONHandler(w, opts))
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", f.format)
	}
	// gRPC logs through a process-wide logger of its own: point it here,
	// before any connection starts.
	grpclog.SetLoggerV2(grpcLogger{log: l.With("component", "grpc")})
	return l, nil
}
