package server

import (
	"net/http"

	"github.com/privlink/privlink/internal/aliyun"
)

// mountRPC serves the Alibaba Cloud RPC API (internal/aliyun) at POST / on
// the API's listener, beside /v1 (GET / stays the console's).
func (s *Server) mountRPC(mux *http.ServeMux) {
	if s.API == nil {
		return
	}
	mux.Handle("POST /{$}", aliyun.New(aliyun.Config{API: s.API, Region: s.cfg.Region, Zones: s.cfg.Zones, Logger: s.log}))
}
