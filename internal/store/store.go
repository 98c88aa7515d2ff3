package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// WALFilesKept is how many WAL files (64 MB each) the embedded etcd keeps;
// a start reads them all.
const WALFilesKept = 2

// readyWait bounds the wait for the embedded etcd to be ready (for a
// cluster member: for a quorum of members to be up).
const readyWait = 60 * time.Second

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("not found")

// Config says where the state lives.
type Config struct {
	// Endpoints of an external etcd cluster; empty starts an embedded one.
	Endpoints []string
	// DataDir holds the embedded etcd's data (DataDir/etcd).
	DataDir string
	// ClientURL and PeerURL of the embedded etcd (required with it; the
	// process defaults are in internal/server). Both are served over TLS
	// (https) with client-certificate authentication, whatever their scheme.
	ClientURL, PeerURL string
	// Credentials for the external cluster; the embedded etcd's are its own.
	Credentials Credentials
	// Member makes the embedded etcd one member of a cluster (zero: the
	// single member of a one-machine install).
	Member Member
	// QuotaBytes is the embedded etcd's backend quota (0: DefaultQuotaBytes).
	QuotaBytes int64
	// Prefix of every key, default "/privlink/".
	Prefix string
	Logger *slog.Logger
	// Dialer, when set, makes the client's connections to the endpoints
	// (the multi-node demo reads the store from inside a lab node). Not
	// in JSON: testenv passes a Config to re-executed members that way.
	Dialer func(ctx context.Context, addr string) (net.Conn, error) `json:"-"`
}

// Store is a handle on the etcd keyspace.
type Store struct {
	cli    *clientv3.Client
	etcd   *embed.Etcd
	creds  Credentials
	prefix string
	log    *slog.Logger
	bad    *badRecords
	panics *prometheus.CounterVec
	// conflicts counts optimistic commits that lost a race (protocol.go).
	conflicts *prometheus.CounterVec
	// nospace is 1 while etcd refuses writes for NOSPACE (space.go).
	nospace prometheus.Gauge
}

// AddrInUse reports whether err is a failure to bind a port that another
// socket holds (Open's embedded etcd, or any listener). A caller that
// picked a port it found free retries on another: something else can take
// it between the check and the bind.
func AddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// Open starts the embedded etcd when needed and connects to it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/privlink/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Store{prefix: cfg.Prefix, log: cfg.Logger, bad: newBadRecords(cfg.Logger), panics: newPanicCounter(), nospace: newSpaceGauge(), conflicts: newConflictCounter()}
	endpoints := cfg.Endpoints
	s.creds = cfg.Credentials
	if len(endpoints) == 0 {
		e, creds, err := startEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		s.etcd, s.creds = e, creds
		for _, u := range e.Config().AdvertiseClientUrls {
			endpoints = append(endpoints, u.String())
		}
	}
	// The embedded member's client learns the other members (their
	// advertised URLs are privlink's own flags). A client of
	// --etcd-endpoints keeps the list it was given: auto-sync would swap it
	// for the advertised URLs, which a cluster may set to addresses this
	// machine cannot reach (Debian's default is http://localhost:2379).
	var autoSync time.Duration
	if s.etcd != nil {
		autoSync = 30 * time.Second
	}
	tlsCfg, err := s.creds.tlsConfig()
	if err != nil {
		s.Close()
		return nil, err
	}
	var dialOpts []grpc.DialOption
	if cfg.Dialer != nil {
		dialOpts = append(dialOpts, grpc.WithContextDialer(cfg.Dialer))
	}
	cli, err := clientv3.New(clientv3.Config{
		DialOptions: dialOpts,
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		// A member that went silent (frozen, cut off: no reset) is
		// dropped by the balancer within ~13 s rather than at the TCP
		// timeout; 10 s is gRPC's minimum ping interval (less is raised
		// to it). A killed member's reset is noticed at once.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		AutoSyncInterval:     autoSync,
		Logger:               quietZap(),
		TLS:                  tlsCfg,
		Username:             s.creds.Username,
		Password:             s.creds.Password,
	})
	if err != nil {
		s.Close()
		if errors.Is(rpctypes.Error(err), rpctypes.ErrAuthFailed) {
			return nil, fmt.Errorf("etcd %v refused user %q: wrong --etcd-user or --etcd-password ($PRIVLINK_ETCD_PASSWORD): %w", endpoints, s.creds.Username, err)
		}
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	s.cli = cli
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Get(cctx, s.prefix+"probe"); err != nil {
		s.Close()
		hint := ""
		if s.creds.Cert == "" {
			hint = " (no client certificate given: privlink's embedded etcd requires its <data-dir>/pki/client.crt)"
		}
		return nil, fmt.Errorf("etcd %v not reachable%s: %w", endpoints, hint, err)
	}
	return s, nil
}

