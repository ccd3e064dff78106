package pitr

import "context"

// QueryRestored starts mariadbd on a restored data dir, runs query with
// the mariadb client (-N) and stops the server: for the package's
// external tests.
func QueryRestored(ctx context.Context, dir, work, query string) ([]byte, error) {
	srv, err := startServer(ctx, dir, work)
	if err != nil {
		return nil, err
	}
	defer srv.kill()
	out, err := srv.client(ctx, "-N", "-e", query).CombinedOutput()
	if err != nil {
		return out, err
	}
	return out, srv.stop(ctx)
}
