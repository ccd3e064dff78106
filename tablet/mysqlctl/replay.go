package mysqlctl

import (
	"context"
	"fmt"
)

// ReplayBinlog applies the transactions of a binlog file to the running
// mysqld, as the tablet's DBA account over the socket: mariadb-binlog
// decodes it and the mariadb client runs what it prints. The decoded
// statements set each transaction's server_id and GTID, so mysqld's own
// binlog holds them under their original GTIDs, and set sql_log_bin as
// the original did. It stops at the first error.
func (m *Mysqld) ReplayBinlog(ctx context.Context, file string) error {
	if st, _ := m.State(); st != Running {
		return fmt.Errorf("mysqlctl: replay needs mysqld running (it is %v)", st)
	}
	decoder, err := resolveBinary("mariadb-binlog")
	if err != nil {
		return err
	}
	client, err := resolveBinary("mariadb")
	if err != nil {
		return err
	}
	dec := command(ctx, decoder, file)
	apply := command(ctx, client, "--no-defaults", "--socket="+m.cfg.socketPath(), "--user="+m.dbaUser, "--binary-mode")
	pipe, err := dec.StdoutPipe()
	if err != nil {
		return err
	}
	var decErr, applyOut tailBuffer
	dec.Stderr = &decErr
	apply.Stdin, apply.Stdout, apply.Stderr = pipe, &applyOut, &applyOut
	if err := dec.Start(); err != nil {
		return fmt.Errorf("mariadb-binlog: %w", err)
	}
	aerr := apply.Run()
	if aerr != nil {
		// The decoder may block writing what nobody reads any more.
		_ = dec.Process.Kill()
	}
	derr := dec.Wait()
	if aerr != nil {
		return fmt.Errorf("replay the binlog: %w: %s", aerr, lastLines(applyOut.String(), 5))
	}
	if derr != nil {
		return fmt.Errorf("mariadb-binlog %s: %w: %s", file, derr, lastLines(decErr.String(), 5))
	}
	return nil
}
