package operator

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/testports"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// The envtest tests share one kube-apiserver and etcd (built by
// scripts/k8s-test-assets.sh; `make operator-test` passes their folder in
// KUBEBUILDER_ASSETS), each test in a namespace of its own. There is no
// kubelet, scheduler or controller-manager: the tests play the kubelet
// (pod readiness) and the garbage collector is absent, so deletion by
// owner is checked through the owner references.

var (
	envOnce sync.Once
	envCfg  *rest.Config
	envErr  error
)

func testEnv(t *testing.T) *rest.Config {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: `make operator-test` builds the API server and runs these tests")
	}
	envOnce.Do(func() { envCfg, envErr = startEnv() })
	if envErr != nil {
		t.Fatalf("start envtest: %v", envErr)
	}
	return envCfg
}

// envStop stops the shared control plane (TestMain).
var envStop func()

func TestMain(m *testing.M) {
	code := m.Run()
	if envStop != nil {
		envStop()
	}
	os.Exit(code)
}

func startEnv() (*rest.Config, error) {
	ports, err := testports.Free(3)
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "deploy", "crd")},
		ErrorIfCRDPathMissing: true,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{URL: &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))}}
	env.ControlPlane.Etcd.Configure().Set("listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[1]))
	api := &envtest.APIServer{}
	api.SecureServing.Address, api.SecureServing.Port = "127.0.0.1", strconv.Itoa(ports[2])
	// The host has only loopback: the API server must not try to publish
	// its own endpoint.
	api.Configure().Set("endpoint-reconciler-type", "none")
	env.ControlPlane.APIServer = api
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	envStop = func() { env.Stop() }
	return cfg, nil
}

func testScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// fakeTablets stands for the tablets' side of InitPrimary and Reparent
// over a real topo.Server on the memory store: it records each call and
// writes the shard's new primary as the tablets would.
type fakeTablets struct {
	*TopoServer
	mu    sync.Mutex
	calls []string
}

func (f *fakeTablets) setPrimary(ctx context.Context, t Tablet) error {
	a, err := topo.ParseAlias(t.Alias())
	if err != nil {
		return err
	}
	_, err = f.TS.UpdateShardFields(ctx, t.Keyspace, t.Shard, func(sh *topodatapb.Shard) error {
		sh.PrimaryAlias = a
		return nil
	})
	return err
}

func (f *fakeTablets) InitPrimary(ctx context.Context, _ *v1alpha1.MosaicCluster, t Tablet) error {
	f.record("init-primary " + t.String())
	return f.setPrimary(ctx, t)
}

func (f *fakeTablets) Reparent(ctx context.Context, _ *v1alpha1.MosaicCluster, t Tablet) error {
	f.record("reparent " + t.String())
	return f.setPrimary(ctx, t)
}

func (f *fakeTablets) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeTablets) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

// fixture is one test's namespace, client, reconciler and topo.
type fixture struct {
	t       *testing.T
	c       client.Client
	r       *Reconciler
	ns      string
	tablets *fakeTablets
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg := testEnv(t)
	c, err := client.New(cfg, client.Options{Scheme: testScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("t%d", time.Now().UnixNano()%1e9)
	if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	ts := topo.NewServer(memstore.New())
	t.Cleanup(func() { ts.Close() })
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ft := &fakeTablets{TopoServer: &TopoServer{TS: ts, Log: log}}
	r := &Reconciler{Client: c, Config: DefaultConfig(), Log: log,
		OpenTopo: func(context.Context, *v1alpha1.MosaicCluster) (Topo, error) { return ft, nil }}
	return &fixture{t: t, c: c, r: r, ns: ns, tablets: ft}
}

func (f *fixture) create(mc *v1alpha1.MosaicCluster) {
	f.t.Helper()
	mc.Namespace = f.ns
	if err := f.c.Create(f.t.Context(), mc); err != nil {
		f.t.Fatalf("create cluster: %v", err)
	}
}

func (f *fixture) reconcile(name string) {
	f.t.Helper()
	if _, err := f.r.Reconcile(f.t.Context(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: f.ns, Name: name}}); err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
}

func (f *fixture) get(name string) *v1alpha1.MosaicCluster {
	f.t.Helper()
	var mc v1alpha1.MosaicCluster
	if err := f.c.Get(f.t.Context(), types.NamespacedName{Namespace: f.ns, Name: name}, &mc); err != nil {
		f.t.Fatal(err)
	}
	return &mc
}

func (f *fixture) pods() map[string]corev1.Pod {
	f.t.Helper()
	var l corev1.PodList
	if err := f.c.List(f.t.Context(), &l, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]corev1.Pod{}
	for _, p := range l.Items {
		out[p.Name] = p
	}
	return out
}

func (f *fixture) claims() map[string]corev1.PersistentVolumeClaim {
	f.t.Helper()
	var l corev1.PersistentVolumeClaimList
	if err := f.c.List(f.t.Context(), &l, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]corev1.PersistentVolumeClaim{}
	for _, p := range l.Items {
		out[p.Name] = p
	}
	return out
}

// markReady plays the kubelet: every pod is Running and Ready, every
// gate Deployment has its replicas ready.
func (f *fixture) markReady() {
	f.t.Helper()
	for _, p := range f.pods() {
		if podReady(&p) {
			continue
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		if err := f.c.Status().Update(f.t.Context(), &p); err != nil {
			f.t.Fatalf("pod %s status: %v", p.Name, err)
		}
	}
	var ds appsv1.DeploymentList
	if err := f.c.List(f.t.Context(), &ds, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	for _, d := range ds.Items {
		d.Status.Replicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = *d.Spec.Replicas, *d.Spec.Replicas, *d.Spec.Replicas
		if err := f.c.Status().Update(f.t.Context(), &d); err != nil {
			f.t.Fatalf("deployment %s status: %v", d.Name, err)
		}
	}
}

func condition(mc *v1alpha1.MosaicCluster, typ string) metav1.Condition {
	for _, c := range mc.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

func twoCellCluster() *v1alpha1.MosaicCluster {
	one, two := int32(1), int32(2)
	return &v1alpha1.MosaicCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "demo"},
		Spec: v1alpha1.MosaicClusterSpec{
			Image: "mosaic:v1",
			Cells: []v1alpha1.Cell{{Name: "a", Zone: "zone-a"}, {Name: "b", Zone: "zone-b"}},
			Topo:  v1alpha1.TopoSpec{External: &v1alpha1.ExternalTopo{Endpoints: []string{"etcd:2379"}}},
			Keyspaces: []v1alpha1.Keyspace{
				{Name: "commerce", Shards: []v1alpha1.Shard{{Name: "0", Replicas: &one}}},
				{Name: "customer", Shards: []v1alpha1.Shard{{Name: "-80", Replicas: &two}, {Name: "80-", Replicas: &two}}},
			},
			SecretsSecret: "mosaic-secrets",
		},
	}
}
