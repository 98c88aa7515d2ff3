// Package notify delivers events to webhook subscriptions
// (model.Notification): a JSON POST of the event, signed with
// HMAC-SHA256 under the subscription's secret, at least once, in event
// order, retried with exponential backoff, and the subscription disabled
// after MaxFailures consecutive failures. URLs are limited by an
// AllowList, checked at create time and again on every connection (the
// dialed address), and redirects are not followed.
package notify
