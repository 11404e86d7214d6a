package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// askedVerifier answers as told and counts the questions.
type askedVerifier struct {
	asked  map[schema.GroupVersionKind]int
	answer func(schema.GroupVersionKind) error
}

func (v *askedVerifier) HasSupport(gvk schema.GroupVersionKind) error {
	v.asked[gvk]++
	return v.answer(gvk)
}

var (
	deployment = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	widget     = schema.GroupVersionKind{Group: "example.test", Version: "v1", Kind: "Widget"}
)

func TestOnlyAKindTheServerValidatesIsKnownToLaterCalls(t *testing.T) {
	cache := &fieldValidationCache{servers: map[string]map[schema.GroupVersionKind]time.Time{}}
	next := &askedVerifier{asked: map[schema.GroupVersionKind]int{}, answer: func(gvk schema.GroupVersionKind) error {
		if gvk == widget {
			return errors.New("the server has no such kind")
		}
		return nil
	}}
	// Three calls to one server, each with verifiers of its own.
	for call := 0; call < 3; call++ {
		v := &sharedVerdicts{next: &verdicts{next: next}, server: "https://a", cache: cache}
		for i := 0; i < 2; i++ {
			if err := v.HasSupport(deployment); err != nil {
				t.Fatalf("call %d: %v", call, err)
			}
			if err := v.HasSupport(widget); err == nil {
				t.Fatalf("call %d: the widget's answer was lost", call)
			}
		}
	}
	if n := next.asked[deployment]; n != 1 {
		t.Errorf("a kind the server validates was asked %d times in three calls, want once", n)
	}
	if n := next.asked[widget]; n != 3 {
		t.Errorf("a kind without support was asked %d times in three calls, want once per call", n)
	}
	// Another server is asked for itself.
	other := &sharedVerdicts{next: next, server: "https://b", cache: cache}
	if err := other.HasSupport(deployment); err != nil || next.asked[deployment] != 2 {
		t.Errorf("another server's answer was taken from the first: %v, asked %d", err, next.asked[deployment])
	}
}

func TestAKnownKindIsAskedAgainOnceItsAnswerIsOld(t *testing.T) {
	cache := &fieldValidationCache{servers: map[string]map[schema.GroupVersionKind]time.Time{}}
	now := time.Now()
	cache.remember("https://a", deployment, now.Add(-fieldValidationTTL-time.Second))
	if cache.known("https://a", deployment, now) {
		t.Error("an answer older than fieldValidationTTL is still taken")
	}
	cache.remember("https://a", deployment, now)
	if !cache.known("https://a", deployment, now.Add(fieldValidationTTL-time.Second)) {
		t.Error("a fresh answer is not taken")
	}
}

func TestTheServersRememberedAreBounded(t *testing.T) {
	cache := &fieldValidationCache{servers: map[string]map[schema.GroupVersionKind]time.Time{}}
	now := time.Now()
	for i := 0; i < 10*maxFieldValidationServers; i++ {
		cache.remember(fmt.Sprintf("https://%d", i), deployment, now)
		if n := len(cache.servers); n > maxFieldValidationServers {
			t.Fatalf("%d servers remembered, at most %d wanted", n, maxFieldValidationServers)
		}
	}
	last := fmt.Sprintf("https://%d", 10*maxFieldValidationServers-1)
	if !cache.known(last, deployment, now) {
		t.Error("the newest server was not remembered")
	}
}
