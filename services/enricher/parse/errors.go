package parse

import "errors"

// Sentinel errors wrapped by the errors this package returns, for
// classification with errors.Is.
var (
	// ErrSyntax is wrapped when the input is not valid in the parser's
	// format; the message says where (byte offset) and what was expected.
	ErrSyntax = errors.New("syntax error")
	// ErrTooDeep is wrapped when JSON nests objects and arrays deeper than
	// the limit given to JSON.
	ErrTooDeep = errors.New("nested too deep")
	// ErrNoPriority is wrapped when a syslog message does not start with a
	// valid <PRI> part such as <34>.
	ErrNoPriority = errors.New("no priority")
	// ErrPartial is wrapped when a syslog message has a valid <PRI> but a
	// header that could be read only in part; the map returned alongside
	// holds what was read.
	ErrPartial = errors.New("header read in part")
	// ErrInvalidOption is wrapped when a constructor is given a pattern,
	// rule name, delimiter or database it cannot use.
	ErrInvalidOption = errors.New("invalid option")
)
