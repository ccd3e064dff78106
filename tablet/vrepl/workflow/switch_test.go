package workflow

import (
	"slices"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
)

func TestTrafficTypes(t *testing.T) {
	p, r, o := topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY
	types := func(tt ...topodatapb.TabletType) []topodatapb.TabletType { return tt }
	for _, c := range []struct {
		name      string
		switched  []topodatapb.TabletType
		asked     []topodatapb.TabletType
		toTargets bool
		want      []topodatapb.TabletType
		err       string
	}{
		{"switch: reads before primary", nil, nil, true, types(r, o, p), ""},
		{"switch: what is left", types(r, o), nil, true, types(p), ""},
		{"switch: asked, in order", nil, types(p, o), true, types(o, p), ""},
		{"switch: nothing left", types(p, r, o), nil, true, nil, "already"},
		{"switch: a type on the targets", types(r), types(r, p), true, nil, "replica traffic is on the target shards already"},
		{"switch: no such traffic", nil, types(topodatapb.TabletType_BACKUP), true, nil, "no traffic to switch"},
		{"reverse: every switched type, reads first", types(p, r, o), nil, false, types(r, o, p), ""},
		{"reverse: reads only switched", types(r, o), nil, false, types(r, o), ""},
		{"reverse: nothing switched", nil, nil, false, nil, "no traffic has been switched"},
		{"reverse: a type on the sources", types(r, o), types(p), false, nil, "primary traffic is on the source shards already"},
	} {
		got, err := trafficTypes(&vreplicationpb.Workflow{Name: "wf", SwitchedTypes: c.switched}, c.asked, c.toTargets)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, %v; want an error with %q", c.name, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestWithTypes(t *testing.T) {
	p, r, o := topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY
	list := []topodatapb.TabletType{r, o}
	if got := withTypes(list, []topodatapb.TabletType{p}, true); !slices.Equal(got, []topodatapb.TabletType{p, r, o}) {
		t.Errorf("add primary: %v", got)
	}
	if got := withTypes(list, []topodatapb.TabletType{r}, false); !slices.Equal(got, []topodatapb.TabletType{o}) {
		t.Errorf("remove replica: %v", got)
	}
	if !slices.Equal(list, []topodatapb.TabletType{r, o}) {
		t.Errorf("withTypes changed its argument: %v", list)
	}
	if got := withTypes(list, []topodatapb.TabletType{r}, true); !slices.Equal(got, []topodatapb.TabletType{r, o}) {
		t.Errorf("add a type present: %v", got)
	}
}
