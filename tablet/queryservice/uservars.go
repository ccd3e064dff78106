package queryservice

import (
	"strings"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// readUserVars fills res.UserVars with the values of the user variables
// names (ExecuteOptions.read_user_vars), read with one SELECT on c right
// after the statement and before c is reset or goes back to its pool: the
// gate learns the OUT and INOUT arguments of a CALL this way, since the
// variables the procedure set live on this mysqld connection only. It
// does nothing when names is empty or the statement failed (res nil).
func readUserVars(c *PooledConn, res *querypb.QueryResult, names []string) error {
	if len(names) == 0 || res == nil {
		return nil
	}
	var sb strings.Builder
	sb.WriteString("SELECT ")
	for i, n := range names {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("@`")
		sb.WriteString(strings.ReplaceAll(n, "`", "``"))
		sb.WriteByte('`')
	}
	vars, err := c.Execute(sb.String(), 1)
	if err != nil {
		return err
	}
	res.UserVars = vars
	return nil
}
