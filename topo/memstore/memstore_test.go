package memstore

import (
	"testing"

	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/topotest"
)

func TestConformance(t *testing.T) {
	topotest.Run(t, func(t *testing.T) topo.Store {
		s := New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
