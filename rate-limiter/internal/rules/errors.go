package rules

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a rules file: "rules/api.yaml:14: descriptors[0].rate_limit.unit:
// "fortnight" is not a unit (want ...)".
type FieldError struct {
	File  string
	Line  int    // 1-based; 0 when unknown
	Field string // path to the field, e.g. descriptors[0].descriptors[1].rate_limit.unit; "" for syntax errors
	Msg   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found while loading, in file then line order. Load returns all of them,
// not only the first, so one edit can fix them all.
type Errors []*FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find each FieldError.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}
