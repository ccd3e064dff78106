package tablet

import (
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/rpcauth"
)

// rpcRoles says who may call each of the tablet's RPCs, one line per
// method. A method missing here is refused to every caller: a new RPC
// adds its line with the roles that need it, and no more. Gates run the
// application's statements and transactions and read health; a tablet
// may ask a peer for its status and a copy of its data (a repair), and
// a replica for a backup into storage (the primary's backup schedule);
// operators (mosaicctl, the failure detector, mosaic up) may do
// everything, including what changes a tablet's role, its replication or
// runs as mysqld's root.
func rpcRoles() rpcauth.Table {
	const (
		gate     = mtls.RoleGate
		tablet   = mtls.RoleTablet
		operator = mtls.RoleOperator
	)
	return rpcauth.Table{
		querypb.Query_Execute_FullMethodName:                {gate, operator},
		querypb.Query_StreamExecute_FullMethodName:          {gate, operator},
		querypb.Query_Multiplex_FullMethodName:              {gate, operator},
		querypb.Query_Begin_FullMethodName:                  {gate, operator},
		querypb.Query_LoadData_FullMethodName:               {gate, operator},
		querypb.Query_BeginExecute_FullMethodName:           {gate, operator},
		querypb.Query_Commit_FullMethodName:                 {gate, operator},
		querypb.Query_Rollback_FullMethodName:               {gate, operator},
		querypb.Query_StreamHealth_FullMethodName:           {gate, operator},
		querypb.Query_ReserveExecute_FullMethodName:         {gate, operator},
		querypb.Query_Release_FullMethodName:                {gate, operator},
		querypb.Query_ReservedHeartbeat_FullMethodName:      {gate, operator},
		querypb.Query_Prepare_FullMethodName:                {gate, operator},
		querypb.Query_CommitPrepared_FullMethodName:         {gate, operator},
		querypb.Query_RollbackPrepared_FullMethodName:       {gate, operator},
		querypb.Query_CreateTransaction_FullMethodName:      {gate, operator},
		querypb.Query_StartCommit_FullMethodName:            {gate, operator},
		querypb.Query_SetRollback_FullMethodName:            {gate, operator},
		querypb.Query_ConcludeTransaction_FullMethodName:    {gate, operator},
		querypb.Query_ReadTransaction_FullMethodName:        {gate, operator},
		querypb.Query_UnresolvedTransactions_FullMethodName: {gate, operator},
		// The deadlock detector runs in the failure detector, as operator.
		querypb.Query_LockWaits_FullMethodName:           {operator},
		querypb.Query_AbortDeadlockVictim_FullMethodName: {operator},

		tabletmanagerpb.TabletManager_Ping_FullMethodName:                 {operator},
		tabletmanagerpb.TabletManager_Status_FullMethodName:               {tablet, operator},
		tabletmanagerpb.TabletManager_ChangeType_FullMethodName:           {operator},
		tabletmanagerpb.TabletManager_SetReadOnly_FullMethodName:          {operator},
		tabletmanagerpb.TabletManager_PrimaryPosition_FullMethodName:      {operator},
		tabletmanagerpb.TabletManager_ReplicationStatus_FullMethodName:    {operator},
		tabletmanagerpb.TabletManager_StopReplication_FullMethodName:      {operator},
		tabletmanagerpb.TabletManager_StartReplication_FullMethodName:     {operator},
		tabletmanagerpb.TabletManager_WaitForPosition_FullMethodName:      {operator},
		tabletmanagerpb.TabletManager_InitPrimary_FullMethodName:          {operator},
		tabletmanagerpb.TabletManager_SetReplicationSource_FullMethodName: {operator},
		tabletmanagerpb.TabletManager_DemotePrimary_FullMethodName:        {operator},
		tabletmanagerpb.TabletManager_PromoteReplica_FullMethodName:       {operator},
		tabletmanagerpb.TabletManager_ExecuteFetchAsDba_FullMethodName:    {operator},
		tabletmanagerpb.TabletManager_Backup_FullMethodName:               {tablet, operator},
		tabletmanagerpb.TabletManager_Repair_FullMethodName:               {operator},
		tabletmanagerpb.TabletManager_RefreshState_FullMethodName:         {operator},
		tabletmanagerpb.TabletManager_BackupToStorage_FullMethodName:      {tablet, operator},
		// Restore points: taken by mosaicctl or by a tablet's schedule.
		tabletmanagerpb.TabletManager_HoldCommits_FullMethodName: {tablet, operator},

		// Resharding: target tablets read their sources' rows and
		// binlogs; operators steer and read the streams.
		vreplicationpb.VReplication_StreamRows_FullMethodName:            {tablet, operator},
		vreplicationpb.VReplication_StreamEvents_FullMethodName:          {tablet, operator},
		vreplicationpb.VReplication_WorkflowStatus_FullMethodName:        {operator},
		vreplicationpb.VReplication_WaitForStreamPosition_FullMethodName: {operator},
		vreplicationpb.VReplication_VDiff_FullMethodName:                 {operator},
	}
}
