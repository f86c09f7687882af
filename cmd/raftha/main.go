// Command raftha is the raftha HA cluster manager: agent, operator CLI and
// demo. All logic lives in the cli and server packages.
package main

import (
	"os"

	"github.com/raftha/raftha/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, os.Stderr))
}
