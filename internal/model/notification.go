package model

import (
	"fmt"
	"net/url"
	"time"
)

// PrefixNotification is the ID prefix of webhook subscriptions.
const PrefixNotification = "nt-"

// Notification states.
const (
	NotificationEnabled  = "Enabled"
	NotificationDisabled = "Disabled"
)

// Notification is a webhook subscription to the events of one service or
// one endpoint of its owner.
type Notification struct {
	NotificationID string   `json:"notificationId"`
	AccountID      string   `json:"accountId"`
	ServiceID      string   `json:"serviceId,omitempty"`
	EndpointID     string   `json:"endpointId,omitempty"`
	URL            string   `json:"url"`
	EventTypes     []string `json:"eventTypes"` // empty: every type
	// Secret keys the HMAC-SHA256 signature of each delivery; the API
	// shows it once, in the answer to the create.
	Secret     string   `json:"secret,omitempty"`
	Status     string   `json:"status"`
	CreateTime string   `json:"createTime"`
	Delivery   Delivery `json:"delivery"`
}

// Delivery is a subscription's delivery log: where it is in the event
// sequence and how its last attempt went.
type Delivery struct {
	// Cursor is the last event ID delivered or skipped (not for this
	// subscription); delivery resumes after it.
	Cursor string `json:"cursor,omitempty"`
	// LastEventID, LastStatus (HTTP status, 0: no answer), LastError and
	// LastAttemptTime describe the last attempt.
	LastEventID     string `json:"lastEventId,omitempty"`
	LastStatus      int    `json:"lastStatus,omitempty"`
	LastError       string `json:"lastError,omitempty"`
	LastAttemptTime string `json:"lastAttemptTime,omitempty"`
	// Attempts counts every attempt; Failures the consecutive failed ones.
	Attempts  int `json:"attempts"`
	Delivered int `json:"delivered"`
	Failures  int `json:"failures"`
	// NextAttemptTime holds back the retry of a failed delivery (backoff).
	NextAttemptTime string `json:"nextAttemptTime,omitempty"`
	// ClaimedUntil is set by the server delivering right now, so other
	// servers leave the subscription alone until then.
	ClaimedUntil string `json:"claimedUntil,omitempty"`
}

// Wants reports whether event e goes to this subscription: it names the
// subscription's service or endpoint, concerns its owner, and is of one of
// its types.
func (n *Notification) Wants(e *Event) bool {
	if n.ServiceID != "" && e.ServiceID != n.ServiceID || n.EndpointID != "" && e.EndpointID != n.EndpointID {
		return false
	}
	if !e.Concerns(n.AccountID) {
		return false
	}
	if len(n.EventTypes) == 0 {
		return true
	}
	for _, t := range n.EventTypes {
		if t == e.EventType {
			return true
		}
	}
	return false
}

// Validate checks a notification record.
func (n *Notification) Validate() error {
	if !ValidID(PrefixNotification, n.NotificationID) {
		return fmt.Errorf("notification: bad ID %q", n.NotificationID)
	}
	if !ValidAccountID(n.AccountID) {
		return fmt.Errorf("notification %s: bad account %q", n.NotificationID, n.AccountID)
	}
	if (n.ServiceID == "") == (n.EndpointID == "") {
		return fmt.Errorf("notification %s: exactly one of service and endpoint", n.NotificationID)
	}
	if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("notification %s: bad URL %q", n.NotificationID, n.URL)
	}
	for _, t := range n.EventTypes {
		if !ValidEventType(t) {
			return fmt.Errorf("notification %s: unknown event type %q", n.NotificationID, t)
		}
	}
	if n.Status != NotificationEnabled && n.Status != NotificationDisabled {
		return fmt.Errorf("notification %s: bad status %q", n.NotificationID, n.Status)
	}
	if _, err := time.Parse(time.RFC3339, n.CreateTime); err != nil {
		return fmt.Errorf("notification %s: bad create time", n.NotificationID)
	}
	return nil
}
