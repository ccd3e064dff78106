package tablet

import (
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/rpcauth"
)

// servedMethods lists the full names of every method the tablet's gRPC
// server registers.
func servedMethods() []string {
	var out []string
	for _, sd := range []grpc.ServiceDesc{querypb.Query_ServiceDesc, tabletmanagerpb.TabletManager_ServiceDesc, vreplicationpb.VReplication_ServiceDesc} {
		for _, m := range sd.Methods {
			out = append(out, "/"+sd.ServiceName+"/"+m.MethodName)
		}
		for _, s := range sd.Streams {
			out = append(out, "/"+sd.ServiceName+"/"+s.StreamName)
		}
	}
	return out
}

// TestRPCRolesCoverEveryMethod fails when an RPC is added without its
// line in rpcRoles (it would be refused to every caller).
func TestRPCRolesCoverEveryMethod(t *testing.T) {
	table := rpcRoles()
	served := map[string]bool{}
	for _, m := range servedMethods() {
		served[m] = true
		if len(table[m]) == 0 {
			t.Errorf("%s has no role in rpcRoles: every call to it is refused", m)
		}
	}
	for m := range table {
		if !served[m] {
			t.Errorf("rpcRoles names %s, which the tablet does not serve", m)
		}
	}
}

// TestRPCRoles checks what each role may do.
func TestRPCRoles(t *testing.T) {
	auth, err := rpcauth.New(rpcRoles(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const (
		gate     = mtls.RoleGate
		tablet   = mtls.RoleTablet
		operator = mtls.RoleOperator
	)
	cases := []struct {
		method string
		roles  []mtls.Role // allowed; every other role is refused
	}{
		{querypb.Query_Execute_FullMethodName, []mtls.Role{gate, operator}},
		{querypb.Query_Multiplex_FullMethodName, []mtls.Role{gate, operator}},
		{querypb.Query_BeginExecute_FullMethodName, []mtls.Role{gate, operator}},
		{querypb.Query_Commit_FullMethodName, []mtls.Role{gate, operator}},
		{querypb.Query_CommitPrepared_FullMethodName, []mtls.Role{gate, operator}},
		{querypb.Query_StreamHealth_FullMethodName, []mtls.Role{gate, operator}},
		{tabletmanagerpb.TabletManager_ExecuteFetchAsDba_FullMethodName, []mtls.Role{operator}},
		{tabletmanagerpb.TabletManager_PromoteReplica_FullMethodName, []mtls.Role{operator}},
		{tabletmanagerpb.TabletManager_DemotePrimary_FullMethodName, []mtls.Role{operator}},
		{tabletmanagerpb.TabletManager_InitPrimary_FullMethodName, []mtls.Role{operator}},
		{tabletmanagerpb.TabletManager_SetReplicationSource_FullMethodName, []mtls.Role{operator}},
		{tabletmanagerpb.TabletManager_StopReplication_FullMethodName, []mtls.Role{operator}},
		{tabletmanagerpb.TabletManager_ChangeType_FullMethodName, []mtls.Role{operator}},
		{tabletmanagerpb.TabletManager_SetReadOnly_FullMethodName, []mtls.Role{operator}},
		{tabletmanagerpb.TabletManager_Repair_FullMethodName, []mtls.Role{operator}},
		{tabletmanagerpb.TabletManager_Backup_FullMethodName, []mtls.Role{tablet, operator}},
		{tabletmanagerpb.TabletManager_Status_FullMethodName, []mtls.Role{tablet, operator}},
		{vreplicationpb.VReplication_StreamRows_FullMethodName, []mtls.Role{tablet, operator}},
		{vreplicationpb.VReplication_StreamEvents_FullMethodName, []mtls.Role{tablet, operator}},
		{vreplicationpb.VReplication_WorkflowStatus_FullMethodName, []mtls.Role{operator}},
		{vreplicationpb.VReplication_WaitForStreamPosition_FullMethodName, []mtls.Role{operator}},
		{vreplicationpb.VReplication_VDiff_FullMethodName, []mtls.Role{operator}},
		{"/mosaic.tabletmanager.TabletManager/NotYetDeclared", nil},
	}
	for _, c := range cases {
		for _, r := range append(mtls.Roles(), mtls.RoleNone) {
			want := false
			for _, a := range c.roles {
				want = want || a == r
			}
			if got := auth.Allowed(c.method, r); got != want {
				t.Errorf("%s by %s: allowed %v, want %v", c.method, r, got, want)
			}
		}
	}
	// Whatever a gate may call runs as the application or reads health:
	// nothing of TabletManager.
	for _, m := range servedMethods() {
		if auth.Allowed(m, gate) && strings.HasPrefix(m, "/mosaic.tabletmanager.") {
			t.Errorf("a gate may call %s", m)
		}
		if auth.Allowed(m, mtls.RoleEtcd) {
			t.Errorf("etcd's certificate may call %s", m)
		}
		if !auth.Allowed(m, operator) {
			t.Errorf("an operator may not call %s", m)
		}
	}
}
