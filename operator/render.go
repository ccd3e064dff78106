package operator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
)

// Fixed paths and ports inside the pods.
const (
	dataDir       = "/data"
	secretsDir    = "/etc/mosaic/secrets"
	usersDir      = "/etc/mosaic/users"
	certsDir      = "/etc/mosaic/certs"
	clientTLSDir  = "/etc/mosaic/client-tls"
	backupDir     = "/backups"
	gateMySQLPort = 3306
	gateHTTPPort  = 15000
	etcdClient    = 2379
	etcdPeer      = 2380
	etcdMembers   = 3
	zoneKey       = "topology.kubernetes.io/zone"
	hostnameKey   = "kubernetes.io/hostname"
	defaultSize   = "10Gi"
)

// Config is how the operator renders what every cluster shares.
type Config struct {
	// UIDPorts: a tablet listens on ports derived from its uid (mysqld
	// 17000+uid, gRPC 18000+uid, HTTP 19000+uid, plus PortOffset), as
	// `mosaic up`'s tablets do, instead of the fixed 3306, 16000 and
	// 15100: for nodes whose pods share one network (the process kubelet
	// of the end-to-end test, hostNetwork).
	UIDPorts   bool
	PortOffset int
	// GateMySQLPort and GateHTTPPort are the gate's ports (0: 3306 and
	// 15000).
	GateMySQLPort, GateHTTPPort int
}

// DefaultConfig renders for a real cluster: fixed ports in every pod.
func DefaultConfig() Config { return Config{} }

// Validate checks a Config.
func (c Config) Validate() error {
	if c.PortOffset < 0 || c.PortOffset > 12000 {
		return fmt.Errorf("operator: port offset %d: must be from 0 to 12000 (tablet uids up to 999 then stay below 32768)", c.PortOffset)
	}
	return nil
}

// tabletPorts are a tablet's mysqld, gRPC and HTTP ports.
func (c Config) tabletPorts(uid uint32) (mysql, grpc, http int32) {
	if !c.UIDPorts {
		return 3306, 16000, 15100
	}
	u := int32(uid) + int32(c.PortOffset)
	return 17000 + u, 18000 + u, 19000 + u
}

func (c Config) gatePorts() (mysql, http int32) {
	mysql, http = gateMySQLPort, gateHTTPPort
	if c.GateMySQLPort != 0 {
		mysql = int32(c.GateMySQLPort)
	}
	if c.GateHTTPPort != 0 {
		http = int32(c.GateHTTPPort)
	}
	return mysql, http
}

// baseLabels are the labels of everything of one cluster's component.
func baseLabels(c *v1alpha1.MosaicCluster, component string) map[string]string {
	return map[string]string{
		labelName:      "mosaic",
		labelInstance:  c.Name,
		labelComponent: component,
		labelManagedBy: managerName,
	}
}

// tabletLabels are a tablet's pod and claim labels.
func tabletLabels(c *v1alpha1.MosaicCluster, t Tablet) map[string]string {
	l := baseLabels(c, componentTablet)
	l[labelKeyspace] = t.Keyspace
	l[labelShard] = shardLabel(t.Shard)
	l[labelCell] = t.Cell
	l[labelUID] = strconv.FormatUint(uint64(t.UID), 10)
	return l
}

// shardSelector selects the pods of one shard.
func shardSelector(c *v1alpha1.MosaicCluster, ks, shard string) map[string]string {
	return map[string]string{
		labelInstance:  c.Name,
		labelComponent: componentTablet,
		labelKeyspace:  ks,
		labelShard:     shardLabel(shard),
	}
}

// ownerRef makes c the controller of an object, so that deleting the
// cluster deletes it.
func ownerRef(c *v1alpha1.MosaicCluster) []metav1.OwnerReference {
	t := true
	return []metav1.OwnerReference{{
		APIVersion:         v1alpha1.GroupVersion.String(),
		Kind:               "MosaicCluster",
		Name:               c.Name,
		UID:                c.UID,
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}}
}

