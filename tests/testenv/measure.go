package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// measure runs a command and writes its exit status and peak RSS to a
// file: `testenv measure -out FILE -kill-after 60s -- PROGRAM ARGS...`.
//
// The peak RSS the kernel reports for a child (wait4's ru_maxrss) starts
// from the memory of the process that spawned it, so a large test binary
// cannot measure its children itself: this small process spawns them
// instead. Standard input, output and error are passed through.
func measure(args []string) int {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	out := fs.String("out", "", "where to write the measurement (JSON)")
	killAfter := fs.Duration("kill-after", time.Minute, "SIGKILL the command after this long")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: testenv measure -out FILE [-kill-after D] -- PROGRAM ARGS...")
		return 2
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv measure: %v\n", err)
		return 2
	}
	timer := time.AfterFunc(*killAfter, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	elapsed := time.Since(start)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintf(os.Stderr, "testenv measure: %v\n", err)
		return 2
	}
	result := map[string]any{"elapsedMs": elapsed.Milliseconds(), "exitCode": cmd.ProcessState.ExitCode()}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		result["signal"] = ws.Signal().String()
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		result["maxRssBytes"] = ru.Maxrss * 1024 // Linux reports KiB
	}
	data, _ := json.Marshal(result)
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "testenv measure: %v\n", err)
		return 2
	}
	return 0
}
