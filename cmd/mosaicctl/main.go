package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/cmd/internal/clusterauth"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
)

// app holds what every subcommand shares: the flags that say where the
// topology is, and the open topology once a command needs it.
type app struct {
	endpoints string
	root      string
	timeout   time.Duration
	secFlags  *clusterauth.Flags
	sec       *clusterauth.Setup
	ts        *topo.Server
}

// security loads the certificates (and etcd user) the flags name.
func (a *app) security() (*clusterauth.Setup, error) {
	if a.sec != nil {
		return a.sec, nil
	}
	sec, err := a.secFlags.Load(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return nil, err
	}
	a.sec = sec
	return sec, nil
}

// tabletCreds returns the credentials to call tablets with: the
// operator's certificate.
func (a *app) tabletCreds() (credentials.TransportCredentials, error) {
	sec, err := a.security()
	if err != nil {
		return nil, err
	}
	return sec.TabletCreds(), nil
}

func (a *app) topo() (*topo.Server, error) {
	if a.ts != nil {
		return a.ts, nil
	}
	sec, err := a.security()
	if err != nil {
		return nil, err
	}
	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints = strings.Split(a.endpoints, ",")
	cfg.Root = a.root
	sec.ApplyTopo(&cfg)
	store, err := etcdstore.New(cfg)
	if err != nil {
		return nil, err
	}
	a.ts = topo.NewServer(store)
	return a.ts, nil
}

func (a *app) close() {
	if a.ts != nil {
		a.ts.Close()
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{}
	root := newRootCmd(a)
	err := root.ExecuteContext(ctx)
	a.close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mosaicctl:", err)
		os.Exit(1)
	}
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "mosaicctl",
		Short:         "operate a Mosaic cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			if a.timeout > 0 {
				ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
				cobra.OnFinalize(cancel)
				cmd.SetContext(ctx)
			}
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpoints, "topo-endpoints", "127.0.0.1:2379", "etcd endpoints, comma-separated")
	pf.StringVar(&a.root, "topo-root", etcdstore.DefaultRoot, "key prefix of Mosaic's records in etcd")
	pf.DurationVar(&a.timeout, "timeout", 5*time.Minute, "give up after this long")
	a.secFlags = clusterauth.Add(pf, mtls.RoleOperator)
	root.AddCommand(
		newKeyspaceCmd(a),
		newShardCmd(a),
		newTabletsCmd(a),
		newTabletCmd(a),
		newReparentCmd(a),
		newBackupCmd(a),
		newRestoreCmd(a),
		newRestorePointCmd(a),
		newVSchemaCmd(a),
		newCertsCmd(),
		newSecretsCmd(),
		newUsersCmd(),
		newReshardCmd(a),
		newMoveTablesCmd(a),
		newRoutingRulesCmd(a),
		newLookupCmd(a),
	)
	return root
}