// topoEndpoints are the etcd endpoints components are given.
func topoEndpoints(c *v1alpha1.MosaicCluster) string {
	if c.Spec.Topo.External != nil {
		return strings.Join(c.Spec.Topo.External.Endpoints, ",")
	}
	return fmt.Sprintf("%s-client.%s.svc:%d", etcdName(c.Name), c.Namespace, etcdClient)
}

// TopoEndpoints is the etcd endpoint list of the cluster's topology.
func TopoEndpoints(c *v1alpha1.MosaicCluster) []string {
	return strings.Split(topoEndpoints(c), ",")
}

// TopoRoot is the key prefix of the cluster's records.
func TopoRoot(c *v1alpha1.MosaicCluster) string {
	if c.Spec.Topo.Root != "" {
		return c.Spec.Topo.Root
	}
	return "/mosaic"
}

// commonFlags are the topo and security flags of every Mosaic component.
func commonFlags(c *v1alpha1.MosaicCluster) []string {
	f := []string{"--topo-endpoints=" + topoEndpoints(c), "--topo-root=" + TopoRoot(c)}
	if c.Spec.TLS.ClusterSecret != "" {
		f = append(f, "--cert-dir="+certsDir)
	} else {
		f = append(f, "--insecure")
	}
	return f
}

func cellZone(c *v1alpha1.MosaicCluster, cell string) string {
	for _, x := range c.Spec.Cells {
		if x.Name == cell {
			return x.Zone
		}
	}
	return ""
}

// zoneAffinity pins a pod to a zone (none when zone is empty) and spreads
// the pods that spread selects over zones and nodes.
func zoneAffinity(zone string, spread map[string]string) *corev1.Affinity {
	a := &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
			{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: zoneKey, LabelSelector: &metav1.LabelSelector{MatchLabels: spread}}},
			{Weight: 50, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: hostnameKey, LabelSelector: &metav1.LabelSelector{MatchLabels: spread}}},
		},
	}}
	if zone != "" {
		a.NodeAffinity = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: zoneKey, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}},
			}}},
		}}
	}
	return a
}

func podEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	}
}

func secretVolume(name, secret string) corev1.Volume {
	mode := int32(0o400)
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: &mode}}}
}

// httpProbe probes path on the named port.
func httpProbe(path, port string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(port)}},
		PeriodSeconds:    period,
		TimeoutSeconds:   3,
		FailureThreshold: failures,
	}
}

