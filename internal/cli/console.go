package cli

import "net/http"

// ConsoleHandler builds the web console on the API handler; nil until the
// console exists.
var ConsoleHandler func(apiHandler http.Handler) http.Handler
