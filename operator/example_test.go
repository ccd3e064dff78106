package operator

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
)

// TestExampleDecodes: deploy/examples/mosaic-cluster.yaml names only
// fields the API has, and plans the cluster docs/kubernetes.md describes.
func TestExampleDecodes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "deploy", "examples", "mosaic-cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c v1alpha1.MosaicCluster
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatalf("example: %v", err)
	}
	p := MakePlan(&c, nil, func(Tablet) string { return "" }, Topology{})
	if len(p.Tablets) != 6 {
		t.Fatalf("example plans %d tablets, want 6 (3 shards, a primary and a replica each)", len(p.Tablets))
	}
	if c.Spec.Topo.Managed == nil || c.Spec.SecretsSecret == "" {
		t.Fatalf("example topo %+v secrets %q", c.Spec.Topo, c.Spec.SecretsSecret)
	}
}

// TestExampleAccepted: the API server accepts the example under the
// generated CRD's schema, and refuses a cluster with both an external
// and a managed topo (the CRD's validation rule).
func TestExampleAccepted(t *testing.T) {
	f := newFixture(t)
	b, err := os.ReadFile(filepath.Join("..", "deploy", "examples", "mosaic-cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c v1alpha1.MosaicCluster
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatal(err)
	}
	f.create(&c)
	bad := twoCellCluster()
	bad.Name = "bad"
	bad.Spec.Topo.Managed = &v1alpha1.ManagedTopo{}
	bad.Namespace = f.ns
	if err := f.c.Create(t.Context(), bad); err == nil {
		t.Fatal("a cluster with both an external and a managed topo was accepted")
	}
}
