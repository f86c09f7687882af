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
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmds := app.Commands
	var leaf *cli.Command
	i := 1
	for i < len(args) {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			i++ // global flag; raftha's take no values
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
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range leaf.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	head := append([]string(nil), args[:i]...)
	var flags, pos []string
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
