package integration

// The fault suite's checkers, run at the end of every run (a run fails on
// any violation):
//
//   - no node went for the shared disk while another still had it mounted
//     (checkMountRefusals), nor began starting the group at a new epoch
//     while an older writer was still writing (checkStartAfterRelease);
//   - mutual exclusion on the shared disk's log (checkLog), and the same
//     on what the prober heard: a newer owner never answered before an
//     older one stopped answering;
//   - the winner fenced the loser first: every unplanned takeover in the
//     history names aws-stop, and the new owner's first write on the disk
//     comes after the hypervisor powered the old owner off;
//   - the route table target, the EIP association and the DNS record end
//     at the owner the Raft log names, which is also the last writer on
//     the disk, and the application answers on that owner only;
//   - nothing acknowledged is lost: every transfer the CLI reported done
//     and every online state the leader reported is in the final
//     `raftha why --json` history.

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// settled waits until db is online at the same (owner, epoch) in two
// statuses a second apart, with the application answering there.
func (c *fcluster) settled(d time.Duration) (groupView, bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var prev groupView
	var lastErr error
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		st, err := c.status()
		if err != nil {
			lastErr = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		g, ok := st.group("db")
		if !ok || g.State != "online" {
			prev = groupView{}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if prev.Owner == g.Owner && prev.Epoch == g.Epoch {
			c.acknowledge("online", g.Owner, g.Epoch)
			return g, true
		}
		prev = g
		time.Sleep(time.Second)
	}
	c.failure("group db did not settle online within %s (last %+v, last error %v)", d, prev, lastErr)
	return groupView{}, false
}

// finish runs the end-of-run checks. expect names the owner the scenario
// must end at ("" for any).
func (c *fcluster) finish(expect string) {
	c.t.Helper()
	for _, m := range c.members {
		if m.cut.Load() {
			c.heal(m)
		}
	}
	settle := c.finishSettle
	if settle == 0 {
		settle = 45 * time.Second
	}
	g, ok := c.settled(settle)
	if ok {
		if expect != "" && g.Owner != expect {
			c.failure("db ended on %s at epoch %d, expected %s", g.Owner, g.Epoch, expect)
		}
		if !c.waitAnswer(10*time.Second, g.Owner, g.Epoch) {
			c.failure("the application does not answer on %s at epoch %d although the log says it is online there", g.Owner, g.Epoch)
		}
		c.checkHistory(g)
		c.checkAWS(g)
		c.checkFinalProbes(g)
	}

	// Stop everything, then read the disk.
	tKill := monoNow()
	if c.prober != nil {
		c.prober.stop()
	}
	for _, m := range c.members {
		c.resume(m)
		c.crash(m)
		for _, pid := range c.tb.nsPids(m.id) {
			killTree(pid)
		}
	}
	lines, bad := c.readDiskLog()
	c.finalLines = lines
	if bad > 1 {
		c.violation("%d malformed lines in the application log (torn or mixed writes)", bad)
	}
	for _, v := range checkLog(lines) {
		c.violation("disk log: %s", v)
	}
	if c.resFaults {
		c.checkSideLog(lines, g, ok)
	}
	bs := blocksOf(lines)
	c.note("disk log: %d lines, blocks %s", len(lines), describeBlocks(bs, c.t0))
	if ok && len(bs) > 0 {
		last := bs[len(bs)-1]
		if last.node != g.Owner || last.epoch != g.Epoch {
			c.violation("the last writer on the disk is %s but the log says %s@%d owns db", last.key(), g.Owner, g.Epoch)
		} else if tKill-last.last > int64(2*time.Second) {
			c.failure("%s stopped writing %.1fs before the end although db is online there", last.key(), float64(tKill-last.last)/1e9)
		}
	}
	c.checkFencedFirst(bs)
	c.checkStartAfterRelease(bs)
	c.checkProbeExclusion()
	c.checkMountRefusals()
}

// startRE matches the runner's "starting resource" log line.
var startRE = regexp.MustCompile(`^\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) \[INFO\]\s+raftha\.runner: starting resource: .*\bmember=(\S+) .*\bepoch=(\d+)`)

// resourceStarts returns, per "node@epoch", when (mono) the node began
// starting the group's first resource at that epoch, from the agents'
// logs (wall clock, mapped with the offset taken when the cluster
// started).
func (c *fcluster) resourceStarts() map[string]int64 {
	out := map[string]int64{}
	for _, m := range c.nodes() {
		data, err := os.ReadFile(m.logFile)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			sm := startRE.FindStringSubmatch(line)
			if sm == nil {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, sm[1])
			if err != nil {
				continue
			}
			k := sm[2] + "@" + sm[3]
			mono := at.UnixNano() - c.wallMinusMono
			if v, ok := out[k]; !ok || mono < v {
				out[k] = mono
			}
		}
	}
	return out
}

