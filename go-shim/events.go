package main

import (
	"encoding/json"
	"fmt"
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
