package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
)

// Reconciler reconciles MosaicClusters. Its decisions are MakePlan's and
// the render functions'; it reads, writes and reports.
type Reconciler struct {
	Client client.Client
	Config Config
	// OpenTopo returns the Topo of a cluster (nil OpenTopo: topo is
	// never read; nothing that needs a shard's primary happens).
	OpenTopo func(ctx context.Context, c *v1alpha1.MosaicCluster) (Topo, error)
	Log      *slog.Logger
	// Resync is how often a cluster is reconciled without any change of
	// its objects, to follow topo (primaries change by failover).
	Resync time.Duration
}

// SetupWithManager registers the reconciler: it watches MosaicClusters,
// the objects they own, and the tablets' claims (which have no owner).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	byInstance := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		name := o.GetLabels()[labelInstance]
		if name == "" || o.GetLabels()[labelManagedBy] != managerName {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.MosaicCluster{}).
		Owns(&corev1.Pod{}).
		Owns(&corev1.Service{}).
		Owns(&appsv1.Deployment{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.PersistentVolumeClaim{}, byInstance).
		Complete(r)
}

// Reconcile brings one cluster's objects to its spec and reports status.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var c v1alpha1.MosaicCluster
	if err := r.Client.Get(ctx, req.NamespacedName, &c); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !c.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	log := r.Log.With("cluster", req.String())
	if m := c.Spec.Topo.Managed; m != nil {
		peers, clientSvc, sts := EtcdObjects(&c)
		if err := r.applyService(ctx, peers); err != nil {
			return reconcile.Result{}, err
		}
		if err := r.applyService(ctx, clientSvc); err != nil {
			return reconcile.Result{}, err
		}
		if err := r.apply(ctx, sts, func(have client.Object) {
			h := have.(*appsv1.StatefulSet)
			h.Spec.Replicas, h.Spec.Template = sts.Spec.Replicas, sts.Spec.Template
		}); err != nil {
			return reconcile.Result{}, err
		}
	}
	observed, pods, err := r.observe(ctx, &c)
	if err != nil {
		return reconcile.Result{}, err
	}
	var tp Topo
	var topology Topology
	var serving map[string][]string
	var topoErr error
	if r.OpenTopo != nil {
		if tp, topoErr = r.OpenTopo(ctx, &c); topoErr == nil {
			if topoErr = tp.EnsureKeyspaces(ctx, &c); topoErr == nil {
				topology, serving, topoErr = tp.Read(ctx, &c)
			}
		}
		if topoErr != nil {
			log.Warn("topo not read", "err", topoErr)
			topology = Topology{}
		}
	}
	template := func(t Tablet) string { return r.Config.TabletTemplate(&c, t) }
	plan := MakePlan(&c, observed, template, topology)

	for _, t := range plan.Tablets {
		if err := r.createIfMissing(ctx, TabletClaim(&c, t)); err != nil {
			return reconcile.Result{}, err
		}
		if p, ok := pods[t.UID]; ok && p.DeletionTimestamp.IsZero() {
			continue
		} else if ok {
			continue // recreated once the old pod is gone
		}
		if err := r.createIfMissing(ctx, r.Config.TabletPod(&c, t)); err != nil {
			return reconcile.Result{}, err
		}
		log.Info("tablet pod created", "tablet", t.String())
	}
	for _, t := range plan.Remove {
		if err := r.deleteTablet(ctx, &c, t, true); err != nil {
			return reconcile.Result{}, err
		}
		log.Info("tablet removed", "tablet", t.String())
	}
	for _, t := range plan.Orphans {
		if err := r.deleteTablet(ctx, &c, t, false); err != nil {
			return reconcile.Result{}, err
		}
	}
	var stepErr error
	for _, s := range plan.Steps {
		switch s.Kind {
		case RollPod:
			err = r.deleteTablet(ctx, &c, s.Tablet, false)
		case Reparent:
			err = tp.Reparent(ctx, &c, s.Tablet)
		case InitPrimary:
			err = tp.InitPrimary(ctx, &c, s.Tablet)
		}
		if err != nil {
			log.Warn("step failed", "step", s.String(), "err", err)
			stepErr = errors.Join(stepErr, err)
			continue
		}
		log.Info("step done", "step", s.String())
	}
	if err := r.applyShared(ctx, &c); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.writeStatus(ctx, &c, plan, pods, topology, serving, topoErr, stepErr); err != nil {
		return reconcile.Result{}, err
	}
	resync := r.Resync
	if resync == 0 {
		resync = 10 * time.Second
	}
	if len(plan.Steps) > 0 {
		resync = time.Second
	}
	return reconcile.Result{RequeueAfter: resync}, nil
}

