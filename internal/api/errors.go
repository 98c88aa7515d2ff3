package api

import "fmt"

// Error is the body of every error response, {"code","message","requestId"},
// with the HTTP status beside it. The server writes it; the client returns
// it (as *Error) for every answer with status 400 or above.
type Error struct {
	Status    int    `json:"-"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d, requestId %s)", e.Code, e.Message, e.Status, e.RequestID)
}

// DryRunCode is the code of a DryRunResult.
const DryRunCode = "DryRunOperation"

// DryRunResult is the answer (HTTP 200) to a request with dryRun set that
// passed validation. The client returns it as an error, so a typed create
// never yields an empty resource.
type DryRunResult struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func (d *DryRunResult) Error() string { return d.Code + ": " + d.Message }
