package router

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPlan plans arbitrary text on the test VSchema: it must return a plan
// or an error, never panic (Plan recovers, but a recovered panic is a bug:
// this target fails on error 1105 "internal error").
func FuzzPlan(f *testing.F) {
	files, _ := filepath.Glob("testdata/*_cases.json")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		var cases []goldenCase
		_ = json.Unmarshal(raw, &cases)
		for _, c := range cases {
			f.Add(c.Query)
		}
	}
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(f))
	f.Fuzz(func(t *testing.T, sql string) {
		for _, ks := range []string{"customer", "commerce", ""} {
			// The whole path too (EXPLAIN rewriting, passthrough, cache):
			// Plan turns a panic into 1105 "internal error".
			if _, _, err := r.Plan(sql, ks, 0); err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatalf("planning %q in %q: %v", sql, ks, err)
			}
			p := &planner{vs: r.VSchema(), session: ks, seqs: &r.seqs}
			stmt, err := r.Parse(sql, 0)
			if err != nil {
				continue
			}
			func() {
				defer func() {
					if x := recover(); x != nil {
						t.Fatalf("panic planning %q in %q: %v", sql, ks, x)
					}
				}()
				if normalizable(stmt) {
					normalize(stmt)
				}
				if !isSessionStmt(stmt) {
					_, _, _ = p.planStmt(stmt, sql, BindVars{})
				}
			}()
		}
	})
}
