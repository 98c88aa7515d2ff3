package model

import (
	"fmt"
	"net/http"
)

// Error is an API error with an Alibaba-style code, e.g. InvalidParameter.Cidr.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a 400 InvalidParameter.<field> error.
func Invalid(field, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "InvalidParameter."+field, format, args...)
}

// NotFound is a 404 <Kind>NotFound error.
func NotFound(kind, id string) *Error {
	return Errorf(http.StatusNotFound, kind+"NotFound", "%s %q does not exist", kind, id)
}
