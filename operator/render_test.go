package operator

import (
	"slices"
	"testing"

	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
)

// TestTemplateHashFollowsThePodSpec: what rolls a tablet is a change of
// its pod spec, and nothing else (not the status, not another tablet).
func TestTemplateHashFollowsThePodSpec(t *testing.T) {
	c := cluster(map[string]int32{"-80": 1}, "a")
	c.Spec.Image = "mosaic:v1"
	tab := Tablet{UID: 200, Cell: "a", Keyspace: "customer", Shard: "-80"}
	cfg := DefaultConfig()
	base := cfg.TabletTemplate(c, tab)
	if again := cfg.TabletTemplate(c, tab); again != base {
		t.Fatalf("hash not stable: %s, %s", base, again)
	}
	c.Status.Tablets = "1/2"
	if h := cfg.TabletTemplate(c, tab); h != base {
		t.Fatal("status changed the template")
	}
	for name, change := range map[string]func(*v1alpha1.MosaicCluster){
		"image":         func(c *v1alpha1.MosaicCluster) { c.Spec.Image = "mosaic:v2" },
		"mysqld config": func(c *v1alpha1.MosaicCluster) { c.Spec.Tablet.Mysqld.Config = []string{"max_connections=500"} },
		"extra flags":   func(c *v1alpha1.MosaicCluster) { c.Spec.Tablet.ExtraFlags = []string{"--semi-sync=false"} },
	} {
		d := c.DeepCopy()
		change(d)
		if cfg.TabletTemplate(d, tab) == base {
			t.Errorf("a change of %s does not change the template", name)
		}
	}
}

func TestUIDPorts(t *testing.T) {
	c := cluster(map[string]int32{"-80": 1}, "a")
	cfg := Config{UIDPorts: true, PortOffset: 3000}
	p := cfg.TabletPod(c, Tablet{UID: 201, Cell: "a", Keyspace: "customer", Shard: "-80"})
	args := p.Spec.Containers[0].Args
	for _, want := range []string{"--mysql-port=20201", "--grpc-port=21201", "--http-port=22201"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	if err := (Config{PortOffset: 20000}).Validate(); err == nil {
		t.Error("an offset that puts ports in the ephemeral range is accepted")
	}
}
