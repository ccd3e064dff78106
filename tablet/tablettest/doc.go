// Package tablettest starts real tablets (agents with real mariadbd
// children) inside a test, for the end-to-end tests of other packages:
//
//	ts := topo.NewServer(etcdtest.NewStore(t))
//	sh := tablettest.StartShard(t, ts, "commerce", "0", 1)
//	// sh.Primary().GRPCAddr, sh.Replicas()[0].MySQLPort, ...
//
// Tablets get free ports, a temp dir each, and data dirs copied from a
// template shared by all the tests of one machine (see
// mysqlctl.SharedTemplateDir). Everything stops in t.Cleanup.
package tablettest