// hashOf is the template hash of a pod spec.
func hashOf(spec corev1.PodSpec) string {
	b, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("operator: marshal pod spec: %v", err)) // a PodSpec always marshals
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// TabletPod is tablet t's pod. Its template hash annotation covers the
// whole pod spec: any change of image, flags, mysqld config or resources
// rolls the tablet.
func (cfg Config) TabletPod(c *v1alpha1.MosaicCluster, t Tablet) *corev1.Pod {
	name := tabletName(c.Name, t.Cell, t.UID)
	mysqlPort, grpcPort, httpPort := cfg.tabletPorts(t.UID)
	args := []string{"tablet",
		"--alias=" + t.Alias(),
		"--keyspace=" + t.Keyspace,
		"--shard=" + t.Shard,
		"--tablet-dir=" + dataDir + "/tablet",
		"--hostname=$(POD_NAME)." + tabletServiceName(c.Name) + ".$(POD_NAMESPACE).svc",
		"--listen-address=0.0.0.0",
		"--mysql-bind-address=0.0.0.0",
		fmt.Sprintf("--mysql-port=%d", mysqlPort),
		fmt.Sprintf("--grpc-port=%d", grpcPort),
		fmt.Sprintf("--http-port=%d", httpPort),
		"--grpc-socket=none",
		"--secrets-file=" + secretsDir + "/secrets.yaml",
	}
	args = append(args, commonFlags(c)...)
	volumes := []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}},
		secretVolume("secrets", c.Spec.SecretsSecret),
	}
	mounts := []corev1.VolumeMount{{Name: "data", MountPath: dataDir}, {Name: "secrets", MountPath: secretsDir, ReadOnly: true}}
	if c.Spec.TLS.ClusterSecret != "" {
		volumes = append(volumes, secretVolume("certs", c.Spec.TLS.ClusterSecret))
		mounts = append(mounts, corev1.VolumeMount{Name: "certs", MountPath: certsDir, ReadOnly: true})
	}
	if b := c.Spec.Backup; b != nil {
		args = append(args, "--backup-dir="+backupDir)
		volumes = append(volumes, corev1.Volume{Name: "backups", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: b.ClaimName}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "backups", MountPath: backupDir})
	}
	for _, line := range c.Spec.Tablet.Mysqld.Config {
		args = append(args, "--mysqld-config="+line)
	}
	args = append(args, c.Spec.Tablet.ExtraFlags...)
	grace := int64(60)
	user := int64(999)
	spec := corev1.PodSpec{
		Hostname:                      name,
		Subdomain:                     tabletServiceName(c.Name),
		TerminationGracePeriodSeconds: &grace,
		SecurityContext:               &corev1.PodSecurityContext{RunAsUser: &user, RunAsGroup: &user, FSGroup: &user, RunAsNonRoot: new(true)},
		Affinity:                      zoneAffinity(cellZone(c, t.Cell), shardSelector(c, t.Keyspace, t.Shard)),
		Containers: []corev1.Container{{
			Name:            "tablet",
			Image:           c.Spec.Image,
			ImagePullPolicy: c.Spec.ImagePullPolicy,
			Command:         []string{"mosaic"},
			Args:            args,
			Env:             podEnv(),
			Ports: []corev1.ContainerPort{
				{Name: "mysql", ContainerPort: mysqlPort},
				{Name: "grpc", ContainerPort: grpcPort},
				{Name: "http", ContainerPort: httpPort},
			},
			// mysqld's first start (mariadb-install-db) and a repair
			// from a peer may take minutes: the startup probe waits up
			// to 10 minutes before liveness counts.
			StartupProbe:   httpProbe("/healthz", "http", 5, 120),
			LivenessProbe:  httpProbe("/healthz", "http", 10, 6),
			ReadinessProbe: httpProbe("/healthz", "http", 2, 2),
			Resources:      c.Spec.Tablet.Mysqld.Resources,
			VolumeMounts:   mounts,
		}},
		Volumes: volumes,
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       c.Namespace,
			Labels:          tabletLabels(c, t),
			Annotations:     map[string]string{annotationShard: t.Shard, annotationTemplate: hashOf(spec)},
			OwnerReferences: ownerRef(c),
		},
		Spec: spec,
	}
}

// TabletTemplate is the template hash of tablet t's pod.
func (cfg Config) TabletTemplate(c *v1alpha1.MosaicCluster, t Tablet) string {
	return cfg.TabletPod(c, t).Annotations[annotationTemplate]
}

// TabletClaim is tablet t's volume claim. It has no owner: deleting the
// cluster, or a shard from the spec, keeps the data until the user
// deletes the claims (docs/kubernetes.md).
func TabletClaim(c *v1alpha1.MosaicCluster, t Tablet) *corev1.PersistentVolumeClaim {
	size := resource.MustParse(defaultSize)
	if s := c.Spec.Tablet.Storage.Size; s != nil {
		size = *s
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        tabletName(c.Name, t.Cell, t.UID),
			Namespace:   c.Namespace,
			Labels:      tabletLabels(c, t),
			Annotations: map[string]string{annotationShard: t.Shard},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: c.Spec.Tablet.Storage.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}

// TabletService is the headless Service that gives each tablet pod its
// DNS name <pod>.<cluster>-tablets.<namespace>.svc, ready or not (tablets
// must reach each other to become ready).
func (cfg Config) TabletService(c *v1alpha1.MosaicCluster) *corev1.Service {
	sel := baseLabels(c, componentTablet)
	delete(sel, labelName)
	delete(sel, labelManagedBy)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: tabletServiceName(c.Name), Namespace: c.Namespace, Labels: baseLabels(c, componentTablet), OwnerReferences: ownerRef(c)},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 sel,
		},
	}
	if !cfg.UIDPorts {
		svc.Spec.Ports = []corev1.ServicePort{
			{Name: "mysql", Port: 3306, TargetPort: intstr.FromString("mysql")},
			{Name: "grpc", Port: 16000, TargetPort: intstr.FromString("grpc")},
			{Name: "http", Port: 15100, TargetPort: intstr.FromString("http")},
		}
	}
	return svc
}

