package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// leaseOnlyMember is validMember in lease-only mode (stop_deadline 5s:
// lease-only wait 1.5s + 5s + 100ms + 300ms = 6.9s).
var leaseOnlyMember = strings.Replace(validMember, "  mode: aws-stop\n", "  mode: lease-only\n  watchdog: none\n  stop_deadline: 5s\n", 1)

// diskGroups is a group file with one disk resource; extra is appended to
// the resource's keys.
func diskGroups(extra string) string {
	return `groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: data
        type: disk
        device: /dev/nvme1n1p2
        mount_point: /srv/db
        lock_device: /dev/nvme1n1p1
` + extra
}

// lineOf is the 1-based line of the first line of text containing s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in %q", s, text)
	return 0
}

// tableRow finds the row of a printSteps table whose STEP column starts
// with step, and returns its columns (split on runs of 2+ spaces).
func tableRow(t *testing.T, out, step string) []string {
	t.Helper()
	sep := regexp.MustCompile(` {2,}`)
	for _, l := range strings.Split(out, "\n") {
		cols := sep.Split(strings.TrimSpace(l), -1)
		if strings.HasPrefix(cols[0], step) {
			return cols
		}
	}
	t.Fatalf("no table row %q in:\n%s", step, out)
	return nil
}

func TestTimingExplainDiskPath(t *testing.T) {
	dir := t.TempDir()
	groups := writeFile(t, dir, "groups.yaml", diskGroups("        lock_io_timeout: 500ms\n"))

	t.Run("lease-only", func(t *testing.T) {
		member := writeFile(t, dir, "lo.yaml", leaseOnlyMember)
		out, errs, code := runMain(t, "timing", "explain", "-c", member, "--groups", groups)
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		if !strings.Contains(out, "Disk path of group db, resource data: lock_device /dev/nvme1n1p1") {
			t.Errorf("no disk path header in:\n%s", out)
		}
		// lock_settle default: 2 x 300ms + 500ms.
		if !strings.Contains(out, "lock_io_timeout 500ms, lock_settle 1.1s (2 x heartbeat 300ms + lock_io_timeout), lock_lost_after 10s") {
			t.Errorf("no lock settings line in:\n%s", out)
		}
		for _, want := range []struct {
			step string
			cols []string
		}{
			{"read the lock block", []string{"1ms", "500ms"}},
			{"settle: wait lock_settle", []string{"1.1s", "1.1s"}},
			{"read again, then fsck and mount", []string{"1ms", "500ms"}},
			{"winner writes a poison pill", []string{"1ms", "500ms"}},
			{"loser reads it at its next heartbeat", []string{"150ms", "800ms"}},
			{"loser stops the group", []string{"0s", "5s"}},
			{"winner reads the acknowledgement", []string{"150ms", "800ms"}},
		} {
			row := tableRow(t, out, want.step)
			if len(row) < 3 || row[1] != want.cols[0] || row[2] != want.cols[1] {
				t.Errorf("row %q = %q, want TYPICAL %s WORST %s", want.step, row, want.cols[0], want.cols[1])
			}
		}
		// Acquire: 4 x 500ms + 1.1s worst; pill: 500+800+5s+500+800.
		for _, s := range []string{
			"= disk lock taken: typical 1.104s, worst 3.1s",
			"= pill acknowledged: typical 302ms + the loser's stop, worst 7.6s after the takeover is confirmed",
			"the lease-only wait, 6.9s after the loser's last contact",
			// detect 2s + 150ms, commit 20ms, confirm 20ms; + the pill's 302ms.
			"takeover confirmed after about 2.19s, pill acknowledged after about 2.492s + the loser's stop; a loser whose stop takes less than 4.408s acknowledges before the lease-only wait ends",
			"within heartbeat + lock_io_timeout = 800ms",
			"gives the group up lock_lost_after 10s after its last good read; one cut off from the leader stops acting 6.6s after",
		} {
			if !strings.Contains(out, s) {
				t.Errorf("output lacks %q:\n%s", s, out)
			}
		}
		// lock_lost_after 10s > the lease-only wait 6.9s: warned, naming the line.
		if want := fmt.Sprintf("warning: %s:%d: groups[0].resources[0].lock_lost_after: lock_lost_after 10s is longer than the lease-only wait 6.9s", groups, lineOf(t, diskGroups(""), "- name: data")); !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}

		jout, errs, code := runMain(t, "timing", "explain", "-c", member, "--groups", groups, "--json")
		if code != 0 {
			t.Fatalf("--json: exit %d, stderr %q", code, errs)
		}
		var res timingResult
		if err := json.Unmarshal([]byte(jout), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.DiskPaths) != 1 || len(res.DiskPaths[0].Pill) != 5 || res.DiskPaths[0].Settle.D().String() != "1.1s" || res.DiskPaths[0].LeaseOnlyWait.D().String() != "6.9s" {
			t.Errorf("--json disk_paths = %+v", res.DiskPaths)
		}
	})

	t.Run("aws-stop", func(t *testing.T) {
		member := writeFile(t, dir, "aws.yaml", validMember)
		out, errs, code := runMain(t, "timing", "explain", "-c", member, "--groups", groups)
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		if tableRow(t, out, "settle: wait lock_settle")[1] != "1.1s" {
			t.Errorf("settle row wrong:\n%s", out)
		}
		if strings.Contains(out, "Lease-only, poison pill") || !strings.Contains(out, "no poison pill") {
			t.Errorf("aws-stop shows a pill path:\n%s", out)
		}
	})

	t.Run("without --groups no disk path", func(t *testing.T) {
		member := writeFile(t, dir, "plain.yaml", validMember)
		out, _, code := runMain(t, "timing", "explain", "-c", member)
		if code != 0 || strings.Contains(out, "Disk path") {
			t.Errorf("exit %d, output:\n%s", code, out)
		}
	})
}

