//go:build unix

package local

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// processSignals forwards the signals that ask a process to stop, reload or
// report. SIGINT and SIGQUIT typed at a terminal already reach the whole
// foreground process group, the command included: they are forwarded only
// when this process is not in the terminal's foreground group (run from a
// script, an IDE, `timeout`), so that one Ctrl-C is one SIGINT for the
// command.
func processSignals(c chan<- os.Signal) func() {
	in := make(chan os.Signal, 8)
	signal.Notify(in, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-in:
				if (s == syscall.SIGINT || s == syscall.SIGQUIT) && inForeground() {
					continue
				}
				c <- s
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(in)
		close(quit)
	}
}

// inForeground reports whether this process's group is the foreground group
// of its controlling terminal.
func inForeground() bool {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false // no controlling terminal
	}
	defer tty.Close()
	fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}