// observe lists the cluster's tablet pods and claims.
func (r *Reconciler) observe(ctx context.Context, c *v1alpha1.MosaicCluster) ([]Observed, map[uint32]*corev1.Pod, error) {
	sel := client.MatchingLabels{labelInstance: c.Name, labelComponent: componentTablet, labelManagedBy: managerName}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(c.Namespace), sel); err != nil {
		return nil, nil, fmt.Errorf("list tablet pods: %w", err)
	}
	var claims corev1.PersistentVolumeClaimList
	if err := r.Client.List(ctx, &claims, client.InNamespace(c.Namespace), sel); err != nil {
		return nil, nil, fmt.Errorf("list tablet claims: %w", err)
	}
	byUID := map[uint32]*Observed{}
	get := func(m metav1.Object) *Observed {
		uid, err := strconv.ParseUint(m.GetLabels()[labelUID], 10, 32)
		if err != nil {
			return nil
		}
		o := byUID[uint32(uid)]
		if o == nil {
			o = &Observed{Tablet: Tablet{UID: uint32(uid), Cell: m.GetLabels()[labelCell], Keyspace: m.GetLabels()[labelKeyspace], Shard: m.GetAnnotations()[annotationShard]}}
			byUID[uint32(uid)] = o
		}
		return o
	}
	podByUID := map[uint32]*corev1.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		o := get(p)
		if o == nil {
			continue
		}
		podByUID[o.UID] = p
		o.HasPod = true
		o.Terminating = !p.DeletionTimestamp.IsZero()
		o.Ready = podReady(p)
		o.Template = p.Annotations[annotationTemplate]
	}
	for i := range claims.Items {
		// A claim being deleted still reserves its uid (its name), but
		// the tablet is gone unless its pod is left.
		if o := get(&claims.Items[i]); o != nil && claims.Items[i].DeletionTimestamp.IsZero() {
			o.HasClaim = true
		}
	}
	out := make([]Observed, 0, len(byUID))
	for _, o := range byUID {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out, podByUID, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// deleteTablet deletes a tablet's pod, and its claim too when claim.
func (r *Reconciler) deleteTablet(ctx context.Context, c *v1alpha1.MosaicCluster, t Tablet, claim bool) error {
	name := tabletName(c.Name, t.Cell, t.UID)
	meta := metav1.ObjectMeta{Name: name, Namespace: c.Namespace}
	if err := r.Client.Delete(ctx, &corev1.Pod{ObjectMeta: meta}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s: %w", name, err)
	}
	if !claim {
		return nil
	}
	if err := r.Client.Delete(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: meta}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete claim %s: %w", name, err)
	}
	return nil
}

