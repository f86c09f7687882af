// Command elfcheck checks a release binary: the ELF machine is the one
// named, it is statically linked (no program interpreter, so it runs on
// any Linux, glibc or not, old or new), it is stripped of its symbol
// table, and its embedded build information names the module and, when
// given, the version. `make release` runs it on every binary it builds,
// because these machines have no qemu-user to run the arm64 one.
//
//	go run ./internal/tools/elfcheck FILE amd64|arm64 [VERSION]
package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strings"
)

var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fmt.Fprintln(os.Stderr, "usage: elfcheck FILE amd64|arm64 [VERSION]")
		os.Exit(2)
	}
	version := ""
	if len(os.Args) == 4 {
		version = os.Args[3]
	}
	if err := check(os.Args[1], os.Args[2], version); err != nil {
		fmt.Fprintf(os.Stderr, "elfcheck: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func check(path, arch, version string) error {
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("unknown architecture %q: amd64 or arm64", arch)
	}
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var problems []string
	if f.Machine != want {
		problems = append(problems, fmt.Sprintf("machine %s, want %s", f.Machine, want))
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			problems = append(problems, "dynamically linked (has a program interpreter); build with CGO_ENABLED=0")
		}
	}
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		problems = append(problems, "not stripped (has a symbol table); build with -ldflags \"-s -w\"")
	}
	bi, err := buildinfo.ReadFile(path)
	switch {
	case err != nil:
		problems = append(problems, "no build information: "+err.Error())
	case bi.Path != "github.com/raftha/raftha/cmd/raftha":
		problems = append(problems, "build information names "+bi.Path)
	default:
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if settings["CGO_ENABLED"] != "0" || settings["GOARCH"] != arch || settings["-trimpath"] != "true" {
			problems = append(problems, fmt.Sprintf("built with CGO_ENABLED=%q GOARCH=%q -trimpath=%q", settings["CGO_ENABLED"], settings["GOARCH"], settings["-trimpath"]))
		}
		// -trimpath keeps -ldflags out of the build information, so look
		// for the version string the linker wrote into api.Version.
		if data, err := os.ReadFile(path); version != "" && (err != nil || !bytes.Contains(data, []byte(version))) {
			problems = append(problems, fmt.Sprintf("version %q not found in the binary", version))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	st, _ := os.Stat(path)
	fmt.Printf("%s: linux/%s, static, stripped, %.1f MB, %s\n", path, arch, float64(st.Size())/1e6, bi.GoVersion)
	return nil
}
