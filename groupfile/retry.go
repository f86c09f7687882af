package groupfile

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
)

// retryYAML is a group's start retry policy:
//
//	start_retries: 2          # retries on the same node before failing over
//	start_retry_backoff: 2s   # wait before the first retry, doubling (max 1m)
//	retry_failed_after: 5m    # failed on every node: place again after this; 0: never
type retryYAML struct {
	StartRetries      *int             `yaml:"start_retries"`
	StartRetryBackoff *config.Duration `yaml:"start_retry_backoff"`
	RetryFailedAfter  *config.Duration `yaml:"retry_failed_after"`
}

// Retry defaults: a failed start is retried twice on the same node (after
// 2s, then 4s) before the group fails over; a group that failed on every
// node is placed again after 5 minutes.
const (
	DefaultStartRetries      = 2
	DefaultStartRetryBackoff = 2 * time.Second
	DefaultRetryFailedAfter  = 5 * time.Minute
)

// Bounds of the retry policy.
const (
	// MaxStartRetries bounds start_retries.
	MaxStartRetries = 100
	// MinRetryFailedAfter is the shortest retry_failed_after other than 0:
	// a group that fails everywhere is not retried in a tight loop.
	MinRetryFailedAfter = time.Second
)

// apply sets the retry policy of spec, defaults for what is not given, and
// returns the problems found, each with its line.
func (r retryYAML) apply(spec *fsm.GroupSpec, root *yaml.Node, path string) yamlstrict.ErrorList {
	spec.StartRetries, spec.StartRetryBackoff, spec.RetryFailedAfter = DefaultStartRetries, DefaultStartRetryBackoff, DefaultRetryFailedAfter
	var errs yamlstrict.ErrorList
	bad := func(key, format string, args ...any) {
		p := path + "." + key
		errs = append(errs, &yamlstrict.FieldError{Line: yamlstrict.LineOf(root, p), Path: p, Msg: fmt.Sprintf(format, args...)})
	}
	if r.StartRetries != nil {
		spec.StartRetries = *r.StartRetries
		if spec.StartRetries < 0 || spec.StartRetries > MaxStartRetries {
			bad("start_retries", "must be between 0 and %d (0: fail over at the first failed start)", MaxStartRetries)
		}
	}
	if r.StartRetryBackoff != nil {
		spec.StartRetryBackoff = r.StartRetryBackoff.D()
		if spec.StartRetryBackoff <= 0 || spec.StartRetryBackoff > fsm.MaxStartRetryBackoff {
			bad("start_retry_backoff", "must be greater than 0 and at most %s (it doubles at each retry, up to %s)", fsm.MaxStartRetryBackoff, fsm.MaxStartRetryBackoff)
		}
	}
	if r.RetryFailedAfter != nil {
		spec.RetryFailedAfter = r.RetryFailedAfter.D()
		if spec.RetryFailedAfter != 0 && spec.RetryFailedAfter < MinRetryFailedAfter {
			bad("retry_failed_after", "must be 0 (never: an operator must act) or at least %s", MinRetryFailedAfter)
		}
	}
	return errs
}