// createIfMissing creates obj unless an object of its name exists.
func (r *Reconciler) createIfMissing(ctx context.Context, obj client.Object) error {
	err := r.Client.Create(ctx, obj)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// apply creates want, or updates the existing object: its labels, owner
// references and what set copies from want.
func (r *Reconciler) apply(ctx context.Context, want client.Object, set func(have client.Object)) error {
	have := want.DeepCopyObject().(client.Object)
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, have, func() error {
		have.SetLabels(want.GetLabels())
		have.SetOwnerReferences(want.GetOwnerReferences())
		if have.GetResourceVersion() != "" {
			set(have)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply %T %s: %w", want, want.GetName(), err)
	}
	return nil
}

func (r *Reconciler) applyService(ctx context.Context, want *corev1.Service) error {
	return r.apply(ctx, want, func(have client.Object) {
		h := have.(*corev1.Service)
		h.Spec.Type, h.Spec.Selector, h.Spec.Ports = want.Spec.Type, want.Spec.Selector, want.Spec.Ports
		h.Spec.PublishNotReadyAddresses = want.Spec.PublishNotReadyAddresses
	})
}

// applyShared applies the objects that are not one tablet's: the tablet
// Service, the shards' budgets, the gates.
func (r *Reconciler) applyShared(ctx context.Context, c *v1alpha1.MosaicCluster) error {
	if err := r.applyService(ctx, r.Config.TabletService(c)); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, ks := range c.Spec.Keyspaces {
		for _, sh := range ks.Shards {
			pdb := ShardPDB(c, ks.Name, sh.Name)
			want[pdb.Name] = true
			if err := r.apply(ctx, pdb, func(have client.Object) { have.(*policyv1.PodDisruptionBudget).Spec = pdb.Spec }); err != nil {
				return err
			}
		}
	}
	var pdbs policyv1.PodDisruptionBudgetList
	if err := r.Client.List(ctx, &pdbs, client.InNamespace(c.Namespace), client.MatchingLabels{labelInstance: c.Name, labelComponent: componentTablet}); err != nil {
		return fmt.Errorf("list budgets: %w", err)
	}
	for i := range pdbs.Items {
		if !want[pdbs.Items[i].Name] {
			if err := r.Client.Delete(ctx, &pdbs.Items[i]); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete budget %s: %w", pdbs.Items[i].Name, err)
			}
		}
	}
	for _, cell := range c.Spec.Cells {
		d := r.Config.GateDeployment(c, cell)
		if err := r.apply(ctx, d, func(have client.Object) {
			h := have.(*appsv1.Deployment)
			h.Spec.Replicas, h.Spec.Template, h.Spec.Strategy = d.Spec.Replicas, d.Spec.Template, d.Spec.Strategy
		}); err != nil {
			return err
		}
	}
	if err := r.applyService(ctx, r.Config.GateService(c)); err != nil {
		return err
	}
	pdb := GatePDB(c)
	return r.apply(ctx, pdb, func(have client.Object) { have.(*policyv1.PodDisruptionBudget).Spec = pdb.Spec })
}

// writeStatus reports what was observed and planned.
func (r *Reconciler) writeStatus(ctx context.Context, c *v1alpha1.MosaicCluster, plan Plan, pods map[uint32]*corev1.Pod, topology Topology, serving map[string][]string, topoErr, stepErr error) error {
	st := v1alpha1.MosaicClusterStatus{ObservedGeneration: c.Generation, Conditions: c.Status.Conditions}
	byShard := map[string]*v1alpha1.ShardStatus{}
	var desired, ready int
	allPrimaries := true
	for _, ks := range c.Spec.Keyspaces {
		ksst := v1alpha1.KeyspaceStatus{Name: ks.Name, ServingShards: serving[ks.Name]}
		for _, sh := range ks.Shards {
			k := shardKey(ks.Name, sh.Name)
			s := v1alpha1.ShardStatus{Name: sh.Name, Primary: topology.Primaries[k]}
			for _, name := range serving[ks.Name] {
				s.Serving = s.Serving || name == sh.Name
			}
			allPrimaries = allPrimaries && s.Primary != ""
			ksst.Shards = append(ksst.Shards, s)
		}
		st.Keyspaces = append(st.Keyspaces, ksst)
	}
	for i := range st.Keyspaces {
		for j := range st.Keyspaces[i].Shards {
			byShard[shardKey(st.Keyspaces[i].Name, st.Keyspaces[i].Shards[j].Name)] = &st.Keyspaces[i].Shards[j]
		}
	}
	updated := 0
	for _, t := range plan.Tablets {
		s := byShard[shardKey(t.Keyspace, t.Shard)]
		desired++
		s.Tablets++
		p := pods[t.UID]
		if p == nil || !p.DeletionTimestamp.IsZero() {
			continue
		}
		if podReady(p) {
			ready++
			s.ReadyTablets++
		}
		if p.Annotations[annotationTemplate] == r.Config.TabletTemplate(c, t) {
			updated++
			s.UpdatedTablets++
		}
	}
	st.Tablets = fmt.Sprintf("%d/%d", ready, desired)
	var gatesWant, gatesReady int32
	for _, cell := range c.Spec.Cells {
		var d appsv1.Deployment
		name := gateName(c.Name) + "-" + cell.Name
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: name}, &d); err != nil {
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("read gate deployment %s: %w", name, err)
			}
			continue
		}
		if d.Spec.Replicas != nil {
			gatesWant += *d.Spec.Replicas
		}
		gatesReady += d.Status.ReadyReplicas
	}
	st.Gates = fmt.Sprintf("%d/%d", gatesReady, gatesWant)

	gen := c.Generation
	progressing := len(plan.Steps) > 0 || len(plan.Remove) > 0 || len(plan.Orphans) > 0 || ready < desired || updated < desired
	switch {
	case progressing:
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: "Reconciling", Message: fmt.Sprintf("%d/%d tablets ready, %d/%d on the current template", ready, desired, updated, desired), ObservedGeneration: gen})
	default:
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: "Reconciled", Message: "every tablet exists, is ready and runs the current template", ObservedGeneration: gen})
	}
	var degraded []string
	if topoErr != nil {
		degraded = append(degraded, "topo: "+topoErr.Error())
	}
	if stepErr != nil {
		degraded = append(degraded, stepErr.Error())
	}
	keys := make([]string, 0, len(plan.Waiting))
	for k := range plan.Waiting {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if w := plan.Waiting[k]; w == "no free tablet uid" {
			degraded = append(degraded, k+": "+w)
		}
	}
	if len(degraded) > 0 {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: "Error", Message: truncate(fmt.Sprint(degraded)), ObservedGeneration: gen})
	} else {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: "Healthy", Message: "nothing failed", ObservedGeneration: gen})
	}
	readyCond := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Serving", Message: "every tablet and gate is ready and every shard has a primary", ObservedGeneration: gen}
	switch {
	case ready < desired:
		readyCond.Status, readyCond.Reason, readyCond.Message = metav1.ConditionFalse, "TabletsNotReady", fmt.Sprintf("%d/%d tablets ready", ready, desired)
	case gatesReady < gatesWant:
		readyCond.Status, readyCond.Reason, readyCond.Message = metav1.ConditionFalse, "GatesNotReady", fmt.Sprintf("%d/%d gates ready", gatesReady, gatesWant)
	case !topology.Known:
		readyCond.Status, readyCond.Reason, readyCond.Message = metav1.ConditionUnknown, "TopoUnknown", "the topology was not read"
	case !allPrimaries:
		readyCond.Status, readyCond.Reason, readyCond.Message = metav1.ConditionFalse, "NoPrimary", "a shard has no primary yet"
	}
	meta.SetStatusCondition(&st.Conditions, readyCond)
	c.Status = st
	if err := r.Client.Status().Update(ctx, c); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}

// truncate keeps a condition message within the API's 32768 bytes.
func truncate(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}
