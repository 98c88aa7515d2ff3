package model

import "fmt"

// Error is a rejected input or state with an Alibaba-style code, e.g.
// InvalidParameter.Cidr, and the HTTP status the API answers it with. It is
// not a wire type: the API answers it as an api.Error body.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// The statuses of the helpers below (the values of net/http's constants,
// which this package does not import).
const (
	statusBadRequest = 400
	statusNotFound   = 404
)

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a 400 InvalidParameter.<field> error.
func Invalid(field, format string, args ...any) *Error {
	return Errorf(statusBadRequest, "InvalidParameter."+field, format, args...)
}

// NotFound is a 404 <Kind>NotFound error.
func NotFound(kind, id string) *Error {
	return Errorf(statusNotFound, kind+"NotFound", "%s %q does not exist", kind, id)
}
