package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MosaicCluster is one Mosaic cluster: its keyspaces and their shards,
// whose tablets the operator runs as pods, the gates in front of them, and
// the etcd that holds the topology.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mosaic,categories=mosaic
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Tablets",type=string,JSONPath=`.status.tablets`
// +kubebuilder:printcolumn:name="Gates",type=string,JSONPath=`.status.gates`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MosaicCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MosaicClusterSpec   `json:"spec"`
	Status MosaicClusterStatus `json:"status,omitempty"`
}

// MosaicClusterList is a list of MosaicClusters.
//
// +kubebuilder:object:root=true
type MosaicClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MosaicCluster `json:"items"`
}

// MosaicClusterSpec is what the user asks for.
type MosaicClusterSpec struct {
	// Image is the Mosaic container image (the repository's Dockerfile):
	// it holds mosaic, mosaicctl, mariadbd and mariadb-backup. Changing it
	// rolls every tablet (replicas first, then a planned reparent, then
	// the old primary) and the gates.
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// ImagePullPolicy of every container the operator creates.
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Cells are the failure domains tablets and gates are spread over,
	// each pinned to one zone. A shard's tablets go round-robin over
	// the cells.
	// +kubebuilder:validation:MinItems=1
	// +listType=map
	// +listMapKey=name
	Cells []Cell `json:"cells"`

	// Topo says where the topology lives: an etcd the user runs, or one
	// the operator runs (three members).
	Topo TopoSpec `json:"topo"`

	// Keyspaces and their shards.
	// +kubebuilder:validation:MinItems=1
	// +listType=map
	// +listMapKey=name
	Keyspaces []Keyspace `json:"keyspaces"`

	// Tablet is the template of every tablet pod.
	// +optional
	Tablet TabletSpec `json:"tablet,omitempty"`

	// Gate is the template of the gate Deployment and its Service.
	// +optional
	Gate GateSpec `json:"gate,omitempty"`

	// Backup is where tablets keep backups and how often the operator
	// takes one.
	// +optional
	Backup *BackupSpec `json:"backup,omitempty"`

	// SecretsSecret names the Secret whose key `secrets.yaml` holds the
	// passwords the tablets share (`mosaicctl secrets init` writes one;
	// see docs/security.md).
	// +kubebuilder:validation:MinLength=1
	SecretsSecret string `json:"secretsSecret"`

	// UsersSecret names the Secret whose key `users.yaml` is the gate's
	// users file (docs/connecting.md). Empty: the gate's default, a
	// passwordless root: for tests only.
	// +optional
	UsersSecret string `json:"usersSecret,omitempty"`

	// TLS names the Secrets of the cluster's certificates.
	// +optional
	TLS TLSSpec `json:"tls,omitempty"`
}

// Cell is one failure domain.
type Cell struct {
	// Name of the cell, part of every tablet alias (<cell>-<uid>).
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=24
	Name string `json:"name"`
	// Zone is the value of topology.kubernetes.io/zone the cell's pods
	// must run in. Empty: anywhere.
	// +optional
	Zone string `json:"zone,omitempty"`
}

// TopoSpec is the etcd of the topology. Exactly one of External and
// Managed is set.
// +kubebuilder:validation:XValidation:rule="has(self.external) != has(self.managed)",message="set exactly one of external and managed"
type TopoSpec struct {
	// External is an etcd the user runs.
	// +optional
	External *ExternalTopo `json:"external,omitempty"`
	// Managed is an etcd the operator runs: a StatefulSet of three
	// members with a volume each.
	// +optional
	Managed *ManagedTopo `json:"managed,omitempty"`
	// Root is the key prefix of Mosaic's records (default /mosaic).
	// +optional
	Root string `json:"root,omitempty"`
}

// ExternalTopo is an etcd cluster the user runs.
type ExternalTopo struct {
	// Endpoints are etcd's client addresses, host:port.
	// +kubebuilder:validation:MinItems=1
	Endpoints []string `json:"endpoints"`
}