func TestConfigCheckDiskLockLayout(t *testing.T) {
	dir := t.TempDir()
	aws := writeFile(t, dir, "aws.yaml", validMember)
	lo := writeFile(t, dir, "lo.yaml", leaseOnlyMember)
	second := `  - name: web
    nodes: [n2, n1]
    resources:
      - name: www
        type: disk
        device: /dev/nvme2n1p2
        mount_point: /srv/www
`
	cases := []struct {
		name, member, groups string
		errKey               string // the key the error's line is on ("": none)
		errWant              string
		warnWant             string
	}{
		{"settle-short", aws, diskGroups("        lock_settle: 1s\n"), "lock_settle: 1s", "lock_settle 1s is shorter than 2 x timing.heartbeat (300ms) + lock_io_timeout (2s) = 2.6s", ""},
		{"settle-ok", aws, diskGroups("        lock_settle: 2600ms\n"), "", "", ""},
		{"lost-after-short", aws, diskGroups("        lock_lost_after: 2100ms\n"), "", "", "lock_lost_after 2.1s is shorter than lock_io_timeout (2s) + 2 x timing.heartbeat (300ms) = 2.6s"},
		{"lost-after-past-wait-lease-only", lo, diskGroups("        lock_lost_after: 7s\n"), "", "", "lock_lost_after 7s is longer than the lease-only wait 6.9s"},
		{"lost-after-past-wait-aws-stop", aws, diskGroups("        lock_lost_after: 20s\n"), "", "", ""},
		{"same-lock-device", aws, diskGroups("") + second + "        lock_device: /dev/nvme1n1p1\n", "lock_device", "lock_device /dev/nvme1n1p1 is also the lock_device of groups[0].resources[0] (group db, resource data", ""},
		{"lock-is-other-data", aws, diskGroups("") + strings.Replace(second, "/dev/nvme2n1p2", "/dev/nvme1n1p1", 1), "lock_device: /dev/nvme1n1p1", "lock_device /dev/nvme1n1p1 is the data device of groups[1].resources[0]", ""},
		{"lock-is-own-data", aws, strings.Replace(diskGroups(""), "lock_device: /dev/nvme1n1p1", "lock_device: /dev/nvme1n1p2", 1), "- name: data", "lock_device: must be its own small partition, not the data device", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := writeFile(t, dir, tc.name+".yaml", tc.groups)
			out, errs, code := runMain(t, "config", "check", tc.member, "--groups", g)
			if tc.errWant == "" {
				if code != 0 {
					t.Fatalf("exit %d, stderr %q", code, errs)
				}
				if !strings.Contains(out, g+": OK with these timings") {
					t.Errorf("stdout %q lacks the group file's OK", out)
				}
				if tc.warnWant == "" && strings.Contains(out, "lock_") {
					t.Errorf("unexpected disk lock warning: %q", out)
				}
				if tc.warnWant != "" {
					line := lineOf(t, tc.groups, "lock_lost_after")
					if want := fmt.Sprintf("warning: %s:%d: groups[0].resources[0].lock_lost_after: %s", g, line, tc.warnWant); !strings.Contains(out, want) {
						t.Errorf("stdout %q lacks %q", out, want)
					}
				}
				return
			}
			if code != 1 {
				t.Fatalf("exit %d (want 1); stdout %q stderr %q", code, out, errs)
			}
			line := strings.Count(tc.groups, "\n") // same-lock-device: the second, last line
			if tc.name != "same-lock-device" {
				line = lineOf(t, tc.groups, tc.errKey)
			}
			if want := fmt.Sprintf("%s:%d: ", g, line); !strings.Contains(errs, want) || !strings.Contains(errs, tc.errWant) {
				t.Errorf("stderr %q lacks %q and %q", errs, want, tc.errWant)
			}
		})
	}
}

// TestConfigCheckDiskLocksOnePass: a parse problem (a shared lock_device)
// does not hide a timing problem (lock_settle) of the same file.
func TestConfigCheckDiskLocksOnePass(t *testing.T) {
	member := writeFile(t, t.TempDir(), "m.yaml", validMember)
	g := "../docs/examples/bad-disklock.yaml"
	_, errs, code := runMain(t, "config", "check", member, "--groups", g)
	if code != 1 || !strings.Contains(errs, g+":11: groups[0].resources[0].lock_settle: ") || !strings.Contains(errs, g+":19: groups[1].resources[0].lock_device: ") {
		t.Errorf("exit %d, stderr %q; want both problems with their lines", code, errs)
	}
}
