package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestErrorClasses: an *Error wraps the sentinel of its code, or of its
// HTTP status when the code is unknown, and nothing else.
func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		e     *Error
		class error
	}{
		{&Error{Code: CodeNoGroup, Status: 404}, ErrNotFound},
		{&Error{Code: CodeNoMember, Status: 404}, ErrNotFound},
		{&Error{Code: CodeBusy, Status: 409}, ErrRefused},
		{&Error{Code: CodeNotLeader, Status: 503}, ErrNoLeader},
		{&Error{Code: CodeTimeout, Status: 504}, ErrTimeout},
		{&Error{Code: CodeInProgress, Status: 202}, ErrInProgress},
		{&Error{Status: http.StatusConflict}, ErrRefused},
		{&Error{Status: http.StatusBadGateway}, nil},
	} {
		if got := tc.e.Unwrap(); got != tc.class {
			t.Errorf("%+v: class %v, want %v", tc.e, got, tc.class)
		}
		if tc.e.Code != "" && tc.e.Code.HTTPStatus() != tc.e.Status {
			t.Errorf("%s: HTTP %d, want %d", tc.e.Code, tc.e.Code.HTTPStatus(), tc.e.Status)
		}
	}
	if Code("").HTTPStatus() != http.StatusInternalServerError {
		t.Errorf("an uncoded error is not answered 500")
	}
}

// TestClientDecodesErrors: a coded answer, a 202 in-progress answer and a
// non-JSON answer (a proxy's) all come back as *Error values.
func TestClientDecodesErrors(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/groups/db/transfer":
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"error":"still moving","code":"in_progress","group":{"name":"db","epoch":7}}`))
		case "/v1/groups":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid file","code":"invalid","errors":[{"line":3,"path":"groups[0].nodes","msg":"unknown node n9"}]}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("bad gateway"))
		}
	}))
	defer ts.Close()
	cl, err := NewClient(ts.URL, ts.Client().Transport.(*http.Transport).TLSClientConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g, err := cl.Transfer(ctx, "db", TransferRequest{To: "n2"})
	if !errors.Is(err, ErrInProgress) || g == nil || g.Epoch != 7 {
		t.Fatalf("in progress: %+v, %v", g, err)
	}
	_, err = cl.ApplyGroups(ctx, []byte("x"))
	var ae *Error
	if !errors.As(err, &ae) || !errors.Is(err, ErrInvalid) || len(ae.Errors) != 1 || ae.Error() != "invalid file:\nline 3: groups[0].nodes: unknown node n9" {
		t.Fatalf("invalid: %v", err)
	}
	_, err = cl.Status(ctx)
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || ae.Unwrap() != nil {
		t.Fatalf("proxy answer: %#v", err)
	}
	if _, err := NewClient("http://127.0.0.1:7401", nil, ""); err == nil {
		t.Fatal("a plaintext address was accepted")
	}
}
