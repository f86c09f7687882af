package aws_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	awsres "github.com/raftha/raftha/resources/aws"
)

// deleteFaultProxy forwards every request to moto_server except the first
// Route 53 DELETE change, which it answers with a Route 53 error of code
// and message. It counts the DELETE changes.
type deleteFaultProxy struct {
	url     string
	mu      sync.Mutex
	deletes int
}

func newDeleteFaultProxy(t *testing.T, moto, code, message string) *deleteFaultProxy {
	t.Helper()
	p := &deleteFaultProxy{}
	p.url = motoProxy(t, moto, func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if !strings.Contains(r.URL.Path, "/rrset") || !bytes.Contains(body, []byte("<Action>DELETE</Action>")) {
			return false
		}
		p.mu.Lock()
		p.deletes++
		first := p.deletes == 1
		p.mu.Unlock()
		if !first {
			return false
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>t-delete</RequestId></ErrorResponse>`, code, message)
		return true
	})
	return p
}

func (p *deleteFaultProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deletes
}

// TestDNSDeleteOnStopRetriesOnlyInvalidChangeBatch: a delete_on_stop
// Stop whose DELETE Route 53 refuses with InvalidChangeBatch (the record
// changed between the read and the delete) reads the record again and
// deletes it. Another refusal is returned, even when its message names
// InvalidChangeBatch: the code decides, not the text.
func TestDNSDeleteOnStopRetriesOnlyInvalidChangeBatch(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.220", false)
	for _, tc := range []struct {
		name, code, message string
		retried             bool
	}{
		{"InvalidChangeBatch", "InvalidChangeBatch", "Tried to delete resource record set [name='db.race.internal.', type='A'] but the values provided do not match the current values", true},
		{"other code naming it", "InvalidInput", "InvalidChangeBatch: batch rejected by the zone's policy", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zone := f.zone(t, "race.internal")
			p := newDeleteFaultProxy(t, f.m.Endpoint, tc.code, tc.message)
			env := f.env(t, a)
			env.Cloud = configVia(t, p.url)
			r := dnsebsMustBuild(t, awsres.DNSType, fmt.Sprintf("hosted_zone_id: %s\nrecord: db.race.internal\ndelete_on_stop: true\n", zone), env)
			ctx := dnsebsCtx(t)
			if err := r.Start(ctx, dnsTok("a", 1)); err != nil {
				t.Fatalf("start: %v", err)
			}
			err := r.Stop(ctx, dnsTok("a", 1))
			got := f.record(t, zone, "db.race.internal", r53types.RRTypeA)
			if tc.retried {
				if err != nil || got != nil || p.count() != 2 {
					t.Fatalf("stop after an InvalidChangeBatch: err %v, record %v, %d DELETEs; want nil, none, 2", err, got, p.count())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.code) || p.count() != 1 {
				t.Fatalf("stop after %s: err %v, %d DELETEs; want the %s error after 1 DELETE (record now %v)", tc.code, err, p.count(), tc.code, got)
			}
		})
	}
}
