//go:build !unix

package local

import (
	"os"
	"os/signal"
)

// processSignals forwards an interrupt where there are no Unix signals.
func processSignals(c chan<- os.Signal) func() {
	signal.Notify(c, os.Interrupt)
	return func() { signal.Stop(c) }
}
