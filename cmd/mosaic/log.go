package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
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
	switch f.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", f.format)
}
