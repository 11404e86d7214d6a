package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func scrubbed(t *testing.T, vals map[string]any, text string) string {
	t.Helper()
	s := newScrubber("web", "prod")
	s.addValues(vals)
	return s.scrub(text)
}

func TestLongValuesAreRedactedInEveryQuotedForm(t *testing.T) {
	secret := `pa"ss'w\rd/é`
	goQuoted := strconv.Quote(secret)
	jsonQuoted, _ := json.Marshal(secret)
	doubly, _ := json.Marshal(string(jsonQuoted))
	schemaQuoted := "'" + strings.ReplaceAll(strings.ReplaceAll(goQuoted[1:len(goQuoted)-1], `\"`, `"`), `'`, `\'`) + "'"
	cases := map[string]string{
		"plain":         "the value " + secret + " is wrong",
		"inside a word": "x" + secret + "y",
		"go %q":         "bad value " + goQuoted,
		"json":          `{"password":` + string(jsonQuoted) + `}`,
		"json in json":  "patch " + string(doubly),
		"ascii %q":      "bad " + strconv.QuoteToASCII(secret),
		"json schema":   "at '/password': " + schemaQuoted + " does not match pattern '^[0-9]+$'",
		"yaml single":   "password: '" + strings.ReplaceAll(secret, "'", "''") + "'",
	}
	for name, text := range cases {
		got := scrubbed(t, map[string]any{"db": map[string]any{"password": secret}}, text)
		if strings.Contains(got, "ss'w") || strings.Contains(got, `ss\'w`) || strings.Contains(got, "ss''w") || !strings.Contains(got, redactedMarker) {
			t.Errorf("%s: %q became %q", name, text, got)
		}
	}
}

func TestValuesWithRegexCharactersAreFoundLiterally(t *testing.T) {
	secret := `p@ss.w*rd+[x]$`
	got := scrubbed(t, map[string]any{"password": secret}, "at '/password': '"+secret+"' does not match pattern '^[0-9]+$'")
	if got != "at '/password': '[redacted]' does not match pattern '^[0-9]+$'" {
		t.Fatalf("got %q", got)
	}
}

func TestShortValuesAreRedactedOnlyWhereQuoted(t *testing.T) {
	vals := map[string]any{"pin": "hel", "n": int64(42), "on": true, "list": []any{"ab"}}
	for text, want := range map[string]string{
		// A schema failure quotes the value it refuses.
		"at '/pin': 'hel' does not match pattern '^[0-9]+$'": "at '/pin': '[redacted]' does not match pattern '^[0-9]+$'",
		`Invalid value: "hel": a valid label`:                `Invalid value: "[redacted]": a valid label`,
		`{\"pin\":\"hel\"}`:                                  `{\"pin\":\"[redacted]\"}`,
		"value `ab` refused":                                 "value `[redacted]` refused",
		`got "42", want a string`:                            `got "[redacted]", want a string`,
		// The same text inside words, or unquoted, stays: the chart's name
		// is not a secret because a value is part of it.
		"chart hello failed at line 42: hel is short": "chart hello failed at line 42: hel is short",
		`chart "hello" has no "hel-lo"`:               `chart "hello" has no "hel-lo"`,
		// Booleans are never redacted.
		`"true" is not allowed`: `"true" is not allowed`,
	} {
		if got := scrubbed(t, vals, text); got != want {
			t.Errorf("%q became %q, want %q", text, got, want)
		}
	}
}

func TestLongValuesInsideTheChartNameAreRedactedToo(t *testing.T) {
	// A long value is redacted wherever it appears, even in a name the
	// record holds anyway: the message must not confirm the value.
	got := scrubbed(t, map[string]any{"password": "hello-wo"}, "rendering chart hello-world failed")
	if got != "rendering chart [redacted]rld failed" {
		t.Fatalf("got %q", got)
	}
}

func TestReleaseNameNamespaceAndEmptyValuesAreLeftAlone(t *testing.T) {
	got := scrubbed(t, map[string]any{"name": "web", "ns": "prod", "empty": "", "n": nil},
		`release "web" in namespace "prod" failed: ""`)
	if got != `release "web" in namespace "prod" failed: ""` {
		t.Fatalf("got %q", got)
	}
}

func TestNumbersAreRedactedByTheirText(t *testing.T) {
	vals := map[string]any{"a": int64(12345678), "b": float64(987654321), "c": 3.14159265}
	got := scrubbed(t, vals, "a=12345678 b=987654321 c=3.14159265 d=1")
	if got != "a=[redacted] b=[redacted] c=[redacted] d=1" {
		t.Fatalf("got %q", got)
	}
}

