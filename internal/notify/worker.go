package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Headers of a delivery.
const (
	HeaderSignature    = "X-Privlink-Signature" // sha256=<hex HMAC-SHA256(secret, body)>
	HeaderEventID      = "X-Privlink-Event-Id"
	HeaderEventType    = "X-Privlink-Event-Type"
	HeaderNotification = "X-Privlink-Notification-Id"
)

// Defaults of Config.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultRetryBase   = time.Second
	DefaultRetryMax    = 5 * time.Minute
	DefaultMaxFailures = 8
	DefaultPoll        = 500 * time.Millisecond
)

// Config configures the delivery worker.
type Config struct {
	Store  *store.Store
	Logger *slog.Logger
	Allow  *AllowList
	// Timeout bounds one delivery (connect to last response byte).
	Timeout time.Duration
	// RetryBase and RetryMax shape the backoff: the n-th consecutive
	// failure waits RetryBase*2^(n-1), at most RetryMax.
	RetryBase, RetryMax time.Duration
	// MaxFailures consecutive failures disable the subscription.
	MaxFailures int
	// Poll is how often the worker looks for new events.
	Poll time.Duration
}

// Worker delivers events to subscriptions; every server may run one:
// a delivery is claimed on the subscription record (compare-and-swap)
// before it is attempted.
type Worker struct {
	cfg Config
	hc  *http.Client
	log *slog.Logger
}

// New returns a worker with cfg's zero fields defaulted.
func New(cfg Config) *Worker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{cfg: cfg, hc: cfg.Allow.httpClient(cfg.Timeout), log: cfg.Logger}
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	for {
		w.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) tick(ctx context.Context) {
	st := w.cfg.Store
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	recs, _, err := store.ListRecords[model.Notification](lctx, st, st.KindPrefix(store.KindNotif))
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("webhooks: list subscriptions", "err", err)
		}
		return
	}
	for _, rec := range recs {
		if ctx.Err() != nil {
			return
		}
		if err := w.step(ctx, rec); err != nil {
			w.log.Warn("webhooks: delivery step", "notificationId", rec.Value.NotificationID, "err", err)
		}
	}
}

// step delivers at most one event to one subscription.
func (w *Worker) step(ctx context.Context, rec store.Record[model.Notification]) error {
	n := rec.Value
	now := time.Now().UTC()
	if n.Status != model.NotificationEnabled || after(n.Delivery.ClaimedUntil, now) || after(n.Delivery.NextAttemptTime, now) {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	evs, _, err := w.cfg.Store.ListEvents(sctx, n.Delivery.Cursor, 200)
	cancel()
	if err != nil || len(evs) == 0 {
		return err
	}
	var next *model.Event
	skipped := n.Delivery.Cursor
	for i := range evs {
		if n.Wants(&evs[i]) {
			next = &evs[i]
			break
		}
		skipped = evs[i].EventID
	}
	n.Delivery.Cursor = skipped
	if next == nil {
		_, err := w.cas(ctx, rec, n)
		return err
	}
	// Claim the delivery, so other servers wait for its outcome.
	n.Delivery.ClaimedUntil = now.Add(w.cfg.Timeout + 5*time.Second).Format(time.RFC3339Nano)
	rev, err := w.cas(ctx, rec, n)
	if err != nil || rev == 0 {
		return err
	}
	status, derr := w.post(ctx, &n, next)
	d := &n.Delivery
	d.ClaimedUntil = ""
	d.Attempts++
	d.LastEventID, d.LastStatus, d.LastAttemptTime = next.EventID, status, time.Now().UTC().Format(time.RFC3339Nano)
	if derr == nil {
		d.Cursor, d.Delivered, d.Failures, d.LastError, d.NextAttemptTime = next.EventID, d.Delivered+1, 0, "", ""
	} else {
		d.Failures++
		d.LastError = derr.Error()
		wait := min(w.cfg.RetryBase<<min(d.Failures-1, 30), w.cfg.RetryMax)
		d.NextAttemptTime = time.Now().UTC().Add(wait).Format(time.RFC3339Nano)
		if d.Failures >= w.cfg.MaxFailures {
			n.Status = model.NotificationDisabled
			w.log.Warn("webhook disabled after repeated failures", "notificationId", n.NotificationID, "failures", d.Failures, "lastError", d.LastError)
		}
	}
	_, err = w.cas(ctx, store.Record[model.Notification]{Key: rec.Key, Rev: rev}, n)
	return err
}

// cas writes n if the record is still at rec.Rev; it returns the new
// revision, or 0 when the record changed (or went) meanwhile.
func (w *Worker) cas(ctx context.Context, rec store.Record[model.Notification], n model.Notification) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return w.cfg.Store.NewTxn().Unchanged(rec.Key, rec.Rev).Put(rec.Key, n).CommitRev(cctx)
}

// post delivers one event; any answer but 2xx is a failure.
func (w *Worker) post(ctx context.Context, n *model.Notification, e *model.Event) (int, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "privlink-webhook")
	req.Header.Set(HeaderSignature, Sign(n.Secret, body))
	req.Header.Set(HeaderEventID, e.EventID)
	req.Header.Set(HeaderEventType, e.EventType)
	req.Header.Set(HeaderNotification, n.NotificationID)
	resp, err := w.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// Sign is the signature header's value for body: "sha256=" and the hex
// HMAC-SHA256 of body keyed with secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body in constant time.
func Verify(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

func after(ts string, now time.Time) bool {
	if ts == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return err == nil && t.After(now)
}
