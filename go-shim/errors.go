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
	case apierrors.IsForbidden(err) || strings.Contains(err.Error(), " is forbidden: User "):
		return &replyError{Kind: kindAuth, Message: err.Error() + "; the cluster accepted the credentials but RBAC does not allow this: " +
			"ask an administrator for a Role that grants it, or use a --kube-context that has it " +
			"(Helm keeps each release in Secrets of its namespace, so it also needs get, list, create and update on secrets there)"}
	case apierrors.IsUnauthorized(err):
		return &replyError{Kind: kindAuth, Message: err.Error() + " (check the credentials in your kubeconfig)"}
	default:
		return &replyError{Kind: kindKube, Message: err.Error()}
	}
}