// ManagedTopo is an etcd run by the operator.
type ManagedTopo struct {
	// Image of etcd.
	// +kubebuilder:default="quay.io/coreos/etcd:v3.6.16"
	// +optional
	Image string `json:"image,omitempty"`
	// Storage of each member.
	// +optional
	Storage StorageSpec `json:"storage,omitempty"`
	// Resources of each member.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// Keyspace is one keyspace and its shards.
type Keyspace struct {
	// Name of the keyspace (the database the application uses).
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=48
	Name string `json:"name"`
	// Shards of the keyspace: "0" for an unsharded one, else key ranges
	// ("-80", "80-") that cover the whole range without overlap. Adding
	// shards that split the existing ones starts a resharding workflow.
	// +kubebuilder:validation:MinItems=1
	// +listType=map
	// +listMapKey=name
	Shards []Shard `json:"shards"`
}

// Shard is one shard and its tablets.
type Shard struct {
	// Name is the key range in hex ("-80", "40-80", "80-") or "0".
	// +kubebuilder:validation:Pattern=`^(0|[0-9a-f]*-[0-9a-f]*)$`
	Name string `json:"name"`
	// Replicas besides the primary. Scaling down removes replicas, never
	// the primary.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=8
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
}

// TabletSpec is the template of the tablet pods.
type TabletSpec struct {
	// Mysqld is mariadbd's share of the pod.
	// +optional
	Mysqld MysqldSpec `json:"mysqld,omitempty"`
	// Storage of each tablet's volume (its mysqld data and logs).
	// +optional
	Storage StorageSpec `json:"storage,omitempty"`
	// ExtraFlags are added to `mosaic tablet`'s command line. Changing
	// them rolls the tablets.
	// +optional
	ExtraFlags []string `json:"extraFlags,omitempty"`
}

// MysqldSpec is mariadbd's resources and configuration.
type MysqldSpec struct {
	// Resources of the tablet container (agent and mariadbd together).
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// Config lines for mariadbd's [mysqld] section ("max_connections=500").
	// Changing them rolls the tablets.
	// +optional
	Config []string `json:"config,omitempty"`
}

// StorageSpec is a PersistentVolumeClaim's class and size.
type StorageSpec struct {
	// StorageClassName of the claim (default: the cluster's default class).
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// Size of the claim (default 10Gi).
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
}

// GateSpec is the gates' Deployment and Service.
type GateSpec struct {
	// Replicas of the gate (default 2).
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// ServiceType of the gate's Service (default ClusterIP).
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	ServiceType corev1.ServiceType `json:"serviceType,omitempty"`
	// Resources of a gate container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// ExtraFlags are added to `mosaic gate`'s command line.
	// +optional
	ExtraFlags []string `json:"extraFlags,omitempty"`
}

// BackupSpec is where backups go and when they are taken.
type BackupSpec struct {
	// ClaimName is the PersistentVolumeClaim (ReadWriteMany) every tablet
	// mounts at /backups and passes to --backup-dir: a replica that must
	// repair itself with no healthy peer restores the latest backup there.
	// +kubebuilder:validation:MinLength=1
	ClaimName string `json:"claimName"`
	// Schedule in cron format for a backup of every shard (empty: none;
	// the schedule waits for the backup issue's scheduler).
	// +optional
	Schedule string `json:"schedule,omitempty"`
}

// TLSSpec names the Secrets of the cluster's certificates.
type TLSSpec struct {
	// ClusterSecret holds the files of `mosaicctl certs init` (ca.pem
	// and each role's certificate and key): components authenticate each
	// other with them. Empty: components run with --insecure.
	// +optional
	ClusterSecret string `json:"clusterSecret,omitempty"`
	// ClientSecret is a kubernetes.io/tls Secret the gate serves client
	// TLS with.
	// +optional
	ClientSecret string `json:"clientSecret,omitempty"`
}

// MosaicClusterStatus is what the operator observed.
type MosaicClusterStatus struct {
	// ObservedGeneration is the generation of the spec last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (every tablet and gate ready, every shard has a
	// primary), Progressing (pods being created, rolled or removed),
	// Degraded (something the operator cannot fix by itself).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Tablets is "ready/desired" over all shards.
	// +optional
	Tablets string `json:"tablets,omitempty"`
	// Gates is "ready/desired".
	// +optional
	Gates string `json:"gates,omitempty"`
	// Keyspaces are the keyspaces and their shards as observed.
	// +listType=map
	// +listMapKey=name
	// +optional
	Keyspaces []KeyspaceStatus `json:"keyspaces,omitempty"`
}

// KeyspaceStatus is one keyspace as observed.
type KeyspaceStatus struct {
	// Name of the keyspace.
	Name string `json:"name"`
	// ServingShards is the shard set that serves primary traffic, from
	// topo (empty when topo was not read).
	// +optional
	ServingShards []string `json:"servingShards,omitempty"`
	// Shards are the shards of the spec and any left from before.
	// +listType=map
	// +listMapKey=name
	// +optional
	Shards []ShardStatus `json:"shards,omitempty"`
}

// ShardStatus is one shard as observed.
type ShardStatus struct {
	// Name of the shard.
	Name string `json:"name"`
	// Primary is the alias of the shard's primary, from topo.
	// +optional
	Primary string `json:"primary,omitempty"`
	// Serving: the shard serves primary traffic.
	// +optional
	Serving bool `json:"serving,omitempty"`
	// ReplicationLagSeconds is the largest lag among its replicas.
	// +optional
	ReplicationLagSeconds *int64 `json:"replicationLagSeconds,omitempty"`
	// Tablets the operator runs for the shard.
	Tablets int32 `json:"tablets"`
	// ReadyTablets among them.
	ReadyTablets int32 `json:"readyTablets"`
	// UpdatedTablets run the current pod template.
	UpdatedTablets int32 `json:"updatedTablets"`
}

// Condition types of MosaicClusterStatus.
const (
	ConditionReady       = "Ready"
	ConditionProgressing = "Progressing"
	ConditionDegraded    = "Degraded"
)
