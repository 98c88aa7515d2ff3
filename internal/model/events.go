package model

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event types: every state change a provider or consumer cares about.
const (
	EventConnectionRequested = "ConnectionRequested"
	EventAccepted            = "Accepted"
	EventRejected            = "Rejected"
	EventDisconnected        = "Disconnected"
	EventEndpointActive      = "EndpointActive"
	EventEndpointDeleted     = "EndpointDeleted"
	EventZoneUnavailable     = "ZoneUnavailable"
	EventZoneAvailable       = "ZoneAvailable"
	EventBackendUnhealthy    = "BackendUnhealthy"
	EventBackendHealthy      = "BackendHealthy"
	EventServiceDeleted      = "ServiceDeleted"
	// EventNotificationDisabled says a webhook subscription was disabled
	// after repeated delivery failures.
	EventNotificationDisabled = "NotificationDisabled"
	// EventQuotaExceeded says a request of the account was refused by a
	// quota (at most one per account and quota code per minute).
	EventQuotaExceeded = "QuotaExceeded"
)

// EventTypes lists every event type, for validation and documentation.
var EventTypes = []string{
	EventConnectionRequested, EventAccepted, EventRejected, EventDisconnected,
	EventEndpointActive, EventEndpointDeleted, EventZoneUnavailable, EventZoneAvailable,
	EventBackendUnhealthy, EventBackendHealthy, EventServiceDeleted, EventNotificationDisabled, EventQuotaExceeded,
}

// QuotaHit records that a request of AccountID was refused with a
// QuotaExceeded.* code; the events controller turns its appearance into a
// QuotaExceeded event. It lives under a short lease.
type QuotaHit struct {
	AccountID string `json:"accountId"`
	Code      string `json:"code"`
	Message   string `json:"message"`
}

// Validate checks a quota hit record.
func (q *QuotaHit) Validate() error {
	if !ValidAccountID(q.AccountID) || !strings.HasPrefix(q.Code, "QuotaExceeded.") {
		return fmt.Errorf("quota hit: account %q, code %q", q.AccountID, q.Code)
	}
	return nil
}

// ValidEventType reports whether t is one of EventTypes.
func ValidEventType(t string) bool { return slices.Contains(EventTypes, t) }

// Event is one recorded state change. EventID sorts in the order the
// changes happened: the zero-padded store revision of the change, "-", and
// the event's index within that revision.
type Event struct {
	EventID   string `json:"eventId"`
	EventTime string `json:"eventTime"`
	EventType string `json:"eventType"`
	// AccountIDs are the accounts the event concerns (provider and
	// consumer); only they (and the admin) can read it.
	AccountIDs     []string `json:"accountIds"`
	ServiceID      string   `json:"serviceId,omitempty"`
	EndpointID     string   `json:"endpointId,omitempty"`
	ZoneID         string   `json:"zoneId,omitempty"`
	Backend        string   `json:"backend,omitempty"`
	NotificationID string   `json:"notificationId,omitempty"`
	Message        string   `json:"message,omitempty"`
}

// EventID formats the ID of the index-th event of store revision rev.
func EventID(rev int64, index int) string { return fmt.Sprintf("%016d-%04d", rev, index) }

// ValidEventID reports whether id has EventID's form.
func ValidEventID(id string) bool {
	if len(id) != 21 || id[16] != '-' {
		return false
	}
	for i, c := range id {
		if i != 16 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Resources are the resource IDs the event names (for the resourceId filter).
func (e *Event) Resources() []string {
	var out []string
	for _, s := range []string{e.ServiceID, e.EndpointID, e.ZoneID, e.Backend, e.NotificationID} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Concerns reports whether the event concerns account.
func (e *Event) Concerns(account string) bool { return slices.Contains(e.AccountIDs, account) }

// Validate checks an event record.
func (e *Event) Validate() error {
	if !ValidEventID(e.EventID) {
		return fmt.Errorf("event: bad ID %q", e.EventID)
	}
	if !ValidEventType(e.EventType) {
		return fmt.Errorf("event %s: unknown type %q", e.EventID, e.EventType)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.EventTime); err != nil {
		return fmt.Errorf("event %s: bad time: %w", e.EventID, err)
	}
	for _, a := range e.AccountIDs {
		if !ValidAccountID(a) {
			return fmt.Errorf("event %s: %q is not an account ID", e.EventID, a)
		}
	}
	return nil
}
