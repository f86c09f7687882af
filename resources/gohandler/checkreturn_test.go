package gohandler

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// Between a handler's return (call records the error and cancels the run
// with errHandlerReturned) and call closing done, Check already reports
// how the handler ended, not "cancelled and not returned yet": the server
// test TestHandlerResourceLifecycle caught that window once.
func TestCheckReportsAReturnBeforeDoneIsClosed(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	run := &handlerRun{ctx: ctx, cancel: cancel, entered: make(chan struct{}), done: make(chan struct{}), err: errors.New("boom")}
	cancel(errHandlerReturned) // as call's deferred func does, before close(done)
	r := &handlerResource{handler: "h", log: hclog.NewNullLogger(), run: run}
	err := r.Check(context.Background(), run.tok)
	if err == nil || !strings.Contains(err.Error(), "returned: boom") {
		t.Fatalf("Check = %v; want the handler's return (returned: boom)", err)
	}
}
