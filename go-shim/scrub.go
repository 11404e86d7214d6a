package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// redactedMarker replaces a secret in a message.
const redactedMarker = "[redacted]"

// minAnywhere is the length from which a value is redacted wherever its
// text appears, even inside a longer word. A shorter value is redacted only
// where it stands quoted ("v", 'v', `v`, or with the quotes escaped, \"v\"),
// which is how a schema failure or an API server rejection quotes the value
// it refuses: replacing every "1", "on" or "web" in a message would wreck
// it, and a short value found inside a longer word reveals nothing.
const minAnywhere = 6

// scrubber removes from messages every value the user gave (the merged
// values before the chart's defaults, and their --set expressions) and the
// data of the Secrets a release renders.
//
// Which values count: every string leaf, and the text of every number
// leaf, of the user's values (booleans and null never: they are no
// secrets, and "true" is in many messages). Each value is looked for in the
// forms messages quote it in: as it is, JSON-escaped (also twice, a JSON
// document quoted in JSON), Go-quoted (%q, ASCII or not), as the JSON
// Schema validator quotes it (%q with ' escaped instead of "), and as a
// single-quoted YAML scalar (” for '). A value of several lines is also
// looked for line by line. Values the record names anyway (the release and
// its namespace) are left alone.
//
// A scrubber is safe for concurrent use; it learns more as an action goes
// (the rendered manifest's Secrets once Helm rendered it).
type scrubber struct {
	mu     sync.RWMutex
	forms  map[string]bool // the text looked for -> true when short (quoted only)
	public map[string]bool
}

// newScrubber is a scrubber that leaves public alone (the release name and
// namespace: the record holds them anyway).
func newScrubber(public ...string) *scrubber {
	s := &scrubber{forms: map[string]bool{}, public: map[string]bool{}}
	for _, p := range public {
		s.public[p] = true
	}
	return s
}

// addValues learns every string and number leaf of vals.
func (s *scrubber) addValues(vals any) {
	if s == nil {
		return
	}
	var leaves []string
	collectLeaves(vals, &leaves)
	s.addTexts(leaves...)
}

func collectLeaves(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for _, item := range v {
			collectLeaves(item, out)
		}
	case map[string]string:
		for _, item := range v {
			*out = append(*out, item)
		}
	case []any:
		for _, item := range v {
			collectLeaves(item, out)
		}
	case string:
		*out = append(*out, v)
	case json.Number:
		*out = append(*out, v.String())
	case float64:
		*out = append(*out, strconv.FormatFloat(v, 'f', -1, 64), fmt.Sprint(v))
	case float32:
		*out = append(*out, strconv.FormatFloat(float64(v), 'f', -1, 32), fmt.Sprint(v))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		*out = append(*out, fmt.Sprint(v))
	}
}

// addTexts learns values given as text.
func (s *scrubber) addTexts(texts ...string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, text := range texts {
		s.addLocked(text)
		if strings.Contains(text, "\n") {
			for _, line := range strings.Split(text, "\n") {
				if line = strings.TrimSpace(line); len(line) >= minAnywhere {
					s.addLocked(line)
				}
			}
		}
	}
}

func (s *scrubber) addLocked(text string) {
	if text == "" || s.public[text] {
		return
	}
	short := utf8.RuneCountInString(text) < minAnywhere
	for _, form := range quotedForms(text) {
		if form == "" {
			continue
		}
		// A form seen as long stays long.
		if prev, seen := s.forms[form]; !seen || prev {
			s.forms[form] = short
		}
	}
}

// quotedForms is text as messages may show it, without the quotes.
func quotedForms(text string) []string {
	if !needsEscaping(text) {
		return []string{text}
	}
	goQuoted := strconv.Quote(text)
	goQuoted = goQuoted[1 : len(goQuoted)-1]
	ascii := strconv.QuoteToASCII(text)
	ascii = ascii[1 : len(ascii)-1]
	schema := strings.ReplaceAll(strings.ReplaceAll(goQuoted, `\"`, `"`), `'`, `\'`)
	json1 := jsonBody(text, false)
	return []string{
		text,
		json1,
		jsonBody(text, true),
		jsonBody(json1, false),
		goQuoted,
		ascii,
		schema,
		strings.ReplaceAll(text, `'`, `''`),
	}
}