// checkStartAfterRelease (clauses 4 and 5 where they act): a node begins
// starting the group at a new epoch only after the previous writer on the
// disk has stopped writing. This sees a split brain even where the disk
// resource would wait it out on this one kernel.
func (c *fcluster) checkStartAfterRelease(bs []block) {
	if d := time.Now().UnixNano() - monoNow() - c.wallMinusMono; d > int64(5*time.Millisecond) || d < -int64(5*time.Millisecond) {
		c.addNote("the wall clock moved %s against the monotonic clock: start-after-release not checked", time.Duration(d))
		return
	}
	const tolerance = 3 * time.Millisecond // log timestamps have ms resolution
	starts := c.resourceStarts()
	seen := map[string]bool{}
	if len(bs) > 0 {
		seen[bs[0].key()] = true
	}
	for i := 1; i < len(bs); i++ {
		p, b := bs[i-1], bs[i]
		if seen[b.key()] || p.key() == b.key() {
			continue // a key's first block only: the move to it
		}
		seen[b.key()] = true
		st, ok := starts[b.key()]
		if !ok {
			continue
		}
		// The previous writer's last line, all its blocks counted.
		last := p.last
		for _, x := range bs {
			if x.key() == p.key() && x.last > last {
				last = x.last
			}
		}
		if st < last-int64(tolerance) {
			c.violation("%s began starting db's resources at +%.3fs while %s was still writing (until +%.3fs)", b.key(), float64(st-c.t0)/1e9, p.key(), float64(last-c.t0)/1e9)
		}
	}
}

// checkMountRefusals: a disk resource that refused to mount because the
// device was still mounted elsewhere means a node went for the disk while
// another still had it. Here the kernel's claim on the loop device (one
// kernel for every member) stopped it; EBS Multi-Attach hosts have no such
// claim between them, so it counts as a violation. So does any other
// refusal to mount (fsck), except the disk lock keeping a stale owner off
// (mountRefusal).
func (c *fcluster) checkMountRefusals() {
	for _, m := range c.nodes() {
		data, err := os.ReadFile(m.logFile)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			kind := mountRefusal(line)
			if kind == refusalNone {
				continue
			}
			if len(line) > 400 {
				line = line[:400] + "…"
			}
			if kind == refusalStale {
				c.note("%s, a stale owner, was kept off the disk: %s", m.id, strings.TrimSpace(line))
				continue
			}
			c.violation("%s tried to mount the shared disk while another member had it mounted: %s", m.id, strings.TrimSpace(line))
			c.logAround(line) // logwindow_test.go: what every member's runner did just before
			break
		}
	}
}

// refusalKind is what an agent log line says about going for the disk.
type refusalKind int

const (
	refusalNone  refusalKind = iota
	refusalStale             // the disk lock refused a stale owner: the lock's job
	refusalBad               // the node went for a disk another member still had (or fsck found damage)
)

// mountRefusal classifies one agent log line. A start that found the
// device claimed by another mount namespace, or any other refusal to
// mount (fsck), is bad. A start that the disk lock refused (a higher
// epoch on it, or lock I/O that failed, timed out or came after the
// lease-bound context ended: a paused stale owner sees all of these) is
// a stale owner kept off, on a Multi-Attach volume too: what lock_device
// is for. A stop that found the device mounted elsewhere after it had
// nothing to unmount is no attempt to mount.
func mountRefusal(line string) refusalKind {
	refused := strings.Contains(line, "refusing to mount")
	switch {
	case refused && strings.Contains(line, "refusing to mount: device "):
		return refusalBad
	case refused && (strings.Contains(line, "lock_device") || strings.Contains(line, "disk lock")):
		return refusalStale
	case refused:
		return refusalBad
	case strings.Contains(line, "still mounted in other mount namespaces") && !strings.Contains(line, "unmounted from "):
		return refusalBad
	}
	return refusalNone
}

