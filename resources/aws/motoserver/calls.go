package motoserver

import (
	"sync"
	"time"
)

// Calls counts AWS API calls by operation (each retry counts). Pass its
// Observe as Settings.Observe to resources/aws.LoadConfig.
type Calls struct {
	mu sync.Mutex
	n  map[string]int
}

// Observe records one call of op.
func (c *Calls) Observe(_, op string, _ error, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op]++
}

// Take returns the counts so far and starts again from zero.
func (c *Calls) Take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	if out == nil {
		out = map[string]int{}
	}
	return out
}
