package protocol

import (
	"fmt"
	"strconv"
)

// ID is a 64-bit snowflake identifier (message, conversation, user).
//
// On the wire an ID is always a JSON string of decimal digits, never a JSON
// number: JavaScript numbers are IEEE-754 doubles and silently round integers
// above 2^53, and snowflakes are far above that.
type ID int64

// MaxSafeInteger is the largest integer a JavaScript number represents
// exactly (2^53 - 1). Sequence numbers travel as JSON numbers and must not
// exceed it.
const MaxSafeInteger = 1<<53 - 1

// String returns the decimal form of id.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// MarshalJSON encodes id as a JSON string.
func (id ID) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 22)
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts only the canonical string form produced by MarshalJSON.
func (id *ID) UnmarshalJSON(b []byte) error {
	v, err := parseID(b)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// parseID parses a raw JSON value as an ID: a JSON string holding a positive
// decimal integer without sign or leading zeros that fits in int64. The
// canonical form keeps "any accepted frame re-encodes to the same value" true.
func parseID(raw []byte) (ID, error) {
	if len(raw) == 0 {
		return 0, fmt.Errorf("must be a JSON string")
	}
	switch c := raw[0]; {
	case c == '-' || (c >= '0' && c <= '9'):
		return 0, fmt.Errorf(`must be a JSON string such as "1234", not a number: 64-bit IDs lose precision as JavaScript numbers above 2^53`)
	case c != '"':
		return 0, fmt.Errorf("must be a JSON string of decimal digits")
	}
	if len(raw) < 3 || raw[len(raw)-1] != '"' {
		return 0, fmt.Errorf("must be a non-empty string of decimal digits")
	}
	digits := raw[1 : len(raw)-1]
	if len(digits) > 19 {
		return 0, fmt.Errorf("out of range for a 64-bit ID")
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("must contain only decimal digits")
		}
	}
	if digits[0] == '0' {
		return 0, fmt.Errorf("must be a positive integer without leading zeros")
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("out of range for a 64-bit ID")
	}
	return ID(v), nil
}
