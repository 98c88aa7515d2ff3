package store

import "go.uber.org/zap"

// quietZap silences the etcd client's own zap logging below errors.
func quietZap() *zap.Logger {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	l, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}

// etcdLogLevel is the embedded etcd's log level: errors only, raised to
// fatal while shutting down.
var etcdLogLevel = zap.NewAtomicLevelAt(zap.ErrorLevel)

var etcdLogger = func() *zap.Logger {
	cfg := zap.NewProductionConfig()
	cfg.Level = etcdLogLevel
	l, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}()
