package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCompletionScripts: each shell's script is printed; the bash one,
// sourced in a real bash with this test binary as raftha on PATH,
// completes "raftha sta" to status and "raftha ownership " to transfer.
// An unknown shell is a usage error (exit 2).
func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{"bash": "complete -o bashdefault", "zsh": "#compdef raftha", "fish": "complete -c raftha"} {
		out, errs, code := runMain(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %q missing\n%s%s", shell, code, want, out, errs)
		}
	}
	if _, _, code := runMain(t, "completion", "ksh"); code != 2 {
		t.Errorf("completion ksh: exit %d, want 2", code)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrapper := "#!/bin/sh\nRAFTHA_TEST_MAIN=1 exec " + self + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "raftha"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	script, _, _ := runMain(t, "completion", "bash")
	if err := os.WriteFile(filepath.Join(dir, "raftha.bash"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		t.Helper()
		line := "source " + filepath.Join(dir, "raftha.bash") + "; COMP_WORDS=(" + strings.Join(words, " ") + "); COMP_CWORD=" + strconv.Itoa(len(words)-1) + "; _raftha_complete; echo \"${COMPREPLY[@]}\""
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", line)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("raftha", "sta"); got != "status" {
		t.Errorf(`"raftha sta" completes to %q, want "status"`, got)
	}
	if got := complete("raftha", "ownership", "''"); !strings.Contains(got, "transfer") {
		t.Errorf(`"raftha ownership " completes to %q, want transfer among them`, got)
	}
}

// TestManPage: the manual is roff generated from the command definitions:
// it names the commands and their flags.
func TestManPage(t *testing.T) {
	out, errs, code := runMain(t, "man")
	if code != 0 || !strings.Contains(out, ".TH raftha") {
		t.Fatalf("man: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"ownership", "transfer", "debug", "--config", "completion"} {
		if !strings.Contains(out, want) {
			t.Errorf("man page does not mention %q", want)
		}
	}
}

// TestUsageErrorsExit2: a command, a subcommand or a flag value that does
// not parse is a usage error: exit 2, one line on stderr naming it.
func TestUsageErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"statsu"}, `unknown command "statsu": see raftha --help`},
		{[]string{"group", "lsit"}, `unknown command "lsit": see raftha group --help`},
		{[]string{"tls", "cert", "bogus"}, `unknown command "bogus"`},
		{[]string{"tls", "ca", "create", "--dir", t.TempDir(), "--validity", "90d"}, `invalid value "90d"`},
	} {
		out, errs, code := runMain(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("raftha %s: exit %d, stderr %q, stdout %d bytes; want exit 2 and one line with %q", strings.Join(tc.args, " "), code, errs, len(out), tc.want)
		}
	}
	if out, _, code := runMain(t, "group"); code != 0 || !strings.Contains(out, "apply") {
		t.Errorf("raftha group (no subcommand): exit %d, want its help", code)
	}
}

// TestClientFlagsBeforeTheCommand: `raftha --api URL status` reaches the
// status command with its --api (it fails on the unreachable address, not
// on an undefined flag).
func TestClientFlagsBeforeTheCommand(t *testing.T) {
	dir := t.TempDir()
	if _, _, code := runMain(t, "tls", "ca", "create", "--dir", dir); code != 0 {
		t.Fatal("tls ca create failed")
	}
	_, errs, code := runMain(t, "--api", "https://127.0.0.1:1", "--ca-cert", filepath.Join(dir, "ca.pem"), "--token", "rha_x", "status")
	if code != 1 || !strings.Contains(errs, "127.0.0.1:1") || strings.Contains(errs, "not defined") {
		t.Fatalf("raftha --api ... status: exit %d, %q; want the status command's failure to reach 127.0.0.1:1", code, errs)
	}
}
