// Package v1alpha1 holds the MosaicCluster API (group mosaicdb.io, version
// v1alpha1): what a user asks the operator for (Spec) and what it reports
// back (Status). The CRD YAML in deploy/crd is generated from these types
// (`make operator-gen`), and so is zz_generated.deepcopy.go: edit the
// types and their kubebuilder markers, never the generated files.
//
// It holds data and defaults only: the reconciler lives in package
// operator, which imports this one.
//
// +kubebuilder:object:generate=true
// +groupName=mosaicdb.io
package v1alpha1