// startEmbedded starts the single-node etcd, closed to all but the
// holders of a certificate from its CA, and returns the client's credentials.
func startEmbedded(cfg Config) (*embed.Etcd, Credentials, error) {
	var creds Credentials
	if cfg.DataDir == "" {
		return nil, creds, errors.New("embedded etcd needs a data dir")
	}
	if cfg.ClientURL == "" || cfg.PeerURL == "" {
		return nil, creds, errors.New("embedded etcd needs its client and peer URLs")
	}
	cu, err := httpsURL(cfg.ClientURL) // never plain: see secureEmbedded
	if err != nil {
		return nil, creds, fmt.Errorf("etcd client url: %w", err)
	}
	pu, err := httpsURL(cfg.PeerURL)
	if err != nil {
		return nil, creds, fmt.Errorf("etcd peer url: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, creds, fmt.Errorf("data dir: %w", err)
	}
	ec := embed.NewConfig()
	ec.Dir = filepath.Join(cfg.DataDir, "etcd")
	ec.ListenClientUrls = []url.URL{*cu}
	ec.AdvertiseClientUrls = []url.URL{*cu}
	ec.ListenPeerUrls = []url.URL{*pu}
	ec.AdvertisePeerUrls = []url.URL{*pu}
	if err := cfg.Member.apply(ec); err != nil {
		return nil, creds, err
	}
	// A start reads every WAL file left in the data dir (etcd checks the
	// snapshot records of all of them before replaying from the last
	// snapshot), 64 MB each, and etcd keeps 5 by default. Only the files
	// from the last snapshot on are needed to recover, and etcd purges
	// only files wholly before it: keep 2 (see docs/benchmarks.md,
	// "Start-up to /readyz").
	ec.MaxWalFiles = WALFilesKept
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdLogger)
	ec.AutoCompactionMode = "revision"
	ec.AutoCompactionRetention = "10000"
	ec.QuotaBackendBytes = cfg.QuotaBytes
	if ec.QuotaBackendBytes == 0 {
		ec.QuotaBackendBytes = DefaultQuotaBytes
	}
	if creds, err = secureEmbedded(cfg.DataDir, ec); err != nil {
		return nil, creds, err
	}
	t0 := time.Now()
	walBytes, snapBytes := dirBytes(ec.WalDir, filepath.Join(ec.Dir, "member", "wal")), dirBytes(filepath.Join(ec.Dir, "member", "snap"))
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, creds, fmt.Errorf("start embedded etcd in %s: %w", ec.Dir, err)
	}
	booted := time.Since(t0) // WAL replayed, backend open; next: a leader
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(readyWait):
		e.Close()
		return nil, creds, fmt.Errorf("embedded etcd did not become ready in %v (a member of a cluster needs a quorum of its --etcd-initial-cluster up)", readyWait)
	case err := <-e.Err():
		e.Close()
		return nil, creds, fmt.Errorf("embedded etcd: %w", err)
	}
	cfg.Logger.Info("embedded etcd ready (TLS, client certificates only)", "dir", ec.Dir, "member", ec.Name, "client", cu.String(),
		"walBytes", walBytes, "snapBytes", snapBytes, "bootstrap", booted.Round(time.Millisecond).String(), "took", time.Since(t0).Round(time.Millisecond).String(),
		"cacert", creds.CACert, "cert", creds.Cert, "key", creds.Key)
	return e, creds, nil
}

