package main

import (
	"context"
	"errors"
	"strings"

	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// classify maps any error to one of the closed set of kinds.
func classify(err error) *replyError {
	var se *shimError
	switch {
	case errors.As(err, &se):
		return &replyError{Kind: se.kind, Message: se.message}
	case errors.Is(err, driver.ErrReleaseNotFound):
		return &replyError{Kind: kindNotFound, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "timed out waiting for the condition"):
		return &replyError{Kind: kindTimeout, Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &replyError{Kind: kindCancelled, Message: err.Error()}
	case apierrors.IsUnauthorized(err):
		return &replyError{Kind: kindAuth, Message: err.Error() + " (check the credentials in your kubeconfig)"}
	default:
		return &replyError{Kind: kindKube, Message: err.Error()}
	}
}
