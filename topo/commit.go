package topo

import "fmt"

// CheckOps validates ops for Store.Commit before any condition is looked
// at: known kinds, a key each, no key twice. Stores call it first.
func CheckOps(ops []Op) error {
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if op.Key == "" {
			return fmt.Errorf("topo commit: op without a key")
		}
		if op.Kind < OpPut || op.Kind > OpCheck {
			return fmt.Errorf("topo commit: op on %s has unknown kind %d", op.Key, op.Kind)
		}
		if seen[op.Key] {
			return fmt.Errorf("topo commit: key %s appears twice", op.Key)
		}
		seen[op.Key] = true
	}
	return nil
}

// OpFailure returns the error of op given the key's current state (its
// version, 0 when missing), or nil when op's condition holds. Stores use
// it to tell which op of a failed commit failed and why.
func OpFailure(op Op, current Version) error {
	var err error
	switch {
	case op.Kind == OpCreate:
		if current != 0 {
			err = ErrNodeExists
		}
	case current == 0:
		if op.Kind != OpPut || op.Version != 0 {
			err = ErrNoNode
		}
	case op.Version != 0 && op.Version != current:
		err = ErrBadVersion
	}
	if err != nil {
		return fmt.Errorf("commit %s: %w", op.Key, err)
	}
	return nil
}
