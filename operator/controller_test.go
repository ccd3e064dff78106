package operator

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	f.create(twoCellCluster())
	f.reconcile("demo")

	wantTablets := []string{"demo-a-100", "demo-a-200", "demo-a-202", "demo-a-300", "demo-a-302", "demo-b-101", "demo-b-201", "demo-b-301"}
	pods := f.pods()
	if got := sortedKeys(pods); !slices.Equal(got, wantTablets) {
		t.Fatalf("pods %v, want %v", got, wantTablets)
	}
	claims := f.claims()
	if got := sortedKeys(claims); !slices.Equal(got, wantTablets) {
		t.Fatalf("claims %v, want %v", got, wantTablets)
	}
	// commerce/0 (first in the spec) got 100-101, customer/-80 200-202,
	// customer/80- 300-302.
	p := pods["demo-b-201"]
	if p.Labels[labelKeyspace] != "customer" || p.Annotations[annotationShard] != "-80" || p.Labels[labelShard] != "min-80" || p.Labels[labelCell] != "b" {
		t.Fatalf("pod demo-b-201 labels %v annotations %v", p.Labels, p.Annotations)
	}
	args := strings.Join(p.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--alias=b-201", "--keyspace=customer", "--shard=-80", "--topo-endpoints=etcd:2379", "--secrets-file=/etc/mosaic/secrets/secrets.yaml", "--hostname=$(POD_NAME).demo-tablets.$(POD_NAMESPACE).svc"} {
		if !strings.Contains(args, want) {
			t.Errorf("tablet args %q lack %q", args, want)
		}
	}
	if p.Spec.Hostname != "demo-b-201" || p.Spec.Subdomain != "demo-tablets" {
		t.Errorf("pod hostname %q subdomain %q", p.Spec.Hostname, p.Spec.Subdomain)
	}
	if c := claims["demo-b-201"]; len(c.OwnerReferences) != 0 || c.Spec.Resources.Requests.Storage().String() != "10Gi" {
		t.Errorf("claim owners %v size %v: want no owner (data outlives the cluster object) and 10Gi", c.OwnerReferences, c.Spec.Resources.Requests.Storage())
	}
	if c := p.Spec.Containers[0]; c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe == nil || c.StartupProbe == nil {
		t.Errorf("tablet probes: readiness %v liveness %v startup %v", c.ReadinessProbe, c.LivenessProbe, c.StartupProbe)
	}

	// Anti-affinity: a shard's tablets prefer different zones and nodes;
	// each is pinned to its cell's zone.
	aff := p.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || aff.NodeAffinity == nil {
		t.Fatalf("affinity %v", aff)
	}
	terms := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	if len(terms) != 2 || terms[0].PodAffinityTerm.TopologyKey != "topology.kubernetes.io/zone" || terms[1].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Fatalf("anti-affinity terms %+v", terms)
	}
	wantSel := map[string]string{labelInstance: "demo", labelComponent: "tablet", labelKeyspace: "customer", labelShard: "min-80"}
	if got := terms[0].PodAffinityTerm.LabelSelector.MatchLabels; !mapsEqual(got, wantSel) {
		t.Fatalf("anti-affinity selector %v, want %v", got, wantSel)
	}
	req := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0]
	if req.Key != "topology.kubernetes.io/zone" || !slices.Equal(req.Values, []string{"zone-b"}) {
		t.Fatalf("node affinity %+v, want zone-b", req)
	}

	// Budgets: one per shard, one for the gates, at most one down each.
	var pdbs policyv1.PodDisruptionBudgetList
	if err := f.c.List(t.Context(), &pdbs, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	gotPDB := map[string]string{}
	for _, b := range pdbs.Items {
		if b.Spec.MaxUnavailable == nil || b.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("budget %s maxUnavailable %v", b.Name, b.Spec.MaxUnavailable)
		}
		gotPDB[b.Name] = b.Spec.Selector.MatchLabels[labelShard]
	}
	wantPDB := map[string]string{"demo-commerce-0": "0", "demo-customer-min-80": "min-80", "demo-customer-80-max": "80-max", "demo-gate": ""}
	if !mapsEqual(gotPDB, wantPDB) {
		t.Fatalf("budgets %v, want %v", gotPDB, wantPDB)
	}

	// Services and gates.
	var svc corev1.Service
	if err := f.c.Get(t.Context(), types.NamespacedName{Namespace: f.ns, Name: "demo-tablets"}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Fatalf("tablet service clusterIP %q publishNotReady %v", svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	for _, cell := range []string{"a", "b"} {
		var d appsv1.Deployment
		if err := f.c.Get(t.Context(), types.NamespacedName{Namespace: f.ns, Name: "demo-gate-" + cell}, &d); err != nil {
			t.Fatalf("gate of cell %s: %v", cell, err)
		}
		if *d.Spec.Replicas != 2 || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--cell="+cell) {
			t.Fatalf("gate %s replicas %d args %v", cell, *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Args)
		}
	}
	if err := f.c.Get(t.Context(), types.NamespacedName{Namespace: f.ns, Name: "demo-gate"}, &svc); err != nil || svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Fatalf("gate service %v type %q", err, svc.Spec.Type)
	}

	// Topo: the keyspaces exist with their shards serving.
	rec, err := f.tablets.TS.GetKeyspace(t.Context(), "customer")
	if err != nil {
		t.Fatal(err)
	}
	if got := topo.ServedShards(rec, topodatapb.TabletType_PRIMARY); !slices.Equal(got, []string{"-80", "80-"}) {
		t.Fatalf("customer serves %v", got)
	}

	// Status before any pod is ready.
	mc := f.get("demo")
	if mc.Status.Tablets != "0/8" || mc.Status.Gates != "0/4" {
		t.Fatalf("status tablets %q gates %q", mc.Status.Tablets, mc.Status.Gates)
	}
	if c := condition(mc, v1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != "TabletsNotReady" {
		t.Fatalf("Ready %+v", c)
	}
	if c := condition(mc, v1alpha1.ConditionProgressing); c.Status != metav1.ConditionTrue {
		t.Fatalf("Progressing %+v", c)
	}

	// Everything ready: each shard gets its lowest uid as first primary,
	// then the cluster is Ready.
	f.markReady()
	f.reconcile("demo")
	calls := f.tablets.takeCalls()
	want := []string{"init-primary commerce/0 a-100", "init-primary customer/-80 a-200", "init-primary customer/80- a-300"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	f.reconcile("demo")
	mc = f.get("demo")
	if c := condition(mc, v1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Fatalf("Ready %+v, status %+v", c, mc.Status)
	}
	if mc.Status.Tablets != "8/8" || mc.Status.Gates != "4/4" {
		t.Fatalf("status tablets %q gates %q", mc.Status.Tablets, mc.Status.Gates)
	}
	sh := mc.Status.Keyspaces[1].Shards[0]
	if mc.Status.Keyspaces[1].Name != "customer" || sh.Name != "-80" || sh.Primary != "a-200" || !sh.Serving || sh.Tablets != 3 || sh.ReadyTablets != 3 || sh.UpdatedTablets != 3 {
		t.Fatalf("shard status %+v", sh)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// readyCluster creates the two-cell cluster and brings it to Ready.
func readyCluster(f *fixture) {
	f.t.Helper()
	f.create(twoCellCluster())
	f.reconcile("demo")
	f.markReady()
	f.reconcile("demo")
	f.tablets.takeCalls()
	f.reconcile("demo")
}

func TestScale(t *testing.T) {
	f := newFixture(t)
	readyCluster(f)
	// Make the highest uid of customer/-80 its primary: scaling down to
	// no replica must remove the two others.
	if err := f.tablets.setPrimary(t.Context(), Tablet{UID: 202, Cell: "a", Keyspace: "customer", Shard: "-80"}); err != nil {
		t.Fatal(err)
	}
	mc := f.get("demo")
	zero := int32(0)
	mc.Spec.Keyspaces[1].Shards[0].Replicas = &zero
	if err := f.c.Update(t.Context(), mc); err != nil {
		t.Fatal(err)
	}
	f.reconcile("demo")
	pods, claims := f.pods(), f.claims()
	for _, gone := range []string{"demo-a-200", "demo-b-201"} {
		if _, ok := pods[gone]; ok {
			t.Errorf("pod %s still there", gone)
		}
		if _, ok := claims[gone]; ok {
			if c := claims[gone]; c.DeletionTimestamp.IsZero() {
				t.Errorf("claim %s not deleted", gone)
			}
		}
	}
	if _, ok := pods["demo-a-202"]; !ok {
		t.Fatal("the primary demo-a-202 was removed")
	}

	// Scale up to 2 replicas: two new tablets in the shard's block, in the
	// cells with the fewest of its tablets (b, then a).
	two := int32(2)
	mc = f.get("demo")
	mc.Spec.Keyspaces[1].Shards[0].Replicas = &two
	if err := f.c.Update(t.Context(), mc); err != nil {
		t.Fatal(err)
	}
	f.reconcile("demo")
	pods = f.pods()
	var shard []string
	for name, p := range pods {
		if p.Annotations[annotationShard] == "-80" {
			shard = append(shard, name)
		}
	}
	sort.Strings(shard)
	// 200 and 201 are free again once their claims are gone; a claim
	// being deleted (kept by its protection finalizer here, with no
	// controller-manager) still holds its uid.
	if len(shard) != 3 || !slices.Contains(shard, "demo-a-202") {
		t.Fatalf("customer/-80 pods %v", shard)
	}
	cells := map[string]int{}
	for _, name := range shard {
		cells[pods[name].Labels[labelCell]]++
	}
	if cells["a"] == 0 || cells["b"] == 0 {
		t.Fatalf("customer/-80 pods %v all in one cell", shard)
	}
}

func TestPodDeletedComesBackWithItsClaim(t *testing.T) {
	f := newFixture(t)
	readyCluster(f)
	before := f.claims()["demo-b-301"]
	p := f.pods()["demo-b-301"]
	if err := f.c.Delete(t.Context(), &p); err != nil {
		t.Fatal(err)
	}
	// Unscheduled pods go at once (no kubelet to wait for).
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := f.pods()["demo-b-301"]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pod not deleted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.reconcile("demo")
	again, ok := f.pods()["demo-b-301"]
	if !ok {
		t.Fatal("pod demo-b-301 not recreated")
	}
	if again.UID == p.UID {
		t.Fatal("same pod object")
	}
	if again.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "demo-b-301" {
		t.Fatalf("recreated pod mounts %v", again.Spec.Volumes[0])
	}
	if after := f.claims()["demo-b-301"]; after.UID != before.UID {
		t.Fatal("the claim was replaced")
	}
	if strings.Join(again.Spec.Containers[0].Args, " ") != strings.Join(p.Spec.Containers[0].Args, " ") {
		t.Fatalf("identity changed: %v vs %v", again.Spec.Containers[0].Args, p.Spec.Containers[0].Args)
	}
}

// TestRollingChange changes the image and follows the reconciler step by
// step, playing the kubelet (a deleted pod is recreated by the next
// reconcile and becomes ready): per shard the replicas roll first, then a
// planned reparent, then the old primary.
func TestRollingChange(t *testing.T) {
	f := newFixture(t)
	readyCluster(f)
	mc := f.get("demo")
	mc.Spec.Image = "mosaic:v2"
	if err := f.c.Update(t.Context(), mc); err != nil {
		t.Fatal(err)
	}
	uids := func() map[string]types.UID {
		out := map[string]types.UID{}
		for n, p := range f.pods() {
			out[n] = p.UID
		}
		return out
	}
	var log []string
	// step reconciles once and logs what it did to customer/-80: the
	// calls to its tablets and the pods it deleted (a pod whose uid
	// changed or that is gone).
	step := func() {
		before := uids()
		f.reconcile("demo")
		for _, c := range f.tablets.takeCalls() {
			if strings.Contains(c, "customer/-80") {
				log = append(log, c)
			}
		}
		after := uids()
		for n, u := range before {
			if after[n] != u && f.podShard(n) == "-80" {
				log = append(log, "roll "+n)
			}
		}
	}
	for i := 0; i < 40; i++ {
		step()
		step() // recreates the deleted pods
		f.markReady()
		if c := condition(f.get("demo"), v1alpha1.ConditionProgressing); c.Status == metav1.ConditionFalse {
			break
		}
	}
	want := []string{"roll demo-b-201", "roll demo-a-202", "reparent customer/-80 a-202", "roll demo-a-200"}
	if !slices.Equal(log, want) {
		t.Fatalf("customer/-80 rolled\n%v\nwant\n%v", log, want)
	}
	for n, p := range f.pods() {
		if p.Spec.Containers[0].Image != "mosaic:v2" || p.Annotations[annotationTemplate] != f.r.Config.TabletTemplate(mc, f.observedTablet(p)) {
			t.Errorf("pod %s runs %s", n, p.Spec.Containers[0].Image)
		}
	}
	var d appsv1.Deployment
	if err := f.c.Get(t.Context(), types.NamespacedName{Namespace: f.ns, Name: "demo-gate-a"}, &d); err != nil || d.Spec.Template.Spec.Containers[0].Image != "mosaic:v2" {
		t.Fatalf("gate image %v %v", err, d.Spec.Template.Spec.Containers[0].Image)
	}
}

// observedTablet is the identity of a tablet pod, from its labels.
func (f *fixture) observedTablet(p corev1.Pod) Tablet {
	uid, err := strconv.ParseUint(p.Labels[labelUID], 10, 32)
	if err != nil {
		f.t.Fatal(err)
	}
	return Tablet{UID: uint32(uid), Cell: p.Labels[labelCell], Keyspace: p.Labels[labelKeyspace], Shard: p.Annotations[annotationShard]}
}

// podShard is the shard of a tablet pod, from its claim (the pod may be
// gone).
func (f *fixture) podShard(name string) string {
	return f.claims()[name].Annotations[annotationShard]
}

func TestShardRemovedFromSpec(t *testing.T) {
	f := newFixture(t)
	readyCluster(f)
	mc := f.get("demo")
	mc.Spec.Keyspaces = mc.Spec.Keyspaces[1:] // commerce goes
	if err := f.c.Update(t.Context(), mc); err != nil {
		t.Fatal(err)
	}
	f.reconcile("demo")
	pods, claims := f.pods(), f.claims()
	for _, n := range []string{"demo-a-100", "demo-b-101"} {
		if _, ok := pods[n]; ok {
			t.Errorf("pod %s of a removed shard still there", n)
		}
		if c, ok := claims[n]; !ok || !c.DeletionTimestamp.IsZero() {
			t.Errorf("claim %s of a removed shard deleted: its data must stay", n)
		}
	}
	var b policyv1.PodDisruptionBudget
	err := f.c.Get(t.Context(), types.NamespacedName{Namespace: f.ns, Name: "demo-commerce-0"}, &b)
	if !apierrors.IsNotFound(err) {
		t.Fatalf("budget of the removed shard: %v", err)
	}
}

func TestOwnedObjectsPointAtTheCluster(t *testing.T) {
	f := newFixture(t)
	f.create(twoCellCluster())
	f.reconcile("demo")
	mc := f.get("demo")
	check := func(kind string, list client.ObjectList, items func() []client.Object) {
		if err := f.c.List(t.Context(), list, client.InNamespace(f.ns)); err != nil {
			t.Fatal(err)
		}
		for _, o := range items() {
			refs := o.GetOwnerReferences()
			if len(refs) != 1 || refs[0].UID != mc.UID || refs[0].Controller == nil || !*refs[0].Controller {
				t.Errorf("%s %s owners %v", kind, o.GetName(), refs)
			}
		}
	}
	var pods corev1.PodList
	check("pod", &pods, func() []client.Object { return objs(pods.Items) })
	var svcs corev1.ServiceList
	check("service", &svcs, func() []client.Object { return objs(svcs.Items) })
	var ds appsv1.DeploymentList
	check("deployment", &ds, func() []client.Object { return objs(ds.Items) })
	var pdbs policyv1.PodDisruptionBudgetList
	check("budget", &pdbs, func() []client.Object { return objs(pdbs.Items) })
}

func objs[T any, P interface {
	*T
	client.Object
}](items []T) []client.Object {
	out := make([]client.Object, 0, len(items))
	for i := range items {
		out = append(out, P(&items[i]))
	}
	return out
}

// TestManagerRecreatesDeletedPod runs the reconciler in a
// controller-runtime manager: the watches alone bring a deleted tablet
// pod back.
func TestManagerRecreatesDeletedPod(t *testing.T) {
	f := newFixture(t)
	mgr, err := ctrl.NewManager(testEnv(t), ctrl.Options{
		Scheme:  testScheme(t),
		Metrics: metricsserver.Options{BindAddress: "0"},
		// No health probe listener, no leader election.
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: mgr.GetClient(), Config: DefaultConfig(), Log: f.r.Log, OpenTopo: f.r.OpenTopo, Resync: time.Hour}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	f.create(twoCellCluster())
	waitFor(t, "8 tablet pods", func() bool { return len(f.pods()) == 8 })
	p := f.pods()["demo-a-200"]
	if err := f.c.Delete(t.Context(), &p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "demo-a-200 recreated", func() bool {
		q, ok := f.pods()["demo-a-200"]
		return ok && q.UID != p.UID
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
