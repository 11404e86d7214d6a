package main

import (
	"context"
	"errors"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// classify maps any error to one of the closed set of kinds, by its type,
// with the code and details the error carries or its type tells.
func classify(err error) *replyError {
	var se *shimError
	switch {
	case errors.As(err, &se):
		return &replyError{Kind: se.kind, Code: se.code, Details: se.details, Message: se.message}
	case errors.Is(err, errReleaseNotFound):
		return &replyError{Kind: kindNotFound, Code: codeReleaseNotFound, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "timed out waiting for the condition"):
		return &replyError{Kind: kindTimeout, Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &replyError{Kind: kindCancelled, Message: err.Error()}
	case apierrors.IsForbidden(err) || strings.Contains(err.Error(), " is forbidden: User "):
		return &replyError{Kind: kindAuth, Code: codeForbidden, Details: forbiddenDetails(err),
			Message: err.Error() + "; the cluster accepted the credentials but RBAC does not allow this " +
				"(Helm keeps each release in Secrets of its namespace, so it also needs get, list, create and update on secrets there)"}
	case apierrors.IsUnauthorized(err):
		return &replyError{Kind: kindAuth, Code: codeUnauthorized, Message: err.Error() + " (the cluster refused the credentials of the kubeconfig)"}
	default:
		return &replyError{Kind: kindKube, Message: err.Error()}
	}
}

// forbiddenMessage is the API server's own wording of an RBAC refusal
// (k8s.io/apiserver's authorization forbidden message): the verb is in no
// field of its Status, only in this text.
var forbiddenMessage = regexp.MustCompile(`cannot (\S+) resource "([^"]*)"(?: in API group "[^"]*")?(?: in the namespace "([^"]*)")?`)

// forbiddenDetails are the verb, resource and namespace of a refusal: the
// resource from the Status details when it has them, the rest from the
// API server's message.
func forbiddenDetails(err error) *errorDetails {
	d := &errorDetails{}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if sd := status.Status().Details; sd != nil {
			d.Resource = sd.Kind
			if sd.Group != "" {
				d.Resource += "." + sd.Group
			}
		}
	}
	if m := forbiddenMessage.FindStringSubmatch(err.Error()); m != nil {
		d.Verb = m[1]
		if d.Resource == "" {
			d.Resource = m[2]
		}
		d.Namespace = m[3]
	}
	return d
}
