package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/pitr"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// storageFlags are the backup storage flags of the commands that read it
// themselves (list, prune, restore planning). Tablets have their own
// --backup-storage: backups and restores run there.
type storageFlags struct {
	url     string
	keyFile string
}

func addStorageFlags(fs *pflag.FlagSet) *storageFlags {
	f := &storageFlags{}
	fs.StringVar(&f.url, "backup-storage", os.Getenv("MOSAIC_BACKUP_STORAGE"), "backup storage URL, as the tablets' --backup-storage (default $MOSAIC_BACKUP_STORAGE)")
	fs.StringVar(&f.keyFile, "backup-key-file", os.Getenv("MOSAIC_BACKUP_KEY_FILE"), "key file of encrypted backups (default $MOSAIC_BACKUP_KEY_FILE)")
	return f
}

func (f *storageFlags) open(ctx context.Context) (backupstore.Store, *backupstore.Key, error) {
	if f.url == "" {
		return nil, nil, errors.New("give --backup-storage (or set MOSAIC_BACKUP_STORAGE)")
	}
	s, err := backupstore.OpenStore(ctx, f.url, backupstore.Options{Env: os.Getenv})
	if err != nil {
		return nil, nil, err
	}
	var key *backupstore.Key
	if f.keyFile != "" {
		if key, err = backupstore.ReadKeyFile(f.keyFile); err != nil {
			return nil, nil, err
		}
	}
	return s, key, nil
}

// newBackupCmd is `mosaicctl backup`: a full backup of a shard (or of
// every shard of a keyspace) into the tablets' backup storage.
func newBackupCmd(a *app) *cobra.Command {
	var keyspace, shard, from string
	var allowPrimary bool
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "take a full backup of a shard (or every shard of a keyspace) into the tablets' backup storage, from a healthy replica",
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
			shards := []string{shard}
			if shard == "" {
				if from != "" {
					return errors.New("--tablet needs --shard")
				}
				if shards, err = ts.ListShards(ctx, keyspace); err != nil {
					return err
				}
				if len(shards) == 0 {
					return fmt.Errorf("keyspace %s has no shards", keyspace)
				}
			}
			for _, sh := range shards {
				t, err := backupSource(ctx, ts, creds, keyspace, sh, from, allowPrimary)
				if err != nil {
					return err
				}
				if err := backupTablet(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), creds, t, allowPrimary); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	cmd.Flags().StringVar(&shard, "shard", "", "shard (default: every shard of the keyspace, one after another)")
	cmd.Flags().StringVar(&from, "tablet", "", "tablet to back up (default: a healthy replica)")
	cmd.Flags().BoolVar(&allowPrimary, "allow-primary", false, "back up the primary when the shard has no healthy replica (mariadb-backup does not stop it, but loads it)")
	cmd.MarkFlagRequired("keyspace")
	cmd.AddCommand(newBackupListCmd(), newBackupPruneCmd())
	return cmd
}

// backupTablet runs one tablet's BackupToStorage with a progress bar.
func backupTablet(ctx context.Context, out, errOut io.Writer, creds credentials.TransportCredentials, t *topodatapb.Tablet, allowPrimary bool) error {
	alias := topo.AliasString(t.Alias)
	c, err := tmclient.DialTablet(t, creds)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	stream, err := c.TM.BackupToStorage(ctx, &tabletmanagerpb.BackupToStorageRequest{AllowPrimary: allowPrimary})
	if err != nil {
		return err
	}
	bar := newProgressBar(errOut, fmt.Sprintf("backup %s/%s from %s", t.Keyspace, t.Shard, alias))
	var last *tabletmanagerpb.BackupToStorageResponse
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bar.finish()
			return fmt.Errorf("backup of %s/%s from %s: %w", t.Keyspace, t.Shard, alias, err)
		}
		bar.update(msg.Bytes, msg.TotalEstimate)
		last = msg
	}
	bar.finish()
	if last == nil || last.BackupId == "" {
		return fmt.Errorf("backup of %s/%s from %s: the tablet ended without a backup", t.Keyspace, t.Shard, alias)
	}
	d := time.Since(start)
	fmt.Fprintf(out, "backup %s of %s/%s from %s: %.1f MB (%.1f MB stored) at position %s in %v (%.1f MB/s)\n",
		last.BackupId, t.Keyspace, t.Shard, alias, float64(last.Bytes)/(1<<20), float64(last.StoredBytes)/(1<<20), last.Position,
		d.Round(time.Millisecond), float64(last.Bytes)/(1<<20)/d.Seconds())
	return nil
}

