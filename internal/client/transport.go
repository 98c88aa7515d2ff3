package client

import (
	"bytes"
	"io"
	"net/http"
)

// handlerTransport answers requests by calling an http.Handler in-process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The handler sees a request as a server would: RequestURI set and a
	// non-nil body.
	sr := req.Clone(req.Context())
	sr.RequestURI = req.URL.RequestURI()
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	w := &bufferWriter{header: http.Header{}}
	t.h.ServeHTTP(w, sr)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// bufferWriter is the minimal http.ResponseWriter the handler writes into.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
