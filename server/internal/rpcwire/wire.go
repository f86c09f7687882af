// Package rpcwire owns the member RPCs' wire: their argument and reply
// types, the reply envelope and the error codec that keeps a sentinel error
// a value across the wire (errors.Is holds on the caller as it did on the
// callee).
package rpcwire

import "errors"

// Code is the stable wire name of a sentinel error (not_owner, busy, ...).
type Code string

// Error is an error on the wire: the codes of every registered sentinel it
// wraps (most specific first; none when it wraps no registered sentinel)
// and the full message.
type Error struct {
	// Codes name the registered sentinels the error wraps, in registry
	// order: Codes[0] is the most specific.
	Codes []Code
	// Msg is the error's message as the callee formatted it.
	Msg string
}

// Reply is the envelope of every member RPC reply: the call's result and
// its error, encoded so that the caller can match sentinels.
type Reply[R any] struct {
	// Result is the call's result; it may be set alongside Err (a
	// transfer that failed returns the group's status too).
	Result R
	// Err is the call's error; nil when it succeeded.
	Err *Error
}

// Entry registers one sentinel under its code.
type Entry struct {
	// Code is the sentinel's wire code.
	Code Code
	// Err is the sentinel.
	Err error
}

// Codec encodes errors as (code, message) and decodes them into errors
// that wrap the registered sentinel. Entries are tried in order, so the
// most specific sentinel goes first (an error may wrap more than one).
type Codec struct{ entries []Entry }

// NewCodec returns a codec for entries, most specific first. It panics on
// a duplicate or empty code or a nil error: the registry is a constant
// table of the program.
func NewCodec(entries ...Entry) *Codec {
	seen := map[Code]bool{}
	for _, e := range entries {
		if e.Code == "" || e.Err == nil || seen[e.Code] {
			panic("rpcwire: bad or duplicate registry entry " + string(e.Code))
		}
		seen[e.Code] = true
	}
	return &Codec{entries: entries}
}

// Entries returns the registry, most specific first.
func (c *Codec) Entries() []Entry { return append([]Entry(nil), c.entries...) }

// Code returns the code of the first registered sentinel err wraps, or
// "" when it wraps none (or err is nil).
func (c *Codec) Code(err error) Code {
	if codes := c.codes(err, true); len(codes) > 0 {
		return codes[0]
	}
	return ""
}

func (c *Codec) codes(err error, first bool) []Code {
	if err == nil {
		return nil
	}
	var out []Code
	for _, e := range c.entries {
		if errors.Is(err, e.Err) {
			out = append(out, e.Code)
			if first {
				break
			}
		}
	}
	return out
}

// Encode returns err for the wire; nil for nil.
func (c *Codec) Encode(err error) *Error {
	if err == nil {
		return nil
	}
	return &Error{Codes: c.codes(err, false), Msg: err.Error()}
}

// Decode returns the error e encodes: its message, wrapping every
// sentinel its codes name (an unknown code, from a newer peer, is kept in
// Codes but matches nothing). nil for nil.
func (c *Codec) Decode(e *Error) error {
	if e == nil {
		return nil
	}
	re := &RemoteError{Codes: e.Codes, Msg: e.Msg}
	for _, code := range e.Codes {
		for _, r := range c.entries {
			if r.Code == code {
				re.sentinels = append(re.sentinels, r.Err)
			}
		}
	}
	return re
}

// RemoteError is an error a peer returned: its message, and the sentinels
// its codes name for errors.Is.
type RemoteError struct {
	// Codes are the wire codes, most specific first.
	Codes []Code
	// Msg is the peer's message.
	Msg       string
	sentinels []error
}

// Error returns the peer's message.
func (e *RemoteError) Error() string { return e.Msg }

// Unwrap returns the sentinels the codes name.
func (e *RemoteError) Unwrap() []error { return e.sentinels }