// Prefix is the key prefix every key starts with.
func (s *Store) Prefix() string { return s.prefix }

// Credentials are what this store's client presents to etcd (for the
// embedded etcd: the files an agent or a second server needs to join it).
func (s *Store) Credentials() Credentials { return s.creds }

// Endpoints are the etcd client URLs this store uses.
func (s *Store) Endpoints() []string { return s.cli.Endpoints() }

// MemberEndpoints are the client URLs every member of the cluster
// advertises (what agents and other servers list in --etcd-endpoints).
func (s *Store) MemberEndpoints(ctx context.Context) ([]string, error) {
	r, err := s.cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("etcd members: %w", err)
	}
	var out []string
	for _, m := range r.Members {
		out = append(out, m.ClientURLs...)
	}
	return out, nil
}

// Embedded reports whether this store runs its own etcd.
func (s *Store) Embedded() bool { return s.etcd != nil }

// Close disconnects and stops the embedded etcd.
func (s *Store) Close() {
	if s.cli != nil {
		s.cli.Close()
	}
	if s.etcd != nil {
		// etcd logs its own listeners closing as errors; they are not.
		etcdLogLevel.SetLevel(zap.FatalLevel)
		s.etcd.Close()
	}
}

// Get decodes and validates one record; it returns ErrNotFound, or an
// error for a bad record, and the key's mod revision.
func Get[T any](ctx context.Context, s *Store, key string) (T, int64, error) {
	var zero T
	r, err := s.cli.Get(ctx, key)
	if err != nil {
		return zero, 0, fmt.Errorf("get %s: %w", key, err)
	}
	if len(r.Kvs) == 0 {
		return zero, 0, ErrNotFound
	}
	kv := r.Kvs[0]
	v, err := decode[T](kv.Value)
	if err != nil {
		s.bad.report(s.prefix, key, kv.ModRevision, err)
		return zero, 0, errBadRecord(key, err)
	}
	return *v, kv.ModRevision, nil
}

// MustJSON encodes v; values here are plain structs that always encode.
func MustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return string(b)
}

// Record is a decoded record with its key and mod revision.
type Record[T any] struct {
	Key   string
	Rev   int64
	Value T
}

// ListRecords is List with each record's key and mod revision, for
// guarding a write on many records at once.
// The revision is the store's at the read: guard a write on nothing
// having been created since with Txn.NoneCreatedAfter.
func ListRecords[T any](ctx context.Context, s *Store, prefix string) ([]Record[T], int64, error) {
	r, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	out := make([]Record[T], 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		v, err := decode[T](kv.Value)
		if err != nil {
			s.bad.report(s.prefix, string(kv.Key), kv.ModRevision, err)
			continue
		}
		out = append(out, Record[T]{Key: string(kv.Key), Rev: kv.ModRevision, Value: *v})
	}
	return out, r.Header.Revision, nil
}

// List decodes every good record under a key prefix, in key order; bad
// records are skipped (logged once and counted).
func List[T any](ctx context.Context, s *Store, prefix string) ([]T, error) {
	recs, _, err := ListRecords[T](ctx, s, prefix)
	out := make([]T, len(recs))
	for i, r := range recs {
		out[i] = r.Value
	}
	return out, err
}

// dirBytes is the size of the files in the first of dirs that is not ""
// (0 when it is absent): what the embedded etcd reads at start.
func dirBytes(dirs ...string) int64 {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			return 0
		}
		var n int64
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && !fi.IsDir() {
				n += fi.Size()
			}
		}
		return n
	}
	return 0
}