// ShardPDB lets at most one tablet of a shard be evicted at a time.
func ShardPDB(c *v1alpha1.MosaicCluster, ks, shard string) *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: shardPDBName(c.Name, ks, shard), Namespace: c.Namespace, Labels: baseLabels(c, componentTablet), Annotations: map[string]string{annotationShard: shard}, OwnerReferences: ownerRef(c)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: shardSelector(c, ks, shard)},
		},
	}
}

// GateDeployment is the gates of one cell.
func (cfg Config) GateDeployment(c *v1alpha1.MosaicCluster, cell v1alpha1.Cell) *appsv1.Deployment {
	mysqlPort, httpPort := cfg.gatePorts()
	labels := baseLabels(c, componentGate)
	labels[labelCell] = cell.Name
	sel := map[string]string{labelInstance: c.Name, labelComponent: componentGate, labelCell: cell.Name}
	args := []string{"gate",
		"--cell=" + cell.Name,
		"--mysql-host=0.0.0.0",
		fmt.Sprintf("--mysql-port=%d", mysqlPort),
		"--http-host=0.0.0.0",
		fmt.Sprintf("--http-port=%d", httpPort),
	}
	args = append(args, commonFlags(c)...)
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	if c.Spec.UsersSecret != "" {
		args = append(args, "--users-file="+usersDir+"/users.yaml")
		volumes = append(volumes, secretVolume("users", c.Spec.UsersSecret))
		mounts = append(mounts, corev1.VolumeMount{Name: "users", MountPath: usersDir, ReadOnly: true})
	}
	if c.Spec.TLS.ClusterSecret != "" {
		volumes = append(volumes, secretVolume("certs", c.Spec.TLS.ClusterSecret))
		mounts = append(mounts, corev1.VolumeMount{Name: "certs", MountPath: certsDir, ReadOnly: true})
	}
	if c.Spec.TLS.ClientSecret != "" {
		args = append(args, "--tls-cert="+clientTLSDir+"/tls.crt", "--tls-key="+clientTLSDir+"/tls.key")
		volumes = append(volumes, secretVolume("client-tls", c.Spec.TLS.ClientSecret))
		mounts = append(mounts, corev1.VolumeMount{Name: "client-tls", MountPath: clientTLSDir, ReadOnly: true})
	}
	args = append(args, c.Spec.Gate.ExtraFlags...)
	replicas := int32(2)
	if c.Spec.Gate.Replicas != nil {
		replicas = *c.Spec.Gate.Replicas
	}
	user := int64(999)
	one := intstr.FromInt32(1)
	zero := intstr.FromInt32(0)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: gateName(c.Name) + "-" + cell.Name, Namespace: c.Namespace, Labels: labels, OwnerReferences: ownerRef(c)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			// A new gate is ready before an old one stops: clients
			// always have somewhere to connect.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &zero}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{RunAsUser: &user, RunAsGroup: &user, RunAsNonRoot: new(true)},
					Affinity:        zoneAffinity(cell.Zone, sel),
					Containers: []corev1.Container{{
						Name:            "gate",
						Image:           c.Spec.Image,
						ImagePullPolicy: c.Spec.ImagePullPolicy,
						Command:         []string{"mosaic"},
						Args:            args,
						Ports: []corev1.ContainerPort{
							{Name: "mysql", ContainerPort: mysqlPort},
							{Name: "http", ContainerPort: httpPort},
						},
						LivenessProbe:  httpProbe("/healthz", "http", 10, 6),
						ReadinessProbe: httpProbe("/healthz", "http", 2, 2),
						Resources:      c.Spec.Gate.Resources,
						VolumeMounts:   mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// GateService is the Service applications connect to: every gate of
// every cell.
func (cfg Config) GateService(c *v1alpha1.MosaicCluster) *corev1.Service {
	mysqlPort, _ := cfg.gatePorts()
	typ := c.Spec.Gate.ServiceType
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: gateName(c.Name), Namespace: c.Namespace, Labels: baseLabels(c, componentGate), OwnerReferences: ownerRef(c)},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{labelInstance: c.Name, labelComponent: componentGate},
			Ports:    []corev1.ServicePort{{Name: "mysql", Port: 3306, TargetPort: intstr.FromInt32(mysqlPort)}},
		},
	}
}

