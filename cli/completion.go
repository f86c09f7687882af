package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// bashCompletion and zshCompletion are urfave/cli's scripts
// (autocomplete/), which ask the binary itself for the words
// (--generate-bash-completion), with the program name filled in.
const bashCompletion = `# bash completion for raftha: source it, or save it as
# /etc/bash_completion.d/raftha
_raftha_complete() {
  if [[ "${COMP_WORDS[0]}" != "source" ]]; then
    local cur opts
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    if [[ "$cur" == "-"* ]]; then
      opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "${cur}" --generate-bash-completion 2>/dev/null)
    else
      opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
    fi
    COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
    return 0
  fi
}
complete -o bashdefault -o default -o nospace -F _raftha_complete raftha
`

const zshCompletion = `#compdef raftha
# zsh completion for raftha: save it as _raftha in a directory of $fpath
_raftha() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _raftha raftha
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: `Prints the completion script for SHELL. The scripts ask raftha itself for
the words to offer, so they follow this binary's commands and flags.

   source <(raftha completion bash)
   raftha completion zsh > "${fpath[1]}/_raftha"
   raftha completion fish > ~/.config/fish/completions/raftha.fish`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("completion takes one shell: bash, zsh or fish")
			}
			switch shell := c.Args().First(); shell {
			case "bash":
				fmt.Fprint(stdout(c), bashCompletion)
			case "zsh":
				fmt.Fprint(stdout(c), zshCompletion)
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				fmt.Fprint(stdout(c), s)
			default:
				return usagef("completion: unknown shell %q: bash, zsh or fish", shell)
			}
			return nil
		},
	}
}

func manCommand() *cli.Command {
	return &cli.Command{
		Name:      "man",
		Usage:     "print the raftha(1) manual page, generated from the command definitions",
		ArgsUsage: " ",
		Description: `Prints roff for man(1), built from the same definitions as --help, so the
two cannot disagree:

   raftha man > /usr/local/share/man/man1/raftha.1 && man raftha`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("man takes no arguments")
			}
			s, err := c.App.ToMan()
			if err != nil {
				return err
			}
			fmt.Fprint(stdout(c), strings.TrimLeft(s, "\n"))
			return nil
		},
	}
}
