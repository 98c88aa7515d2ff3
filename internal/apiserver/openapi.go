package apiserver

import (
	"net/http"

	"github.com/privlink/privlink/internal/api"
)

// serveOpenAPI serves the document generated from api.Operations, the
// table the routes are built from.
func (a *API) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.OpenAPI())
}