// GatePDB lets at most one gate be evicted at a time.
func GatePDB(c *v1alpha1.MosaicCluster) *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: gateName(c.Name), Namespace: c.Namespace, Labels: baseLabels(c, componentGate), OwnerReferences: ownerRef(c)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{labelInstance: c.Name, labelComponent: componentGate}},
		},
	}
}

// EtcdObjects are the managed topology: a headless Service for the
// members' names, a client Service, and a StatefulSet of three members
// with a volume each (plaintext inside the namespace).
func EtcdObjects(c *v1alpha1.MosaicCluster) (*corev1.Service, *corev1.Service, *appsv1.StatefulSet) {
	m := c.Spec.Topo.Managed
	name := etcdName(c.Name)
	labels := baseLabels(c, componentEtcd)
	sel := map[string]string{labelInstance: c.Name, labelComponent: componentEtcd}
	peers := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: labels, OwnerReferences: ownerRef(c)},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true, Selector: sel,
			Ports: []corev1.ServicePort{{Name: "peer", Port: etcdPeer}, {Name: "client", Port: etcdClient}},
		},
	}
	client := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-client", Namespace: c.Namespace, Labels: labels, OwnerReferences: ownerRef(c)},
		Spec:       corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Name: "client", Port: etcdClient}}},
	}
	var initial []string
	for i := 0; i < etcdMembers; i++ {
		initial = append(initial, fmt.Sprintf("%s-%d=http://%s-%d.%s.%s.svc:%d", name, i, name, i, name, c.Namespace, etcdPeer))
	}
	self := fmt.Sprintf("$(POD_NAME).%s.%s.svc", name, c.Namespace)
	image := "quay.io/coreos/etcd:v3.6.16"
	var res corev1.ResourceRequirements
	storage := v1alpha1.StorageSpec{}
	if m != nil {
		if m.Image != "" {
			image = m.Image
		}
		res = m.Resources
		storage = m.Storage
	}
	size := resource.MustParse("1Gi")
	if storage.Size != nil {
		size = *storage.Size
	}
	n := int32(etcdMembers)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: labels, OwnerReferences: ownerRef(c)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &n,
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Affinity: zoneAffinity("", sel),
					Containers: []corev1.Container{{
						Name:    "etcd",
						Image:   image,
						Command: []string{"etcd"},
						Args: []string{
							"--name=$(POD_NAME)",
							"--data-dir=/var/lib/etcd",
							fmt.Sprintf("--listen-client-urls=http://0.0.0.0:%d", etcdClient),
							fmt.Sprintf("--advertise-client-urls=http://%s:%d", self, etcdClient),
							fmt.Sprintf("--listen-peer-urls=http://0.0.0.0:%d", etcdPeer),
							fmt.Sprintf("--initial-advertise-peer-urls=http://%s:%d", self, etcdPeer),
							"--initial-cluster=" + strings.Join(initial, ","),
							"--initial-cluster-state=new",
							"--initial-cluster-token=" + c.Namespace + "-" + name,
						},
						Env:          podEnv(),
						Ports:        []corev1.ContainerPort{{Name: "client", ContainerPort: etcdClient}, {Name: "peer", ContainerPort: etcdPeer}},
						Resources:    res,
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/etcd"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: storage.StorageClassName,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
				},
			}},
		},
	}
	return peers, client, sts
}