// readDiskLog reads the application log from the shared disk, mounting
// it when no one has it mounted any more.
func (c *fcluster) readDiskLog() ([]logLine, int) {
	c.t.Helper()
	if c.withDisk && !mountedAt(c.mountPoint) {
		if _, err := cmdOut(30*time.Second, "mount", "-t", "ext4", c.diskDev, c.mountPoint); err != nil {
			c.failure("mount the shared disk to read the log: %v", err)
			return nil, 0
		}
	}
	lines, bad, err := readAppLog(c.appLog)
	if err != nil {
		c.failure("read the application log: %v", err)
	}
	return lines, bad
}

// checkHistory: the final `why` history holds every acknowledged state,
// ends at g, and every unplanned takeover was fenced with aws-stop.
func (c *fcluster) checkHistory(g groupView) {
	ws, err := c.why()
	if err != nil {
		c.failure("raftha why db --json: %v", err)
		return
	}
	c.mu.Lock()
	acks := append([]ack(nil), c.acks...)
	c.mu.Unlock()
	for _, a := range acks {
		found := false
		for _, w := range ws {
			if w.To == a.node && w.Epoch == a.epoch && w.Online {
				found = true
			}
		}
		if !found {
			c.violation("acknowledged %s of db on %s at epoch %d is not in the final history (why: %s)", a.what, a.node, a.epoch, describeWhy(ws))
		}
	}
	if len(ws) == 0 {
		c.violation("the final history of db is empty")
		return
	}
	if l := ws[len(ws)-1]; l.To != g.Owner || l.Epoch != g.Epoch {
		c.violation("the history ends at %s@%d but the group is online on %s@%d", l.To, l.Epoch, g.Owner, g.Epoch)
	}
	for i, w := range ws {
		if i > 0 && w.Epoch <= ws[i-1].Epoch {
			c.violation("history epochs not increasing: %d after %d", w.Epoch, ws[i-1].Epoch)
		}
		if w.Cause == "node-lost" && w.From != "" && w.Fence != c.fencing && w.Online {
			c.violation("takeover of db from %s to %s at epoch %d went online with fence %q (want %s)", w.From, w.To, w.Epoch, w.Fence, c.fencing)
		}
	}
	c.note("history: %s", describeWhy(ws))
	c.mu.Lock()
	c.whyFinal = ws
	c.mu.Unlock()
}

