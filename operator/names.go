package operator

import (
	"fmt"
	"strconv"
	"strings"
)

// Labels and annotations the operator puts on what it creates.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelKeyspace  = "mosaicdb.io/keyspace"
	labelShard     = "mosaicdb.io/shard"
	labelCell      = "mosaicdb.io/cell"
	labelUID       = "mosaicdb.io/tablet-uid"

	// annotationShard is the shard's exact name ("-80"), which a label
	// value cannot hold.
	annotationShard = "mosaicdb.io/shard-name"
	// annotationTemplate is the hash of the pod template a tablet or
	// gate pod was made from; a pod whose hash differs is rolled.
	annotationTemplate = "mosaicdb.io/template-hash"

	componentTablet = "tablet"
	componentGate   = "gate"
	componentEtcd   = "etcd"
	managerName     = "mosaic-operator"
)

// shardLabel is a shard name as a label value: label values must start and
// end with an alphanumeric, so an open start is "min" and an open end
// "max" ("-80" is "min-80", "80-" is "80-max", "0" stays "0"). Hex has no
// m, i, n or x, so no two shards share a label.
func shardLabel(shard string) string {
	if strings.HasPrefix(shard, "-") {
		shard = "min" + shard
	}
	if strings.HasSuffix(shard, "-") {
		shard += "max"
	}
	return shard
}

// tabletName is the name of a tablet's pod and claim:
// <cluster>-<cell>-<uid>, so the alias <cell>-<uid> is its suffix.
func tabletName(cluster, cell string, uid uint32) string {
	return fmt.Sprintf("%s-%s-%d", cluster, cell, uid)
}

// alias is a tablet's alias in topo.
func alias(cell string, uid uint32) string {
	return cell + "-" + strconv.FormatUint(uint64(uid), 10)
}

func tabletServiceName(cluster string) string { return cluster + "-tablets" }
func gateName(cluster string) string          { return cluster + "-gate" }
func etcdName(cluster string) string          { return cluster + "-etcd" }
func shardPDBName(cluster, ks, shard string) string {
	return fmt.Sprintf("%s-%s-%s", cluster, strings.ReplaceAll(ks, "_", "-"), shardLabel(shard))
}

// shardKey is "<keyspace>/<shard>", the key of per-shard maps.
func shardKey(ks, shard string) string { return ks + "/" + shard }
