package cli

import "github.com/privlink/privlink/internal/console"

func init() { ConsoleHandler = console.New }
