// Command privlink is the single privlink binary: server, agent, demo and
// the resource CLI. It only wires internal/cli.
package main

import (
	"os"

	"github.com/privlink/privlink/internal/cli"
)

func main() { os.Exit(cli.Execute()) }
