package router

import (
	"testing"
	"time"
)

func TestCachedPlansShareStats(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p1, _, _ := r.Plan("select * from customer where customer_id = 1", "customer", 0)
	p2, _, _ := r.Plan("select * from customer where customer_id = 2", "customer", 0)
	p3, _, _ := r.Plan("select * from customer where customer_id = 2", "customer", 0)
	other, _, _ := r.Plan("select count(*) from customer", "customer", 0)
	if p1.Stats == nil || p1.Stats != p2.Stats || p2.Stats != p3.Stats || other.Stats == p1.Stats {
		t.Fatal("copies of one plan do not share its stats")
	}
	p1.Stats.Record(2*time.Millisecond, 1, false)
	p2.Stats.Record(4*time.Millisecond, 0, true)
	other.Stats.Record(time.Millisecond, 1, false)
	if p3.Stats.Large() {
		t.Fatal("large before marked")
	}
	p3.Stats.MarkLarge()
	if !p1.Stats.Large() {
		t.Fatal("large not shared")
	}
	got := r.CachedPlans()
	if len(got) != 2 {
		t.Fatalf("%d cached plans: %+v", len(got), got)
	}
	top := got[0]
	if top.Keyspace != "customer" || top.Query != "SELECT * FROM `customer` WHERE `customer_id` = :v1" ||
		top.Execs != 2 || top.Errors != 1 || top.Rows != 1 || top.Time != 6*time.Millisecond || top.StmtType != "SELECT" {
		t.Fatalf("busiest plan %+v", top)
	}
	if s, _, _ := r.Plan("begin", "customer", 0); s.Stats != nil {
		t.Fatal("a session plan has stats")
	}
}
