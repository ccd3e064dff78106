package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// newBackupCmd is `mosaicctl backup`: a physical backup of a shard into a
// directory.
func newBackupCmd(a *app) *cobra.Command {
	var keyspace, shard, dir, from string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "take a physical backup of a shard (from a healthy replica, else the primary) into --dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			creds, err := a.tabletCreds()
			if err != nil {
				return err
			}
			t, err := backupSource(ctx, ts, creds, keyspace, shard, from)
			if err != nil {
				return err
			}
			c, err := tmclient.DialTablet(t, creds)
			if err != nil {
				return err
			}
			defer c.Close()
			start := time.Now()
			stream, err := c.TM.Backup(ctx, &tabletmanagerpb.BackupRequest{})
			if err != nil {
				return err
			}
			w, err := backupstore.Create(dir, keyspace, shard, topo.AliasString(t.Alias))
			if err != nil {
				return err
			}
			pos := ""
			for {
				msg, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					w.Abort()
					return fmt.Errorf("backup from %s: %w", topo.AliasString(t.Alias), err)
				}
				if msg.Position != "" {
					pos = msg.Position
				}
				if _, err := w.Write(msg.Data); err != nil {
					w.Abort()
					return err
				}
			}
			if pos == "" {
				w.Abort()
				return fmt.Errorf("backup from %s: the tablet sent no position", topo.AliasString(t.Alias))
			}
			m, err := w.Commit(pos, t.DbFlavor)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %s/%s from %s: %s (%d MB, position %s) in %v\n",
				keyspace, shard, topo.AliasString(t.Alias), m.Archive, m.Bytes>>20, m.Position, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "list a shard's backups in --dir, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, err := backupstore.List(dir, keyspace, shard)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%-24s  %-12s  %8s  %-24s  %s\n", "TIME", "TABLET", "MB", "POSITION", "ARCHIVE")
			for _, m := range all {
				fmt.Fprintf(out, "%-24s  %-12s  %8d  %-24s  %s\n", m.Time.Format(time.RFC3339), m.Tablet, m.Bytes>>20, m.Position, m.Archive)
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{cmd, list} {
		fs := c.Flags()
		fs.StringVar(&keyspace, "keyspace", "", "keyspace")
		fs.StringVar(&shard, "shard", "", "shard")
		fs.StringVar(&dir, "dir", "", "backup directory")
		for _, f := range []string{"keyspace", "shard", "dir"} {
			c.MarkFlagRequired(f)
		}
	}
	cmd.Flags().StringVar(&from, "tablet", "", "tablet to copy (default: a healthy replica, else the primary)")
	cmd.AddCommand(list)
	return cmd
}

// backupSource returns the tablet to back up: want, else a replica that
// replicates, else the primary.
func backupSource(ctx context.Context, ts *topo.Server, creds credentials.TransportCredentials, keyspace, shard, want string) (*topodatapb.Tablet, error) {
	tablets, err := ts.ShardTablets(ctx, keyspace, shard)
	if err != nil {
		return nil, err
	}
	var wantAlias *topodatapb.TabletAlias
	if want != "" {
		if wantAlias, err = topo.ParseAlias(want); err != nil {
			return nil, err
		}
	}
	var primary *topodatapb.Tablet
	for _, t := range tablets {
		if wantAlias != nil {
			if proto.Equal(t.Alias, wantAlias) {
				return t, nil
			}
			continue
		}
		c, err := tmclient.DialTablet(t, creds)
		if err != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := c.TM.Status(sctx, &tabletmanagerpb.StatusRequest{})
		cancel()
		c.Close()
		if err != nil || !st.MysqldRunning {
			continue
		}
		switch {
		case st.Tablet.GetType() == topodatapb.TabletType_PRIMARY:
			primary = t
		case st.Replication.GetIoRunning() && st.Replication.GetSqlRunning():
			return t, nil
		}
	}
	if wantAlias != nil {
		return nil, fmt.Errorf("tablet %s is not in %s/%s", want, keyspace, shard)
	}
	if primary != nil {
		return primary, nil
	}
	return nil, fmt.Errorf("no tablet of %s/%s can be backed up", keyspace, shard)
}

// newRestoreCmd is `mosaicctl restore ALIAS`: rebuild a replica from a
// backup.
func newRestoreCmd(a *app) *cobra.Command {
	var dir, file string
	cmd := &cobra.Command{
		Use:   "restore ALIAS",
		Short: "rebuild a replica from a backup (--backup FILE, or the shard's latest in --dir) and resume replication",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			alias, err := topo.ParseAlias(args[0])
			if err != nil {
				return err
			}
			t, err := ts.GetTablet(cmd.Context(), alias)
			if err != nil {
				return err
			}
			if file == "" {
				if dir == "" {
					return errors.New("give --backup or --dir")
				}
				m, err := backupstore.Latest(dir, t.Keyspace, t.Shard)
				if err != nil {
					return err
				}
				file = m.Archive
			}
			if file, err = filepath.Abs(file); err != nil {
				return err
			}
			creds, err := a.tabletCreds()
			if err != nil {
				return err
			}
			c, err := tmclient.DialTablet(t, creds)
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := c.TM.Repair(cmd.Context(), &tabletmanagerpb.RepairRequest{BackupPath: file})
			if err != nil {
				return fmt.Errorf("restore %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s restored from %s (%d MB) in %v, replicating from position %s\n",
				args[0], resp.BackupPath, resp.Bytes>>20, (time.Duration(resp.DurationMs) * time.Millisecond).Round(time.Millisecond), resp.Position)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "backup directory: restore the shard's latest backup")
	cmd.Flags().StringVar(&file, "backup", "", "the backup's .xbstream file (read by the tablet, so on its machine or a shared mount)")
	return cmd
}