func describeWhy(ws []whyView) string {
	var parts []string
	for _, w := range ws {
		s := fmt.Sprintf("%s→%s@%d(%s", w.From, w.To, w.Epoch, w.Cause)
		if w.Fence != "" {
			s += "," + w.Fence
		}
		if w.Online {
			s += ",online"
		} else if w.Outcome != "" {
			s += "," + w.Outcome
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, " ")
}

// checkAWS: route, EIP and DNS point at the owner, whose instance runs.
func (c *fcluster) checkAWS(g groupView) {
	o := c.member(g.Owner)
	var v awsView
	var err error
	// Resources start before the group is reported online; a read right
	// after may still race moto's own consistency: give it a few tries.
	for i := 0; i < 10; i++ {
		v, err = c.awsState()
		if err == nil && v.routeENI == o.eni && (v.eipInst == o.instance || v.eipENI == o.eni) && (!c.withDNS || v.dnsValue == o.privIP) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		c.failure("read AWS state: %v", err)
		return
	}
	if v.routeENI != o.eni {
		c.violation("route %s targets %q, not the owner %s's ENI %s", fiVIP, v.routeENI, o.id, o.eni)
	}
	if v.eipInst != o.instance && v.eipENI != o.eni {
		c.violation("Elastic IP associated with instance %q / ENI %q, not the owner %s (%s)", v.eipInst, v.eipENI, o.id, o.instance)
	}
	if c.withDNS && v.dnsValue != o.privIP {
		c.violation("DNS %s holds %q, not the owner %s's address %s", fiRecord, v.dnsValue, o.id, o.privIP)
	}
	if s := v.instStates[o.instance]; s != "running" {
		c.violation("the owner %s's instance %s is %s", o.id, o.instance, s)
	}
}

// checkFinalProbes: only the owner answers, at the owner's epoch.
func (c *fcluster) checkFinalProbes(g groupView) {
	for r := 0; r < 3; r++ {
		for _, m := range c.nodes() {
			a, err := probeApp(context.Background(), m.ip, 500*time.Millisecond)
			switch {
			case m.id == g.Owner && err != nil:
				c.failure("final probe: the owner %s does not answer: %v", m.id, err)
			case m.id == g.Owner && (a.Node != g.Owner || a.Epoch != g.Epoch):
				c.violation("final probe: %s answers as %s@%d, the log says %s@%d", m.id, a.Node, a.Epoch, g.Owner, g.Epoch)
			case m.id != g.Owner && err == nil:
				c.violation("final probe: %s answers (%s@%d) though %s owns db", m.id, a.Node, a.Epoch, g.Owner)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkFencedFirst: for every takeover fenced by aws-stop, the new owner's
// first line on the disk comes after the old owner was powered off. (A
// lease-only takeover powers nothing off: checkStartAfterRelease and the
// disk log judge it.)
func (c *fcluster) checkFencedFirst(bs []block) {
	c.mu.Lock()
	ws := c.whyFinal
	c.mu.Unlock()
	for _, w := range ws {
		if w.Fence == "" || w.Fence == "lease-only" || w.From == "" || w.From == w.To {
			continue
		}
		old := c.member(w.From)
		offAt, why := old.offSince()
		if offAt == 0 {
			c.violation("history says %s was fenced (%s) for epoch %d, but its VM was never stopped", w.From, w.Fence, w.Epoch)
			continue
		}
		for _, b := range bs {
			if b.node == w.To && b.epoch == w.Epoch {
				if b.first <= offAt {
					c.violation("%s@%d wrote at +%.3fs, before %s was powered off at +%.3fs (%s)", w.To, w.Epoch, float64(b.first-c.t0)/1e9, w.From, float64(offAt-c.t0)/1e9, why)
				}
				break
			}
		}
	}
}

// checkProbeExclusion: over the whole run, no (node, epoch) answered a
// probe sent after a newer owner had already answered one: that would be
// two owners serving at once.
func (c *fcluster) checkProbeExclusion() {
	if c.prober == nil {
		return
	}
	type span struct {
		node      string
		epoch     uint64
		firstEnd  int64 // the earliest answer received: it served by then
		lastStart int64 // the latest probe it answered was sent then: it served after
	}
	spans := map[string]*span{}
	for n, rs := range c.prober.snapshot() {
		for _, r := range rs {
			if !r.ok {
				continue
			}
			k := fmt.Sprintf("%s@%d", n, r.epoch)
			s, ok := spans[k]
			if !ok {
				spans[k] = &span{node: n, epoch: r.epoch, firstEnd: r.end, lastStart: r.start}
				continue
			}
			if r.end < s.firstEnd {
				s.firstEnd = r.end
			}
			if r.start > s.lastStart {
				s.lastStart = r.start
			}
		}
	}
	var ss []*span
	for _, s := range spans {
		ss = append(ss, s)
	}
	sort.Slice(ss, func(i, j int) bool {
		return ss[i].epoch < ss[j].epoch || ss[i].epoch == ss[j].epoch && ss[i].node < ss[j].node
	})
	for i := range ss {
		for j := i + 1; j < len(ss); j++ {
			a, b := ss[i], ss[j]
			if a.epoch == b.epoch {
				c.violation("probes: %s and %s both answered at epoch %d", a.node, b.node, a.epoch)
				continue
			}
			if b.firstEnd < a.lastStart {
				c.violation("probes: %s@%d answered by +%.3fs, but %s@%d still answered a probe sent at +%.3fs", b.node, b.epoch, float64(b.firstEnd-c.t0)/1e9, a.node, a.epoch, float64(a.lastStart-c.t0)/1e9)
			}
		}
	}
}

// linesBetween returns the disk log lines written in [from, to] (mono).
func linesBetween(lines []logLine, from, to int64) []logLine {
	var out []logLine
	for _, l := range lines {
		if l.mono >= from && l.mono <= to {
			out = append(out, l)
		}
	}
	return out
}
