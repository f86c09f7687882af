package aws

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// SharedReadTTL is how long a monitor's EC2 read is shared between the
// resources of one member: the checks of every aws.route resource in one
// VPC share one DescribeRouteTables, of every resource of the member one
// DescribeInstances of its instance, and of every aws.eip one
// DescribeAddresses, each at most once per SharedReadTTL. The monitors'
// steady-state calls per minute are thus at most 60s/SharedReadTTL per
// kind (and VPC), whatever the number of groups (docs/scale.md). Only
// Check reads through it: Start, Stop and every read-back after a change
// ask EC2 directly, and a change drops the shared read it made stale.
const SharedReadTTL = 5 * time.Second

// sharedReads are the EC2 reads shared between the resources built over
// one aws.Config (one member's).
type sharedReads struct {
	client *ec2.Client
	ttl    time.Duration

	mu      sync.Mutex
	entries map[string]*sharedRead
}

// sharedRead is one read: in flight until done is closed, then valid
// until at+ttl when it succeeded. A failed read is shared only by the
// callers that waited on it.
type sharedRead struct {
	at   time.Time
	done chan struct{}
	val  any
	err  error
}

var (
	readsMu  sync.Mutex
	readsFor = map[*aws.Config]*sharedReads{}
)

// readsOf returns the shared reads of the member whose configuration is
// cfg (the one Provider put in resources.Env.Cloud).
func readsOf(cfg *aws.Config, client *ec2.Client) *sharedReads {
	readsMu.Lock()
	defer readsMu.Unlock()
	r := readsFor[cfg]
	if r == nil {
		r = &sharedReads{client: client, ttl: SharedReadTTL, entries: map[string]*sharedRead{}}
		readsFor[cfg] = r
	}
	return r
}

// sharedFetchTimeout bounds a shared read. It runs detached from the
// context of the caller that started it: that caller's monitor timeout or
// lease must not end the read for the other groups waiting on it (each
// waits only as long as its own context allows).
const sharedFetchTimeout = 30 * time.Second

// get returns the read under key: a fresh enough one, the one in flight,
// or a new one made with fetch. The read's age counts from when it
// started.
func (s *sharedReads) get(ctx context.Context, key string, fetch func(context.Context) (any, error)) (any, error) {
	s.mu.Lock()
	e := s.entries[key]
	if e != nil {
		select {
		case <-e.done:
			if e.err != nil || time.Since(e.at) >= s.ttl {
				e = nil
			}
		default: // in flight
		}
	}
	if e == nil {
		e = &sharedRead{done: make(chan struct{})}
		s.entries[key] = e
		s.mu.Unlock()
		go func(e *sharedRead) {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedFetchTimeout)
			defer cancel()
			at := time.Now()
			val, err := fetch(fctx)
			e.val, e.err, e.at = val, err, at
			close(e.done)
		}(e)
	} else {
		s.mu.Unlock()
	}
	select {
	case <-e.done:
		return e.val, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forget drops key's read (after a change that made it stale).
func (s *sharedReads) forget(key string) {
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
}

// forgetPrefix drops every read whose key starts with prefix.
func (s *sharedReads) forgetPrefix(prefix string) {
	s.mu.Lock()
	for k := range s.entries {
		if strings.HasPrefix(k, prefix) {
			delete(s.entries, k)
		}
	}
	s.mu.Unlock()
}

// Shared read keys.
func instanceKey(id string) string   { return "DescribeInstances/" + id }
func vpcTablesKey(vpc string) string { return "DescribeRouteTables/vpc/" + vpc }

const addressesKey = "DescribeAddresses"

// vpcTables returns every route table of vpc, read once per TTL for all
// route resources of the member.
func (s *sharedReads) vpcTables(ctx context.Context, vpc string, timeout time.Duration, apiError func(op, what string, err error) error) ([]types.RouteTable, error) {
	v, err := s.get(ctx, vpcTablesKey(vpc), func(ctx context.Context) (any, error) {
		var all []types.RouteTable
		pg := ec2.NewDescribeRouteTablesPaginator(s.client, &ec2.DescribeRouteTablesInput{
			Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}},
		})
		for pg.HasMorePages() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			out, err := pg.NextPage(cctx)
			cancel()
			if err != nil {
				return nil, apiError("DescribeRouteTables", "in "+vpc, err)
			}
			all = append(all, out.RouteTables...)
		}
		return all, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]types.RouteTable), nil
}

// addresses returns every Elastic IP of the region, read once per TTL for
// all aws.eip resources of the member.
func (s *sharedReads) addresses(ctx context.Context, timeout time.Duration, apiError func(op, what string, err error) error) ([]types.Address, error) {
	v, err := s.get(ctx, addressesKey, func(ctx context.Context) (any, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		out, err := s.client.DescribeAddresses(cctx, &ec2.DescribeAddressesInput{})
		if err != nil {
			return nil, apiError("DescribeAddresses", "(all, shared by the checks)", err)
		}
		return out.Addresses, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]types.Address), nil
}
