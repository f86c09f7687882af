package aws

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/ebsdev"
)

// EBSParams are the aws.ebs resource's settings.
//
// Two shapes, after the two ways of sharing an EBS volume in a cluster:
//
//   - single-attach (default): the volume follows the owner. Start attaches
//     it to this instance, first detaching it (with Force, by default) from
//     whichever instance still holds it — the fenced old owner. Stop
//     detaches it.
//   - multi_attach: an io1/io2 volume with Multi-Attach enabled stays
//     attached to every node (CLUSTERPRO's shared-disk layout on EBS);
//     raftha never attaches or detaches it. Start and Check only verify that
//     it is attached here; which node may write is decided by the group
//     (the disk resource mounts the partition only on the owner).
type EBSParams struct {
	// VolumeID is the volume (vol-...). Required.
	VolumeID string `yaml:"volume_id" json:"volume_id"`
	// Device is the device name given to AttachVolume (e.g. /dev/xvdf).
	// Required unless multi_attach; on Nitro instances the kernel names the
	// disk nvmeXn1 regardless, and DevicePath finds it by serial.
	Device string `yaml:"device" json:"device,omitempty"`
	// MultiAttach: every node keeps the volume attached; only verify.
	MultiAttach bool `yaml:"multi_attach" json:"multi_attach,omitempty"`
	// ForceDetach (default true) detaches the volume from another instance
	// with Force. The other instance is the old owner, already fenced
	// (stopped), so nothing can be flushing to the volume any more; without
	// Force a detach from a hung or still-running instance waits for the
	// guest to release the disk, and the takeover fails after wait_timeout.
	ForceDetach *bool `yaml:"force_detach" json:"force_detach,omitempty"`
	// WaitTimeout bounds each wait for a detach or attach in Start
	// (default 2m).
	WaitTimeout string `yaml:"wait_timeout" json:"wait_timeout,omitempty"`
	// StopTimeout bounds a single-attach volume's Stop, the detach and
	// its wait (default: min(wait_timeout, the cluster's
	// fencing.stop_deadline)).
	StopTimeout string `yaml:"stop_timeout" json:"stop_timeout,omitempty"`
}

var (
	ebsVolumeIDPattern = ebsdev.VolumeIDPattern
	ebsDevicePattern   = regexp.MustCompile(`^/dev/[a-z][a-z0-9]*$`)
)

