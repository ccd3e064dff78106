// Package mtlstest makes a cluster CA and every role's certificate in a
// test's temporary directory, for tests that run components with mutual
// TLS on. Two calls make two unrelated CAs: a test that wants a
// certificate the cluster must refuse takes it from a second one.
package mtlstest
