package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed rewrites args so that the flags of the leaf command come
// before its positional arguments. urfave/cli v2 stops parsing flags at
// the first positional argument, but operators type
// `raftha ownership transfer db --to node2`. A "--" ends flag parsing as
// usual.
//
// A command's flag given before the command path (`raftha --api URL
// status`, as Consul and patronictl users type it) is moved after it; the
// app's own flags (--help, --version) stay where they are.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	appFlag := map[string]bool{}
	for _, f := range app.Flags {
		for _, n := range f.Names() {
			appFlag[n] = true
		}
	}
	for _, n := range []string{"help", "h", "version", "v", "generate-bash-completion"} {
		appFlag[n] = true
	}
	valueFlag := commandValueFlags(app.Commands)
	cmds := app.Commands
	var leaf *cli.Command
	var early []string // command flags given before the command path
	i := 1
	for i < len(args) {
		a := args[i]
		if strings.HasPrefix(a, "-") && a != "-" {
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if appFlag[name] {
				i++
				continue
			}
			early = append(early, a)
			i++
			if !hasValue && valueFlag[name] && i < len(args) {
				early = append(early, args[i])
				i++
			}
			continue
		}
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		leaf = next
		cmds = next.Subcommands
		i++
		if len(cmds) == 0 {
			break
		}
	}
	if leaf == nil || len(leaf.Subcommands) > 0 {
		if len(early) == 0 {
			return args
		}
		return removeEarly(args[:i], early, args[i:])
	}
	takesValue := map[string]bool{}
	for _, f := range leaf.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	head := withoutEarly(args[:i], early)
	flags := append([]string(nil), early...)
	var pos []string
	rest := args[i:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			pos = append(pos, rest[j:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue[name] && j+1 < len(rest) {
			flags = append(flags, rest[j+1])
			j++
		}
	}
	return append(append(head, flags...), pos...)
}

// commandValueFlags is every flag name, of any command at any depth, that
// takes a value.
func commandValueFlags(cmds []*cli.Command) map[string]bool {
	out := map[string]bool{}
	var walk func([]*cli.Command)
	walk = func(cs []*cli.Command) {
		for _, c := range cs {
			for _, f := range c.Flags {
				if _, isBool := f.(*cli.BoolFlag); isBool {
					continue
				}
				for _, n := range f.Names() {
					out[n] = true
				}
			}
			walk(c.Subcommands)
		}
	}
	walk(cmds)
	return out
}

// withoutEarly is head (the program and command path, with the early
// flags among them) without the early flags, which are the first
// len(early) flag words of head after the program name, in order.
func withoutEarly(head, early []string) []string {
	out := []string{head[0]}
	k := 0
	for _, a := range head[1:] {
		if k < len(early) && a == early[k] {
			k++
			continue
		}
		out = append(out, a)
	}
	return out
}

// removeEarly is for a path that ends at a command with subcommands (help,
// or an unknown word): the early flags go after the path, before the rest.
func removeEarly(head, early, rest []string) []string {
	out := withoutEarly(head, early)
	out = append(out, early...)
	return append(out, rest...)
}
