package tablet

import "context"

// HoldActions takes the tablet's action lock, as a long action would, until
// release is called.
func (a *Agent) HoldActions(ctx context.Context) (release func(), err error) {
	if err := a.actions.lock(ctx); err != nil {
		return nil, err
	}
	return a.actions.unlock, nil
}
