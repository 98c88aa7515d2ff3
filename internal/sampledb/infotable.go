package sampledb

import (
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
)

// InfoDatabase and InfoTable name the read-only table that shows the current
// session's connection details:
//
//	SELECT conn_id, client_addr, proxied, vpc_id, endpoint_id, service_id
//	FROM privlink.connection_info;
//
// It always has exactly one row, for the session that queries it.
const (
	InfoDatabase = "privlink"
	InfoTable    = "connection_info"
)

// infoDB is the read-only "privlink" database holding connection_info.
type infoDB struct{ table *infoTable }

var _ sql.Database = (*infoDB)(nil)

func (d *infoDB) Name() string { return InfoDatabase }

func (d *infoDB) GetTableInsensitive(_ *sql.Context, name string) (sql.Table, bool, error) {
	if strings.EqualFold(name, InfoTable) {
		return d.table, true, nil
	}
	return nil, false, nil
}

func (d *infoDB) GetTableNames(*sql.Context) ([]string, error) { return []string{InfoTable}, nil }

// infoTable is privlink.connection_info; lookup resolves a MySQL connection
// ID to what the listener learnt about that connection.
type infoTable struct {
	lookup func(id uint32) (connInfo, bool)
}

var _ sql.Table = (*infoTable)(nil)

var infoSchema = sql.Schema{
	{Name: "conn_id", Type: types.Uint32, Source: InfoTable},
	{Name: "client_addr", Type: types.Text, Source: InfoTable},
	{Name: "proxied", Type: types.Boolean, Source: InfoTable},
	{Name: "vpc_id", Type: types.Text, Source: InfoTable},
	{Name: "endpoint_id", Type: types.Text, Source: InfoTable},
	{Name: "service_id", Type: types.Text, Source: InfoTable},
}

func (t *infoTable) Name() string               { return InfoTable }
func (t *infoTable) String() string             { return InfoTable }
func (t *infoTable) Schema() sql.Schema         { return infoSchema }
func (t *infoTable) Collation() sql.CollationID { return sql.Collation_Default }

func (t *infoTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return sql.PartitionsToPartitionIter(onePartition{}), nil
}

func (t *infoTable) PartitionRows(ctx *sql.Context, _ sql.Partition) (sql.RowIter, error) {
	id := ctx.Session.ID()
	info, ok := t.lookup(id)
	if !ok {
		// Not a network session (or already closing): report what the session has.
		info = connInfo{ClientAddr: ctx.Session.Client().Address}
	}
	var proxied int8
	if info.Proxied {
		proxied = 1
	}
	return sql.RowsToRowIter(sql.NewRow(id, info.ClientAddr, proxied, info.VPCID, info.EndpointID, info.ServiceID)), nil
}

type onePartition struct{}

func (onePartition) Key() []byte { return []byte("session") }
