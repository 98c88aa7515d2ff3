package cli

import (
	"net/http"

	"github.com/privlink/privlink/internal/apiserver"
)

// ConsoleHandler mounts the web console; nil until the console exists.
var ConsoleHandler func(api *apiserver.API) http.Handler
