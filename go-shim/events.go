package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// event is one log or progress message for the caller.
type event struct {
	Level   string `json:"level"`
	Phase   string `json:"phase,omitempty"`
	Message string `json:"message"`
}

func (e event) marshal() []byte {
	out, err := json.Marshal(e)
	if err != nil {
		return []byte(`{"level":"warn","message":"unencodable event"}`)
	}
	return out
}

// eventSink receives events; implementations must be safe for concurrent use.
type eventSink interface {
	emit(event)
}

type nopSink struct{}

func (nopSink) emit(event) {}

// helmLog adapts a sink to Helm's printf-style debug logger.
func helmLog(sink eventSink) func(string, ...any) {
	return func(format string, args ...any) {
		sink.emit(event{Level: "debug", Message: fmt.Sprintf(format, args...)})
	}
}

func progress(sink eventSink, phase, format string, args ...any) {
	sink.emit(event{Level: "info", Phase: phase, Message: fmt.Sprintf(format, args...)})
}

// progressWriter turns what Helm writes for a person (the dependency
// manager's "Saving 1 charts") into progress events, line by line.
type progressWriter struct {
	sink  eventSink
	phase string
}

func (w progressWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" {
			progress(w.sink, w.phase, "%s", line)
		}
	}
	return len(p), nil
}