// needsEscaping says whether any quoting form of text differs from it:
// quotes, backslashes, HTML-escaped characters, control and non-ASCII
// characters.
func needsEscaping(text string) bool {
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '\'', c == '<', c == '>', c == '&':
			return true
		}
	}
	return false
}

// jsonBody is text as a JSON string, without the quotes.
func jsonBody(text string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if enc.Encode(text) != nil {
		return text
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// addManifest learns the data of every Secret in a rendered manifest: each
// value of `data` (base64, and decoded when it is text) and of `stringData`.
func (s *scrubber) addManifest(manifest string) {
	if s == nil || !strings.Contains(manifest, "Secret") {
		return
	}
	for _, doc := range splitManifests(manifest) {
		var obj struct {
			Kind       string            `json:"kind"`
			Data       map[string]string `json:"data"`
			StringData map[string]string `json:"stringData"`
		}
		if !strings.Contains(doc, "Secret") || yaml.Unmarshal([]byte(doc), &obj) != nil || obj.Kind != "Secret" {
			continue
		}
		for _, encoded := range obj.Data {
			s.addTexts(encoded)
			if decoded, err := base64.StdEncoding.DecodeString(encoded); err == nil && utf8.Valid(decoded) {
				s.addTexts(string(decoded))
			}
		}
		for _, plain := range obj.StringData {
			s.addTexts(plain)
		}
	}
}

// addRelease learns a release's user values (Helm keeps them as its
// config) and the Secrets of its manifest and hooks.
func (s *scrubber) addRelease(rel *helmRelease) {
	if s == nil || rel == nil {
		return
	}
	s.addValues(rel.Config)
	s.addManifest(rel.Manifest)
	for _, h := range rel.Hooks {
		if h != nil {
			s.addManifest(h.Manifest)
		}
	}
}

// addSetExpressions learns the values of --set style expressions
// (key=value,key2=value2) as typed, for messages about expressions that
// could not be merged, which quote them.
func (s *scrubber) addSetExpressions(exprs ...string) {
	for _, expr := range exprs {
		_, value, found := strings.Cut(expr, "=")
		if !found {
			continue
		}
		s.addTexts(value)
		for _, part := range strings.Split(value, ",") {
			if _, v, ok := strings.Cut(part, "="); ok {
				part = v
			}
			s.addTexts(part)
		}
	}
}

// scrub returns text with every known value replaced by redactedMarker.
func (s *scrubber) scrub(text string) string {
	if s == nil || text == "" {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	type span struct{ start, end int }
	var spans []span
	for form, short := range s.forms {
		for from := 0; from < len(text); {
			i := strings.Index(text[from:], form)
			if i < 0 {
				break
			}
			start, end := from+i, from+i+len(form)
			if !short || quotedAt(text, start, end) {
				spans = append(spans, span{start, end})
			}
			from = start + 1
		}
	}
	if len(spans) == 0 {
		return text
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	var b strings.Builder
	at := 0
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		for i++; i < len(spans) && spans[i].start <= end; i++ {
			end = max(end, spans[i].end)
		}
		b.WriteString(text[at:start])
		b.WriteString(redactedMarker)
		at = end
	}
	b.WriteString(text[at:])
	return b.String()
}

// quotedAt says whether text[start:end] stands between quotes (or escaped
// quotes) on both sides.
func quotedAt(text string, start, end int) bool {
	isQuote := func(c byte) bool { return c == '"' || c == '\'' || c == '`' }
	if start == 0 || !isQuote(text[start-1]) {
		return false
	}
	if end < len(text) && isQuote(text[end]) {
		return true
	}
	return end+1 < len(text) && text[end] == '\\' && isQuote(text[end+1])
}

// redact returns err with its message scrubbed, keeping its kind and the
// facts of a failure (their texts scrubbed too).
func (s *scrubber) redact(err error) error {
	if err == nil || s == nil {
		return err
	}
	re := classify(err)
	out := error(&shimError{kind: re.Kind, code: re.Code, details: s.scrubDetails(re.Details), message: s.scrub(re.Message)})
	var f *failure
	if errors.As(err, &f) {
		return &failure{err: out, facts: s.scrubFacts(f.facts)}
	}
	return out
}

// scrubDetails scrubs the text of an error's details (names and
// references, which hold no values, but a value could be one).
func (s *scrubber) scrubDetails(d *errorDetails) *errorDetails {
	if d == nil {
		return nil
	}
	out := *d
	for _, f := range []*string{&out.Release, &out.Namespace, &out.Reference, &out.Version, &out.Host, &out.Verb, &out.Resource, &out.CAFile} {
		*f = s.scrub(*f)
	}
	return &out
}

func (s *scrubber) scrubFacts(facts any) any {
	switch f := facts.(type) {
	case actionFacts:
		if f.Release != nil {
			rel := *f.Release
			rel.Description = s.scrub(rel.Description)
			f.Release = &rel
		}
		return f
	case *actionFacts:
		if f == nil {
			return facts
		}
		return s.scrubFacts(*f)
	}
	return facts
}

// scrubbingSink scrubs every event before passing it on: Helm's debug log
// quotes the errors it meets ("warning: Upgrade ... failed: ...").
type scrubbingSink struct {
	next eventSink
	s    *scrubber
}

func (k scrubbingSink) emit(ev event) {
	ev.Message = k.s.scrub(ev.Message)
	k.next.emit(ev)
}

// helmDescriptions are the descriptions Helm writes that quote nothing.
var helmDescriptions = map[string]bool{
	"Install complete": true, "Upgrade complete": true, "Uninstallation complete": true,
	"Initial install underway": true, "Preparing upgrade": true, "Dry run complete": true,
	"Deletion in progress (or silently failed)": true, "": true,
}

// releaseDescription is rel's description with its values scrubbed: Helm
// records a failure's error there ("Release \"x\" failed: ...").
func releaseDescription(rel *helmRelease) string {
	desc := rel.Info.Description
	if helmDescriptions[desc] || strings.HasPrefix(desc, "Rollback to ") {
		return desc
	}
	s := newScrubber(rel.Name, rel.Namespace)
	s.addRelease(rel)
	return s.scrub(desc)
}

// addPublic marks texts the record names anyway, left alone.
func (s *scrubber) addPublic(texts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range texts {
		s.public[t] = true
	}
}

// redactSecretData returns manifest with the value of every key of the
// `data` and `stringData` of each Secret replaced by redactedMarker, for
// output that shows a manifest without its secrets. Other documents are
// kept byte for byte; a Secret is written again (keys sorted) under its
// own comment lines ("# Source: ...").
func redactSecretData(manifest string) string {
	if !strings.Contains(manifest, "Secret") {
		return manifest
	}
	var out strings.Builder
	var doc []string
	flush := func() {
		out.WriteString(redactSecretDoc(strings.Join(doc, "")))
		doc = doc[:0]
	}
	for _, line := range strings.SplitAfter(manifest, "\n") {
		if strings.TrimRight(line, " \t\r\n") == "---" {
			flush()
			out.WriteString(line)
			continue
		}
		doc = append(doc, line)
	}
	flush()
	return out.String()
}

func redactSecretDoc(doc string) string {
	var obj map[string]any
	if !strings.Contains(doc, "Secret") || yaml.Unmarshal([]byte(doc), &obj) != nil || obj["kind"] != "Secret" {
		return doc
	}
	changed := false
	for _, field := range []string{"data", "stringData"} {
		entries, ok := obj[field].(map[string]any)
		if !ok {
			continue
		}
		for k := range entries {
			entries[k] = redactedMarker
			changed = true
		}
	}
	if !changed {
		return doc
	}
	body, err := yaml.Marshal(obj)
	if err != nil {
		return "# " + redactedMarker + ": a Secret that could not be shown without its data\n"
	}
	var head strings.Builder
	for _, line := range strings.SplitAfter(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") && strings.TrimSpace(line) != "" {
			break
		}
		head.WriteString(line)
	}
	text := head.String() + string(body)
	if !strings.HasSuffix(doc, "\n") {
		text = strings.TrimSuffix(text, "\n")
	}
	return text
}

// opRedactSecrets is redactSecretData over several manifests (a release's
// and its hooks').
func opRedactSecrets(_ context.Context, req redactRequest, _ eventSink) (redactReply, error) {
	out := make([]string, len(req.Manifests))
	for i, m := range req.Manifests {
		out[i] = redactSecretData(m)
	}
	return redactReply{Manifests: out}, nil
}