func TestMultiLineValuesAreRedactedLineByLine(t *testing.T) {
	key := "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----\n"
	got := scrubbed(t, map[string]any{"tls": map[string]any{"key": key}}, "cannot parse line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
	if strings.Contains(got, "MIIEvQ") {
		t.Fatalf("got %q", got)
	}
}

func TestOverlappingValuesAreRedactedOnce(t *testing.T) {
	got := scrubbed(t, map[string]any{"a": "secret-value", "b": "value-and-more"}, "x secret-value-and-more y")
	if got != "x [redacted] y" {
		t.Fatalf("got %q", got)
	}
	// The marker itself is never taken apart by a value that is part of it.
	got = scrubbed(t, map[string]any{"a": "long-secret", "b": "redacted"}, "long-secret")
	if got != "[redacted]" {
		t.Fatalf("got %q", got)
	}
}

func TestSecretDataOfTheManifestIsRedactedEncodedAndDecoded(t *testing.T) {
	generated := "Zx9-generated-by-the-chart"
	encoded := base64.StdEncoding.EncodeToString([]byte(generated))
	manifest := fmt.Sprintf(`---
# Source: c/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: not-secret}
data: {plain: visible-config-value}
---
# Source: c/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata: {name: creds}
data:
  password: %s
stringData:
  token: tok-tok-tok-1
`, encoded)
	s := newScrubber()
	s.addManifest(manifest)
	text := fmt.Sprintf("failed: %s and %s and tok-tok-tok-1, visible-config-value", encoded, generated)
	want := "failed: [redacted] and [redacted] and [redacted], visible-config-value"
	if got := s.scrub(text); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSetExpressionsAreLearnedAsTyped(t *testing.T) {
	s := newScrubber()
	s.addSetExpressions(`password={"unterminated`, "a=first-secret,b=second-secret")
	got := s.scrub(`failed parsing --set-json data password={"unterminated: first-secret second-secret`)
	if strings.Contains(got, "unterminated") || strings.Contains(got, "-secret") {
		t.Fatalf("got %q", got)
	}
}

func TestRedactKeepsTheKindAndScrubsFacts(t *testing.T) {
	s := newScrubber()
	s.addTexts("hunter2-long")
	err := &failure{err: errorf(kindTimeout, "waited for hunter2-long"), facts: actionFacts{
		Release: &releaseDTO{Name: "web", Description: "Release \"web\" failed: hunter2-long"}, Installed: true,
	}}
	reply := classify(s.redact(err))
	if reply.Kind != kindTimeout || reply.Message != "waited for [redacted]" {
		t.Fatalf("reply %+v", reply)
	}
	var f *failure
	out := s.redact(err)
	if fe, ok := out.(*failure); ok {
		f = fe
	}
	if f == nil || f.facts.(actionFacts).Release.Description != `Release "web" failed: [redacted]` {
		t.Fatalf("facts %+v", out)
	}
}

func secretsChart(t *testing.T) string {
	path, err := filepath.Abs("../tests/fixtures/charts/secrets")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// The actions themselves: a schema failure quoting the value is scrubbed
// in the reply and in the events.
func TestChartActionsScrubTheirErrorsAndEvents(t *testing.T) {
	for _, secret := range []string{"Long-Secret-9f3e", "ab!"} {
		for _, op := range []string{"release.render", "release.install", "release.upgrade"} {
			req := chartRequest{Kube: kubeTarget{Storage: "memory", MemoryStore: t.Name()}, Chart: chartRef{Path: secretsChart(t)},
				Options: releaseOptions{Release: "web", Namespace: "prod", DryRun: "none", InstallIfMissing: true,
					Values: valuesRequest{Set: []string{"password=" + secret}}}}
			body, _ := json.Marshal(req)
			sink := &recordingSink{}
			raw := dispatch(op, body, 0, time.Minute, sink)
			var reply testReply
			if err := json.Unmarshal(raw, &reply); err != nil {
				t.Fatal(err)
			}
			wantKind(t, reply, kindInvalidInput)
			if !strings.Contains(reply.Error.Message, "does not match pattern") || !strings.Contains(reply.Error.Message, redactedMarker) {
				t.Fatalf("%s %s: message %q", op, secret, reply.Error.Message)
			}
			if strings.Contains(string(raw), secret) {
				t.Fatalf("%s: the reply holds the secret: %s", op, raw)
			}
			events, _ := json.Marshal(sink.events)
			if strings.Contains(string(events), secret) {
				t.Fatalf("%s: an event holds the secret: %s", op, events)
			}
		}
	}
}

func TestSecretDataIsRedactedForOutputAndTheRestKept(t *testing.T) {
	manifest := "---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\ndata: {a: kept}\n" +
		"---\n# Source: c/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n" +
		"data:\n  password: aHVudGVyMg==\nstringData: {token: plain-token}\ntype: Opaque\n"
	got := redactSecretData(manifest)
	want := "---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\ndata: {a: kept}\n" +
		"---\n# Source: c/templates/secret.yaml\napiVersion: v1\ndata:\n  password: '[redacted]'\nkind: Secret\nmetadata:\n  name: creds\n" +
		"stringData:\n  token: '[redacted]'\ntype: Opaque\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if same := "kind: Secret\nmetadata: {name: empty}\n"; redactSecretData(same) != same {
		t.Fatalf("a Secret without data changed: %q", redactSecretData(same))
	}
	reply := call(t, "secrets.redact", map[string]any{"manifests": []string{manifest, ""}}, time.Second)
	if !reply.OK || strings.Contains(string(reply.Result), "aHVudGVyMg") || strings.Contains(string(reply.Result), "plain-token") {
		t.Fatalf("reply %s %+v", reply.Result, reply.Error)
	}
}
