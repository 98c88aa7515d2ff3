// Package sampledb owns privlink-sampledb: a MySQL-compatible, in-memory
// database server that stands in for a database vendor's instance
// (MatrixOne-style) in PrivateLink demos and tests.
//
// It embeds github.com/dolthub/go-mysql-server with its in-memory provider,
// authenticates MatrixOne-style login names ("account:user:role", also with
// '#' as the separator or URL-escaped) with mysql_native_password, accepts an
// optional PROXY protocol v2 header on every connection, and exposes the real
// client address plus Alibaba Cloud PrivateLink TLVs (VPC ID, endpoint ID,
// endpoint service ID) of the current session to SQL:
//
//	SELECT client_addr, vpc_id, endpoint_id, service_id FROM privlink.connection_info;
package sampledb
