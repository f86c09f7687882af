package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/raftha/raftha/api"
)

// withDeadlines bounds every request of the API: its body must arrive
// within lim.ReadTimeout of its headers, and its answer be written within
// lim.WriteTimeout of its first byte. (http.Server's own ReadTimeout and
// WriteTimeout would also cut off handlers that legitimately wait longer,
// a transfer or a stop, and cancel their context.)
func withDeadlines(lim Limits, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(lim.ReadTimeout))
			r.Body = &deadlineBody{ReadCloser: r.Body, clear: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		}
		dw := &deadlineWriter{ResponseWriter: w, arm: func() { _ = rc.SetWriteDeadline(time.Now().Add(lim.WriteTimeout)) }}
		next.ServeHTTP(dw, r)
		dw.once.Do(dw.arm) // the server writes the answer after the handler
	})
}

// deadlineBody clears the read deadline once the body has been read
// whole, so that the server's watch for a closed connection during a long
// handler does not take the deadline for a hang-up.
type deadlineBody struct {
	io.ReadCloser
	once  sync.Once
	clear func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.once.Do(b.clear)
	}
	return n, err
}

// deadlineWriter sets the write deadline when the answer starts.
type deadlineWriter struct {
	http.ResponseWriter
	once sync.Once
	arm  func()
}

func (w *deadlineWriter) WriteHeader(code int) {
	w.once.Do(w.arm)
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.once.Do(w.arm)
	return w.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the server's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on (the metrics handler uses it).
func (w *deadlineWriter) Flush() {
	w.once.Do(w.arm)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// maxJSONBody bounds a JSON request body; maxJSONDepth its nesting.
const (
	maxJSONBody  = 64 << 10
	maxJSONDepth = 32
)

// Errors of decodeStrictJSON, beside encoding/json's own.
var (
	errJSONTooLarge  = fmt.Errorf("body larger than %d bytes", maxJSONBody)
	errJSONTrailing  = errors.New("data after the JSON value")
	errJSONDuplicate = errors.New("duplicate key")
	errJSONTooDeep   = fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
)

// decodeStrictJSON decodes the one JSON value of body into v, refusing
// unknown fields, data after the value and duplicate keys (compared
// without regard to case, as encoding/json matches fields): each could
// make the caller and the server read the request differently.
func decodeStrictJSON(body io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(body, maxJSONBody+1))
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if len(data) > maxJSONBody {
		return errJSONTooLarge
	}
	if err := checkJSONKeys(json.NewDecoder(bytes.NewReader(data)), 0); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errJSONTrailing
	}
	return nil
}

// checkJSONKeys reads one JSON value from dec and fails on a duplicate
// key in any of its objects.
func checkJSONKeys(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxJSONDepth {
		return errJSONTooDeep
	}
	var keys map[string]bool
	if d == '{' {
		keys = map[string]bool{}
	}
	for dec.More() {
		if keys != nil {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			if lk := strings.ToLower(k); keys[lk] {
				return fmt.Errorf("%w %q", errJSONDuplicate, k)
			} else {
				keys[lk] = true
			}
		}
		if err := checkJSONKeys(dec, depth+1); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// badJSON answers a body decodeStrictJSON refused: 400, code invalid.
func badJSON(w http.ResponseWriter, example string, err error) {
	writeError(w, http.StatusBadRequest, &api.Error{Message: "body must be one JSON object like " + example + ": " + err.Error(), Code: api.CodeInvalid})
}

// apiMethods are the methods the API's routes may take.
var apiMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// notFound answers a request no route took: 405 with an Allow header
// when its path takes other methods, else 404.
func notFound(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range apiMethods {
			probe := r.WithContext(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, &api.Error{Message: fmt.Sprintf("%s takes %s, not %s", r.URL.Path, strings.Join(allow, ", "), r.Method), Code: api.CodeMethodNotAllowed})
			return
		}
		writeError(w, http.StatusNotFound, &api.Error{Message: "no such endpoint: " + r.Method + " " + r.URL.Path + " (see /v1/status, /v1/groups, /v1/members, /v1/events, /v1/health)", Code: api.CodeNotFound})
	}
}
