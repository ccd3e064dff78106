// Command mosaicctl is the operator CLI: keyspaces, shards, tablets,
// VSchemas, reparents.
package main
