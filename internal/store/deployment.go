package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// deploymentKey holds the deployment's ID: meta/deployment -> 32 hex chars.
func (s *Store) deploymentKey() string { return s.key(KindMeta, "deployment") }

// DeploymentID returns the ID of the deployment this store holds, made
// once at random by whichever process asks first. Every process of one
// deployment (servers, standalone agents) gets the same ID; another
// deployment (another etcd, or another key prefix) gets another one. It
// tells the processes that may share a machine's namespace prefix from
// those that may not.
func (s *Store) DeploymentID(ctx context.Context) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	k := s.deploymentKey()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, hex.EncodeToString(b[:]))).
		Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return "", fmt.Errorf("deployment ID: %w", err)
	}
	if resp.Succeeded {
		return hex.EncodeToString(b[:]), nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) != 1 || len(kvs[0].Value) == 0 {
		return "", fmt.Errorf("deployment ID: %s is empty", k)
	}
	return string(kvs[0].Value), nil
}
