package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
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

// logSinks are the sinks of the calls in flight. Go's standard logger and
// klog (client-go's) are process-wide and know nothing of calls, so each
// line they write goes, as an event, to every call in flight; a line logged
// while no call runs is dropped. Either way no raw line reaches stderr.
var logSinks = struct {
	sync.Mutex
	next  uint64
	sinks map[uint64]eventSink
}{sinks: map[uint64]eventSink{}}

// trackLogSink makes sink receive log lines until the returned func runs.
func trackLogSink(sink eventSink) func() {
	logSinks.Lock()
	logSinks.next++
	id := logSinks.next
	logSinks.sinks[id] = sink
	logSinks.Unlock()
	return func() {
		logSinks.Lock()
		delete(logSinks.sinks, id)
		logSinks.Unlock()
	}
}

func emitLogLine(level, message string) {
	message = strings.TrimRight(message, "\n")
	if level == "warn" {
		// The level says it; "warning: warning: ..." would not read well.
		if len(message) > 8 && strings.EqualFold(message[:8], "warning:") {
			message = strings.TrimLeft(message[8:], " ")
		}
	}
	if message == "" {
		return
	}
	// Emitting outside the lock: a caller's event handler may start a call.
	logSinks.Lock()
	sinks := make([]eventSink, 0, len(logSinks.sinks))
	for _, sink := range logSinks.sinks {
		sinks = append(sinks, sink)
	}
	logSinks.Unlock()
	for _, sink := range sinks {
		sink.emit(event{Level: level, Message: message})
	}
}

// klogHeader is klog's line header: severity, date, time, thread, file:line.
var klogHeader = regexp.MustCompile(`^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d{6}\s+\d+ [^\]]*\] `)

// klogLine turns one klog line into an event: warnings, errors and fatals
// are warn, info is debug; the header goes (the event says when and what).
func klogLine(line []byte) {
	text := string(line)
	level := "debug"
	if m := klogHeader.FindStringSubmatch(text); m != nil {
		if m[1] != "I" {
			level = "warn"
		}
		text = text[len(m[0]):]
	}
	emitLogLine(level, text)
}

// stdLogLevel reads the level a line of Go's standard logger (Helm's
// log.Printf, and slog's default handler over it) states in its words.
func stdLogLevel(line string) string {
	lower := strings.ToLower(strings.TrimLeft(line, "[ "))
	for _, prefix := range []string{"warn", "error", "conflict", "fail"} {
		if strings.HasPrefix(lower, prefix) {
			return "warn"
		}
	}
	return "debug"
}

type stdLogWriter struct{}

func (stdLogWriter) Write(p []byte) (int, error) {
	line := string(p)
	emitLogLine(stdLogLevel(line), line)
	return len(p), nil
}

// klogSink takes klog's structured calls (InfoS, ErrorS); its printf-style
// calls arrive whole, header and all, through klogLine.
type klogSink struct {
	name   string
	values []any
}

func (klogSink) Init(logr.RuntimeInfo)  {}
func (klogSink) Enabled(level int) bool { return level <= 0 }
func (s klogSink) Info(_ int, msg string, kv ...any) {
	level := "debug"
	text := s.format(msg, kv)
	// client-go's WarningLogger passes the API server's warnings (a
	// deprecated API, a field that does nothing) as Info("Warning: ...").
	// Its reflectors say so too of a watch that ended because its context
	// did, which is how Helm 4's wait stops watching: no warning.
	if strings.HasPrefix(msg, "Warning: ") && !(strings.Contains(msg, "watch ended") && strings.Contains(text, "context canceled")) {
		level = "warn"
	}
	emitLogLine(level, text)
}
func (s klogSink) Error(err error, msg string, kv ...any) {
	if err != nil {
		kv = append([]any{"err", err}, kv...)
	}
	emitLogLine("warn", s.format(msg, kv))
}
func (s klogSink) WithValues(kv ...any) logr.LogSink {
	return klogSink{name: s.name, values: append(append([]any{}, s.values...), kv...)}
}
func (s klogSink) WithName(name string) logr.LogSink {
	if s.name != "" {
		name = s.name + "/" + name
	}
	return klogSink{name: name, values: s.values}
}

func (s klogSink) format(msg string, kv []any) string {
	var b strings.Builder
	if s.name != "" {
		b.WriteString(s.name + ": ")
	}
	b.WriteString(msg)
	all := append(append([]any{}, s.values...), kv...)
	for i := 0; i+1 < len(all); i += 2 {
		fmt.Fprintf(&b, " %v=%v", all[i], all[i+1])
	}
	return b.String()
}

// sinkHandler is an slog handler that turns Helm's log records into the
// call's debug events (warnings and errors as such), attributes appended.
type sinkHandler struct {
	emit func(level, message string)
	// infoLevel is the level of an Info record; nil: debug.
	infoLevel func(message string) string
	attrs     []slog.Attr
	group     string
}

func (h sinkHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h sinkHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		fmt.Fprintf(&b, " %s=%v", key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	level := "debug"
	switch {
	case r.Level >= slog.LevelError:
		level = "error"
	case r.Level >= slog.LevelWarn:
		level = "warn"
	case r.Level >= slog.LevelInfo && h.infoLevel != nil:
		level = h.infoLevel(b.String())
	}
	h.emit(level, b.String())
	return nil
}

func (h sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return h
}

func (h sinkHandler) WithGroup(name string) slog.Handler {
	if h.group != "" {
		name = h.group + "." + name
	}
	h.group = name
	return h
}

// routeGoLogs sends the standard logger, slog's default logger (Helm 4
// logs through it) and klog to the calls' events. It
// runs once, when the Go runtime starts (before any call: init of package
// main runs after every imported package's init, so nothing resets it).
func routeGoLogs() {
	// First: slog.SetDefault points the standard logger at the handler,
	// which the standard logger's own writer then replaces.
	slog.SetDefault(slog.New(sinkHandler{emit: emitLogLine, infoLevel: stdLogLevel}))
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(stdLogWriter{})
	flags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(flags)
	for name, value := range map[string]string{
		"logtostderr":     "false",
		"alsologtostderr": "false",
		"stderrthreshold": "FATAL",
		"one_output":      "true",
	} {
		_ = flags.Set(name, value)
	}
	klog.SetLoggerWithOptions(logr.New(klogSink{}), klog.WriteKlogBuffer(klogLine))
}

func init() { routeGoLogs() }

// opDebugLog writes lines through Go's logger and klog, as Helm and
// client-go do, to prove they arrive as the call's events.
func opDebugLog(_ context.Context, req debugLogRequest, _ eventSink) (emptyReply, error) {
	if req.Stdlib != "" {
		log.Print(req.Stdlib)
	}
	if req.KlogInfo != "" {
		klog.Info(req.KlogInfo)
	}
	if req.KlogWarning != "" {
		klog.Warning(req.KlogWarning)
	}
	if req.KlogError != "" {
		klog.Error(req.KlogError)
	}
	return emptyReply{}, nil
}
