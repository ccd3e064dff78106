package main

import (
	"strings"

	"github.com/spf13/pflag"

	"github.com/mosaicdb/mosaic/cmd/internal/clusterauth"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
)

// topoFlags are the flags that say where the topology lives.
type topoFlags struct {
	endpoints string
	root      string
}

func addTopoFlags(fs *pflag.FlagSet) *topoFlags {
	f := &topoFlags{}
	fs.StringVar(&f.endpoints, "topo-endpoints", "127.0.0.1:2379", "etcd endpoints, comma-separated")
	fs.StringVar(&f.root, "topo-root", etcdstore.DefaultRoot, "key prefix of Mosaic's records in etcd")
	return f
}

// open connects to the topology with the TLS and user of sec.
func (f *topoFlags) open(sec *clusterauth.Setup) (*topo.Server, error) {
	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints = strings.Split(f.endpoints, ",")
	cfg.Root = f.root
	sec.ApplyTopo(&cfg)
	store, err := etcdstore.New(cfg)
	if err != nil {
		return nil, err
	}
	return topo.NewServer(store), nil
}