// backupSource returns the tablet to back up: want, else a replica that
// replicates, else (allowPrimary) the primary.
func backupSource(ctx context.Context, ts *topo.Server, creds credentials.TransportCredentials, keyspace, shard, want string, allowPrimary bool) (*topodatapb.Tablet, error) {
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
	if primary != nil && allowPrimary {
		return primary, nil
	}
	if primary != nil {
		return nil, fmt.Errorf("%s/%s has no healthy replica to back up (--allow-primary backs up the primary)", keyspace, shard)
	}
	return nil, fmt.Errorf("no tablet of %s/%s can be backed up", keyspace, shard)
}

// newBackupListCmd is `mosaicctl backup list`: what the storage holds for
// a keyspace: each shard's backups and the span of its binlog archive.
func newBackupListCmd() *cobra.Command {
	var keyspace, shard string
	var sf *storageFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list a keyspace's backups and binlog archive in the backup storage, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, _, err := sf.open(ctx)
			if err != nil {
				return err
			}
			shards := []string{shard}
			if shard == "" {
				if shards, err = backupstore.ListShards(ctx, store, keyspace); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if len(shards) == 0 {
				fmt.Fprintf(out, "nothing of keyspace %s in %s\n", keyspace, store)
				return nil
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SHARD\tBACKUP\tEND\tTABLET\tMB\tSTORED MB\tPOSITION")
			for _, sh := range shards {
				all, err := backupstore.ListBackups(ctx, store, keyspace, sh)
				if err != nil {
					return err
				}
				for _, m := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\n", sh, m.ID, m.End.Format(time.RFC3339), m.Tablet,
						float64(m.Data.RawBytes)/(1<<20), float64(m.Data.StoredBytes)/(1<<20), m.Position)
				}
			}
			tw.Flush()
			fmt.Fprintln(out)
			tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SHARD\tBINLOG SEGMENTS\tTRANSACTIONS\tFROM\tTO")
			for _, sh := range shards {
				segs, err := backupstore.ListSegments(ctx, store, keyspace, sh)
				if err != nil {
					return err
				}
				line, err := backupstore.Timeline(segs)
				if err != nil {
					fmt.Fprintf(tw, "%s\t%d\t(%v)\t\t\n", sh, len(segs), err)
					continue
				}
				if len(line) == 0 {
					fmt.Fprintf(tw, "%s\t0\t\t\t\n", sh)
					continue
				}
				first, last := line[0], line[len(line)-1]
				fmt.Fprintf(tw, "%s\t%d\t%d-%d\t%s\t%s\n", sh, len(line), first.First, last.Last, first.FirstTime.Format(time.RFC3339), last.LastTime.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	cmd.Flags().StringVar(&shard, "shard", "", "shard (default: all)")
	cmd.MarkFlagRequired("keyspace")
	sf = addStorageFlags(cmd.Flags())
	return cmd
}

// newBackupPruneCmd is `mosaicctl backup prune`: retention applied now.
func newBackupPruneCmd() *cobra.Command {
	var keyspace, shard string
	var r backupstore.Retention
	var dryRun bool
	var sf *storageFlags
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "delete the backups a retention lets go, and the archived binlogs only they needed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if r.Keep <= 0 && r.MaxAge <= 0 {
				return errors.New("give --keep or --keep-age")
			}
			ctx := cmd.Context()
			store, _, err := sf.open(ctx)
			if err != nil {
				return err
			}
			shards := []string{shard}
			if shard == "" {
				if shards, err = backupstore.ListShards(ctx, store, keyspace); err != nil {
					return err
				}
			}
			for _, sh := range shards {
				res, err := backupstore.Prune(ctx, store, keyspace, sh, r, time.Now(), dryRun)
				if err != nil {
					return err
				}
				verb := "deleted"
				if dryRun {
					verb = "would delete"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: %s %d backups and %d binlog segments\n", keyspace, sh, verb, len(res.Backups), len(res.Segments))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	cmd.Flags().StringVar(&shard, "shard", "", "shard (default: all)")
	cmd.Flags().IntVar(&r.Keep, "keep", 0, "keep this many newest backups")
	cmd.Flags().DurationVar(&r.MaxAge, "keep-age", 0, "keep what restores any moment this far back")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only say what would be deleted")
	cmd.MarkFlagRequired("keyspace")
	sf = addStorageFlags(cmd.Flags())
	return cmd
}

// newRestoreCmd is `mosaicctl restore`: rebuild a replica from a backup
// (ALIAS), restore a shard into new tablets (--keyspace, --shard), or a
// keyspace into a new one (restore keyspace).
func newRestoreCmd(a *app) *cobra.Command {
	var backupID, keyspace, shard, toTime, toGTID, restorePoint string
	var newPrimary, force bool
	cmd := &cobra.Command{
		Use:   "restore ALIAS | restore --keyspace K --shard S --new-primary [ALIAS] | restore --keyspace K --new-primary --restore-point ID",
		Short: "rebuild a replica from a backup in its backup storage (--backup ID, default the latest) and resume replication; with --new-primary, rebuild a shard that lost every tablet from the backup storage alone",
		Args:  cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			if newPrimary && restorePoint != "" {
				if keyspace == "" || backupID != "" || toTime != "" || toGTID != "" || len(args) != 0 {
					return errors.New("--restore-point takes --keyspace (and --shard for one shard only), and no --backup, --to-time, --to-gtid or ALIAS")
				}
				creds, err := a.tabletCreds()
				if err != nil {
					return err
				}
				return restoreToPoint(cmd.Context(), ts, creds, keyspace, shard, restorePoint, force, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			if restorePoint != "" {
				return errors.New("--restore-point goes with --new-primary")
			}
			if newPrimary {
				if keyspace == "" || shard == "" || backupID != "" {
					return errors.New("--new-primary takes --keyspace and --shard (and no --backup: it restores the newest backup before the target)")
				}
				req := rebuildRequest{keyspace: keyspace, shard: shard, force: force,
					repair: &tabletmanagerpb.RepairRequest{FromArchive: true, ToGtid: toGTID}}
				if toTime != "" {
					t, err := time.Parse(time.RFC3339, toTime)
					if err != nil {
						return fmt.Errorf("--to-time: %w", err)
					}
					req.repair.ToTimeUnixNano = t.UnixNano()
				}
				if len(args) == 1 {
					if req.tablet, err = topo.ParseAlias(args[0]); err != nil {
						return err
					}
				}
				creds, err := a.tabletCreds()
				if err != nil {
					return err
				}
				return rebuildShard(cmd.Context(), ts, creds, req, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			if len(args) != 1 {
				return errors.New("give the alias of the tablet to restore (or --new-primary with --keyspace and --shard)")
			}
			alias, err := topo.ParseAlias(args[0])
			if err != nil {
				return err
			}
			t, err := ts.GetTablet(cmd.Context(), alias)
			if err != nil {
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
			if backupID == "" {
				backupID = "latest"
			}
			stop := watchProgress(cmd.Context(), c.TM, cmd.ErrOrStderr(), "restore "+args[0])
			resp, err := c.TM.Repair(cmd.Context(), &tabletmanagerpb.RepairRequest{BackupId: backupID})
			stop()
			if err != nil {
				return fmt.Errorf("restore %s: %w", args[0], err)
			}
			d := time.Duration(resp.DurationMs) * time.Millisecond
			fmt.Fprintf(cmd.OutOrStdout(), "%s restored from backup %s (%.1f MB) in %v (%.1f MB/s), replicating from position %s\n",
				args[0], resp.BackupId, float64(resp.Bytes)/(1<<20), d.Round(time.Millisecond), float64(resp.Bytes)/(1<<20)/max(d.Seconds(), 0.001), resp.Position)
			return nil
		},
	}
	cmd.Flags().StringVar(&backupID, "backup", "", "the backup's ID (mosaicctl backup list); default the shard's latest")
	cmd.Flags().BoolVar(&newPrimary, "new-primary", false, "rebuild --keyspace/--shard from the backup storage alone (its newest backup, then the archived binlog to its end, or to --to-time/--to-gtid) on ALIAS or the first of its tablets that answers, make that tablet the primary and have the others copy it")
	cmd.Flags().StringVar(&keyspace, "keyspace", "", "with --new-primary: the keyspace")
	cmd.Flags().StringVar(&shard, "shard", "", "with --new-primary: the shard")
	cmd.Flags().StringVar(&toTime, "to-time", "", "with --new-primary: keep what was committed before this moment (RFC 3339)")
	cmd.Flags().StringVar(&toGTID, "to-gtid", "", "with --new-primary: keep up to and including this GTID")
	cmd.Flags().BoolVar(&force, "force", false, "with --new-primary: rebuild even though the shard's primary answers (its data is replaced)")
	cmd.Flags().StringVar(&restorePoint, "restore-point", "", "with --new-primary: rebuild every shard of --keyspace (or --shard alone) to this restore point's positions (mosaicctl restore-point list), or \"latest\"")
	cmd.AddCommand(newRestorePITRCmd())
	return cmd
}

// newRestorePITRCmd is `mosaicctl restore pitr`: a shard as it was at a
// moment, from backup storage alone, into a data dir on this machine.
func newRestorePITRCmd() *cobra.Command {
	var keyspace, shard, toTime, toGTID, dataDir string
	var sf *storageFlags
	cmd := &cobra.Command{
		Use:   "pitr",
		Short: "restore a shard as it was at a time or GTID (latest backup before it, then the archived binlog) into a new MariaDB data dir on this machine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var to pitr.Target
			switch {
			case toTime != "" && toGTID != "", toTime == "" && toGTID == "":
				return errors.New("give --to-time or --to-gtid")
			case toTime != "":
				t, err := time.Parse(time.RFC3339, toTime)
				if err != nil {
					return fmt.Errorf("--to-time: %w", err)
				}
				to.Time = t
			default:
				seq, err := backupstore.SeqOf(toGTID)
				if err != nil || seq == 0 {
					return fmt.Errorf("--to-gtid %q: want a GTID like 0-101-42 (%v)", toGTID, err)
				}
				to.Seq = seq
			}
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, key, err := sf.open(ctx)
			if err != nil {
				return err
			}
			start := time.Now()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			res, err := pitr.Restore(ctx, store, key, keyspace, shard, to, abs, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s restored to %s in %s: backup %s, %d binlog segments replayed, at position %s (%v)\n",
				keyspace, shard, to, abs, res.Backup.ID, res.Segments, res.Position, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	cmd.Flags().StringVar(&shard, "shard", "", "shard")
	cmd.Flags().StringVar(&toTime, "to-time", "", "restore what was committed before this moment (RFC 3339, e.g. 2026-12-07T16:30:32Z; binlog times are whole seconds)")
	cmd.Flags().StringVar(&toGTID, "to-gtid", "", "restore up to and including this GTID (e.g. 0-101-42)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the new data dir (must not exist)")
	for _, f := range []string{"keyspace", "shard", "data-dir"} {
		cmd.MarkFlagRequired(f)
	}
	sf = addStorageFlags(cmd.Flags())
	return cmd
}

// watchProgress polls a tablet's progress every second and draws it until
// stop is called.
func watchProgress(ctx context.Context, tm tabletmanagerpb.TabletManagerClient, w io.Writer, label string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	bar := newProgressBar(w, label)
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			sctx, c := context.WithTimeout(ctx, 2*time.Second)
			st, err := tm.Status(sctx, &tabletmanagerpb.StatusRequest{})
			c()
			if err == nil && st.Progress != nil {
				bar.update(st.Progress.Bytes, st.Progress.Total)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		bar.finish()
	}
}
