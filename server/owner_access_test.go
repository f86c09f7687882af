package server

import "github.com/raftha/raftha/server/internal/owner"

// The owner role's bounds, under the names the server's tests use.
const (
	maxConcurrentStarts = owner.MaxConcurrentStarts
	maxReportResources  = owner.MaxReportResources
)
