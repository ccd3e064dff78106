package tablet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
)

// vreplAccounts are the mysqld accounts of the replication engine: its
// own (mysqlctl's VRepl account: rows of the keyspace's database and of
// _mosaic, binlog reads), on both ends. Its writes stop when read_only
// turns on (it has no READ_ONLY ADMIN), so a demoted or fenced target
// stops applying.
func (a *Agent) vreplAccounts() vrepl.Accounts {
	return vrepl.Accounts{Source: a.mysqld.VReplParams(), Target: a.mysqld.VReplParams()}
}

// newVRepl builds the engine and the service.
func (a *Agent) newVRepl() error {
	eng, err := vrepl.NewEngine(a.cfg.VRepl, vrepl.EngineDeps{
		Topo:     a.ts,
		Keyspace: a.cfg.Keyspace,
		Shard:    a.cfg.Shard,
		DBName:   a.cfg.dbName(),
		Accounts: a.vreplAccounts(),
		Dial:     a.dialVReplication,
		Registry: a.registry,
		Log:      a.log,
	})
	if err != nil {
		return err
	}
	a.vrepl = eng
	a.vreplSrv = &vrepl.Server{
		Source:  vrepl.NewSource(a.cfg.VRepl, a.vreplAccounts(), a.mysqld.SocketPath(), a.cfg.dbName(), a.log),
		Engine:  eng,
		Ready:   a.vreplReady,
		Healthy: a.vreplSourceHealthy,
	}
	return nil
}

// vreplReady fails while mysqld is not running.
func (a *Agent) vreplReady() error {
	if st, err := a.mysqld.State(); st != mysqlctl.Running {
		return fmt.Errorf("mysqld is %v: %v", st, err)
	}
	return nil
}

// maxSourceLag is the replication lag past which a replica stops serving
// as a stream's source: the stream moves to another tablet of the shard.
const maxSourceLag = 30 * time.Second

// vreplSourceHealthy fails when this tablet should not feed streams: its
// mysqld is down, or it is a replica that does not replicate or lags.
func (a *Agent) vreplSourceHealthy() error {
	if err := a.vreplReady(); err != nil {
		return err
	}
	if a.tabletTypeNow() == topodatapb.TabletType_PRIMARY {
		return nil
	}
	rt := a.lastHealth().GetRealtimeStats()
	switch {
	case !rt.GetReplicationRunning():
		return errors.New("this replica does not replicate")
	case time.Duration(rt.GetReplicationLagSeconds())*time.Second > maxSourceLag:
		return fmt.Errorf("this replica lags %ds", rt.GetReplicationLagSeconds())
	}
	return nil
}

// dialVReplication opens a VReplication client of another tablet, with
// the tablet's peer credentials (its "tablet" role certificate).
func (a *Agent) dialVReplication(_ context.Context, t *topodatapb.Tablet) (vreplicationpb.VReplicationClient, func(), error) {
	c, err := tmclient.DialTablet(t, a.sec.peerCreds, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage)))
	if err != nil {
		return nil, nil, err
	}
	return c.VR, func() { c.Close() }, nil
}