// Validate implements resources.Validator.
func (p *EBSParams) Validate() error {
	var errs []error
	switch {
	case p.VolumeID == "":
		errs = append(errs, errors.New("volume_id is required (vol-...)"))
	case !ebsVolumeIDPattern.MatchString(p.VolumeID):
		errs = append(errs, fmt.Errorf("volume_id: expected vol- followed by hexadecimal digits, got %q", p.VolumeID))
	}
	switch {
	case p.Device == "" && !p.MultiAttach:
		errs = append(errs, errors.New("device is required to attach the volume (e.g. /dev/xvdf)"))
	case p.Device != "" && !ebsDevicePattern.MatchString(p.Device):
		errs = append(errs, fmt.Errorf("device: expected a device name like /dev/xvdf or /dev/sdf, got %q", p.Device))
	}
	if p.MultiAttach && p.ForceDetach != nil && *p.ForceDetach {
		errs = append(errs, errors.New("force_detach cannot be set with multi_attach (a Multi-Attach volume is never detached)"))
	}
	if err := resources.CheckDuration("wait_timeout", p.WaitTimeout, "2m"); err != nil {
		errs = append(errs, err)
	}
	if err := p.checkStopTimeout(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (p *EBSParams) forceDetach() bool { return p.ForceDetach == nil || *p.ForceDetach }

// EBSType is the aws.ebs resource type.
var EBSType = resources.Type{
	Name:      "aws.ebs",
	NewParams: func() any { return &EBSParams{} },
	Build: func(params any, env resources.Env) (resources.Resource, error) {
		p, ok := params.(*EBSParams)
		if !ok {
			return nil, fmt.Errorf("aws.ebs: params of type %T", params)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if err := awsresCheckEnv("aws.ebs", env); err != nil {
			return nil, err
		}
		waitTimeout := resources.DurationOr(p.WaitTimeout, 2*time.Minute)
		return &EBSResource{
			p:           *p,
			env:         env,
			log:         awsresLogger(env),
			client:      resourceEC2(ConfigOf(env)),
			callTimeout: awsresCallTimeout(env),
			waitTimeout: waitTimeout,
			stopTimeout: resources.StopTimeoutOr(p.StopTimeout, waitTimeout, env.StopDeadline),
			MinDelay:    250 * time.Millisecond,
			MaxDelay:    2 * time.Second,
		}, nil
	},
}

// EBSResource is one aws.ebs resource instance.
type EBSResource struct {
	p           EBSParams
	env         resources.Env
	log         hclog.Logger
	client      *ec2.Client
	callTimeout time.Duration
	waitTimeout time.Duration
	stopTimeout time.Duration // stop_timeout, or min(wait_timeout, stop_deadline)
	// MinDelay and MaxDelay tune polling while waiting for attachment
	// changes (the SDK waiters' defaults of 15s/120s would add seconds to
	// every failover).
	MinDelay, MaxDelay time.Duration
}

// Start implements resources.Resource.
func (r *EBSResource) Start(ctx context.Context, tok resources.Token) error {
	ctx = actionCalls(ctx) // a takeover waits on it: prompt retries (resourceclient.go)
	if r.p.MultiAttach {
		if err := r.verifyAttached(ctx); err != nil {
			return err
		}
		r.logDevice(tok, "multi-attach volume is attached here")
		return nil
	}
	self := r.env.InstanceID
	v, err := r.describe(ctx)
	if err != nil {
		return err
	}
	// Whoever else holds the volume is the old owner, fenced by now.
	var others []string
	for _, a := range v.Attachments {
		id := aws.ToString(a.InstanceId)
		if id == self || a.State == types.VolumeAttachmentStateDetached {
			continue
		}
		others = append(others, id)
		r.log.Warn("volume is attached to another instance; detaching it", "volume", r.p.VolumeID,
			"instance", id, "state", string(a.State), "force", r.p.forceDetach(), "epoch", tok.Epoch)
		// Refused (IncorrectState): already detaching, or still
		// attaching. The wait for the volume to become available decides;
		// an attachment that was attaching and then completes is not
		// detached again, so that wait runs out (wait_timeout) and the
		// start fails (not fixed: the old owner must have been fenced in
		// the middle of its own attach, and a force detach is refused).
		if _, err := r.detach(ctx, id, r.p.forceDetach()); err != nil {
			return err
		}
	}
	if ebsAttachingHere(v, self) != nil {
		return r.finishAttach(ctx, tok)
	}
	// Not attached here, or detaching or busy from here: let that
	// finish, then attach again.
	if len(others) > 0 || v.State != types.VolumeStateAvailable {
		if err := r.waitAvailable(ctx); err != nil {
			return fmt.Errorf("aws.ebs: volume %s: waiting to become available (detached from %s): %w",
				r.p.VolumeID, ebsAttachmentsString(v), err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	_, err = r.client.AttachVolume(cctx, &ec2.AttachVolumeInput{
		VolumeId:   aws.String(r.p.VolumeID),
		InstanceId: aws.String(self),
		Device:     aws.String(r.p.Device),
	}, ec2Opts(cctx))
	cancel()
	if err != nil {
		// An attach that EC2 applied but whose answer was lost (a 5xx or
		// an abandoned attempt) is refused when the retryer sends it
		// again (VolumeInUse, IncorrectState), or its retries are
		// throttled until the call's deadline: the volume is then
		// attaching, or attached, here, and the start goes on. After an
		// attach that ran out of time the look is short: the API may be
		// down, and a look of a whole call timeout would only delay the
		// failed start's stop (which looks again, and detaches what EC2
		// applied).
		look := r.callTimeout
		if ranOutOfTime(err) {
			look = min(look, lookAfterTimeout)
		}
		v, derr := r.describeWithin(ctx, look)
		if derr == nil {
			if a := ebsAttachingHere(v, self); a != nil {
				r.log.Info("AttachVolume failed, but the volume is attached here (an earlier attempt was applied)",
					"volume", r.p.VolumeID, "state", string(a.State), "error", describeAPIError(err), "epoch", tok.Epoch)
				return r.finishAttach(ctx, tok)
			}
		} else {
			r.log.Debug("cannot look at the volume after a failed attach", "volume", r.p.VolumeID, "error", derr)
		}
		return fmt.Errorf("aws.ebs: AttachVolume %s to %s as %s: %s", r.p.VolumeID, self, r.p.Device, describeAPIError(err))
	}
	return r.finishAttach(ctx, tok)
}

// finishAttach waits until the volume is attached to this instance and to
// no other, reads it back and logs the host device.
func (r *EBSResource) finishAttach(ctx context.Context, tok resources.Token) error {
	self := r.env.InstanceID
	err := r.poll(ctx, r.waitTimeout, func(v *types.Volume) bool {
		for _, a := range v.Attachments {
			mine := aws.ToString(a.InstanceId) == self
			if mine && a.State != types.VolumeAttachmentStateAttached ||
				!mine && a.State != types.VolumeAttachmentStateDetached {
				return false
			}
		}
		return ebsAttachmentTo(v, self) != nil
	})
	if err != nil {
		return fmt.Errorf("aws.ebs: volume %s: waiting to be attached to %s only: %w", r.p.VolumeID, self, err)
	}
	if err := r.verifyAttached(ctx); err != nil {
		return err
	}
	r.logDevice(tok, "attached")
	return nil
}

// Stop implements resources.Resource. A Multi-Attach volume stays attached
// (every node keeps it); a single-attach volume is detached from this
// instance, without Force (the file system on it has been unmounted by
// then; if it has not, the detach stays busy and Stop fails after the stop
// timeout rather than corrupting it).
func (r *EBSResource) Stop(ctx context.Context, tok resources.Token) error {
	ctx = actionCalls(ctx) // a takeover waits on it: prompt retries (resourceclient.go)
	if r.p.MultiAttach {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.stopTimeout)
	defer cancel()
	return r.detachHere(ctx, tok)
}

// detachHere looks at the volume and detaches it from this instance until
// a look finds no attachment here, within ctx. Every look that finds the
// attachment attached or attaching sends DetachVolume: EC2 may refuse it
// while attaching (IncorrectState; an attach it applied after a start gave
// up on it ends here), may not see a late attach yet (not found), and a
// detach sent again is harmless (refused while detaching, not found once
// gone). A look that finds it detaching or busy only waits. After a
// detach EC2 took, the next look is at once (a volume nothing holds
// detaches quickly), then at r.MinDelay doubling up to r.MaxDelay. A
// detach or a look that fails with anything but running out of time fails
// the stop at once: a failed stop moves the group by a fenced takeover,
// and waiting would only delay it.
func (r *EBSResource) detachHere(ctx context.Context, tok resources.Token) error {
	self := r.env.InstanceID
	seen := false                                // a look found an attachment here
	var refusedWhile types.VolumeAttachmentState // the state the last look's detach was refused in
	var last string                              // what the last look found
	delay, atOnce := r.MinDelay, false
	for {
		v, err := r.describe(ctx)
		switch {
		case err != nil && !ranOutOfTime(err):
			return err
		case err != nil:
			last = err.Error()
		default:
			a := ebsAttachmentTo(v, self)
			if a == nil || a.State == types.VolumeAttachmentStateDetached {
				if seen {
					r.log.Info("detached", "volume", r.p.VolumeID, "instance", self, "epoch", tok.Epoch)
				}
				return nil
			}
			seen, refusedWhile = true, ""
			last = fmt.Sprintf("state %s, attachments %s", v.State, ebsAttachmentsString(v))
			if a.State == types.VolumeAttachmentStateAttached || a.State == types.VolumeAttachmentStateAttaching {
				refused, derr := r.detach(ctx, self, false)
				switch {
				case derr != nil && !ranOutOfTime(derr):
					return derr
				case derr != nil:
					last = derr.Error()
				case refused:
					refusedWhile = a.State
				case !atOnce:
					atOnce = true
					continue // EC2 took it: look again at once
				}
			}
		}
		atOnce = false
		select {
		case <-ctx.Done():
			if refusedWhile != "" {
				return fmt.Errorf("aws.ebs: volume %s: EC2 refused to detach it from %s while it was %s (IncorrectState) until the stop's time ran out (last: %s): %w", r.p.VolumeID, self, refusedWhile, last, ctx.Err())
			}
			return fmt.Errorf("aws.ebs: volume %s: waiting to be detached from %s: not done in time (last: %s): %w", r.p.VolumeID, self, last, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, r.MaxDelay)
	}
}

// Check implements resources.Resource: the volume is attached here.
func (r *EBSResource) Check(ctx context.Context, tok resources.Token) error {
	return r.verifyAttached(ctx)
}

func (r *EBSResource) verifyAttached(ctx context.Context) error {
	self := r.env.InstanceID
	v, err := r.describe(ctx)
	if err != nil {
		return err
	}
	a := ebsAttachmentTo(v, self)
	if a != nil && a.State == types.VolumeAttachmentStateAttached {
		return nil
	}
	var where []string
	for _, a := range v.Attachments {
		where = append(where, aws.ToString(a.InstanceId)+" ("+string(a.State)+")")
	}
	now := "not attached anywhere"
	if len(where) > 0 {
		now = "attached to " + strings.Join(where, ", ")
	}
	if r.p.MultiAttach {
		hint := "attach it to every node of the group; raftha never attaches or detaches a multi_attach volume"
		if !aws.ToBool(v.MultiAttachEnabled) {
			hint = "the volume does not have Multi-Attach enabled, so only one node can hold it: drop multi_attach to let raftha move it"
		}
		return fmt.Errorf("aws.ebs: volume %s is not attached to this instance %s (%s); %s", r.p.VolumeID, self, now, hint)
	}
	return fmt.Errorf("aws.ebs: volume %s is not attached to this instance %s (%s)", r.p.VolumeID, self, now)
}

func (r *EBSResource) describe(ctx context.Context) (*types.Volume, error) {
	return r.describeWithin(ctx, r.callTimeout)
}

// lookAfterTimeout bounds the look at the volume after an AttachVolume
// that ran out of time: two attempt deadlines, enough for an API that
// answers reads while it throttles writes.
const lookAfterTimeout = 2 * DefaultAttemptTimeout

// describeWithin is describe with a call timeout of d.
func (r *EBSResource) describeWithin(ctx context.Context, d time.Duration) (*types.Volume, error) {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	out, err := r.client.DescribeVolumes(cctx, &ec2.DescribeVolumesInput{VolumeIds: []string{r.p.VolumeID}}, ec2Opts(cctx))
	if err != nil {
		// The SDK's error stays reachable: detachHere tries a look that
		// ran out of time again.
		return nil, newCallError(err, "aws.ebs: DescribeVolumes %s", r.p.VolumeID)
	}
	for i := range out.Volumes {
		if aws.ToString(out.Volumes[i].VolumeId) == r.p.VolumeID {
			return &out.Volumes[i], nil
		}
	}
	return nil, fmt.Errorf("aws.ebs: volume %s not found", r.p.VolumeID)
}

// detach sends DetachVolume. refused is EC2's IncorrectState: the
// attachment is already detaching, or still attaching (EC2 may refuse to
// detach it until it is attached); the caller's wait decides which. An
// attachment already gone is not an error.
func (r *EBSResource) detach(ctx context.Context, instanceID string, force bool) (refused bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	_, err = r.client.DetachVolume(cctx, &ec2.DetachVolumeInput{
		VolumeId:   aws.String(r.p.VolumeID),
		InstanceId: aws.String(instanceID),
		Force:      aws.Bool(force),
	}, ec2Opts(cctx))
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			switch ae.ErrorCode() {
			case "IncorrectState", "InvalidAttachment.NotFound":
				r.log.Debug("DetachVolume refused for the attachment's state", "volume", r.p.VolumeID, "instance", instanceID, "code", ae.ErrorCode())
				return ae.ErrorCode() == "IncorrectState", nil
			}
		}
		return false, newCallError(err, "aws.ebs: DetachVolume %s from %s (force=%t)", r.p.VolumeID, instanceID, force)
	}
	return false, nil
}

func (r *EBSResource) waitAvailable(ctx context.Context) error {
	w := ec2.NewVolumeAvailableWaiter(r.client, func(o *ec2.VolumeAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = r.MinDelay, r.MaxDelay
		o.ClientOptions = append(o.ClientOptions, ec2Opts(ctx))
	})
	err := w.Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{r.p.VolumeID}}, r.waitTimeout)
	if err != nil {
		return errors.New(describeAPIError(err))
	}
	return nil
}

// poll describes the volume until done says so, limit passes or ctx ends;
// transient describe errors are retried until then.
func (r *EBSResource) poll(ctx context.Context, limit time.Duration, done func(*types.Volume) bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	delay := r.MinDelay
	var last error
	for {
		v, err := r.describe(ctx)
		if err == nil {
			if done(v) {
				return nil
			}
			last = fmt.Errorf("state %s, attachments %s", v.State, ebsAttachmentsString(v))
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done after %s (last: %v): %w", limit, last, ctx.Err())
		case <-time.After(delay):
		}
		if delay *= 2; delay > r.MaxDelay {
			delay = r.MaxDelay
		}
	}
}

// logDevice logs where the volume appears on this host. A device that is
// not visible (yet, or off EC2) is only logged: the disk resource waits for
// it with WaitDevicePath.
func (r *EBSResource) logDevice(tok resources.Token, msg string) {
	resolve := r.env.ResolveVolume
	if resolve == nil {
		resolve = ebsdev.DevicePath
	}
	p, err := resolve(r.p.VolumeID, r.p.Device)
	if err != nil {
		r.log.Warn(msg+"; host device not visible yet", "volume", r.p.VolumeID, "instance", r.env.InstanceID, "epoch", tok.Epoch, "error", err)
		return
	}
	r.log.Info(msg, "volume", r.p.VolumeID, "instance", r.env.InstanceID, "device", p, "epoch", tok.Epoch)
}

func ebsAttachmentTo(v *types.Volume, instanceID string) *types.VolumeAttachment {
	for i := range v.Attachments {
		if aws.ToString(v.Attachments[i].InstanceId) == instanceID {
			return &v.Attachments[i]
		}
	}
	return nil
}

// ebsAttachingHere is v's attachment to instanceID when it is attached or
// attaching, else nil: Start then only waits for it to be attached.
func ebsAttachingHere(v *types.Volume, instanceID string) *types.VolumeAttachment {
	a := ebsAttachmentTo(v, instanceID)
	if a == nil || a.State != types.VolumeAttachmentStateAttached && a.State != types.VolumeAttachmentStateAttaching {
		return nil
	}
	return a
}

func ebsAttachmentsString(v *types.Volume) string {
	if len(v.Attachments) == 0 {
		return "none"
	}
	var s []string
	for _, a := range v.Attachments {
		s = append(s, aws.ToString(a.InstanceId)+":"+string(a.State))
	}
	return strings.Join(s, ",")
}

// Helpers shared by the aws.* resource types in this file and dns.go.

func awsresCheckEnv(typ string, env resources.Env) error {
	if ConfigOf(env) == nil {
		return fmt.Errorf("%s: no AWS configuration (set aws.region on the member)", typ)
	}
	if env.InstanceID == "" {
		return fmt.Errorf("%s: this node's EC2 instance id is unknown (set aws.instance_id, or auto on EC2)", typ)
	}
	return nil
}

func awsresLogger(env resources.Env) hclog.Logger {
	if env.Logger == nil {
		return hclog.NewNullLogger()
	}
	return env.Logger
}

func awsresCallTimeout(env resources.Env) time.Duration {
	if env.CallTimeout > 0 {
		return env.CallTimeout
	}
	return 10 * time.Second
}
