package fsm

import "fmt"

// FieldError is a problem with one field of the group specs given to
// ValidateGroups. Path names the field as the group file spells it
// ("groups[0].nodes[1]"), so a caller can point at its line without
// parsing the message. It wraps ErrInvalid.
type FieldError struct {
	// Path is the field, e.g. "groups[0].resources[1].name".
	Path string
	// Msg says what is wrong with it.
	Msg string
}

// Error formats e as "PATH: MSG".
func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Unwrap makes a FieldError match ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// fieldErr returns a FieldError for path with a formatted message.
func fieldErr(path, format string, a ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)}
}
