package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of MosaicCluster.
var GroupVersion = schema.GroupVersion{Group: "mosaicdb.io", Version: "v1alpha1"}

// AddToScheme registers this version's types in a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &MosaicCluster{}, &MosaicClusterList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
