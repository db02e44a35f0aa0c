package forward

import (
	"errors"
	"fmt"
	"io"

	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// Buffer sizes of a connection's reader.
const (
	initialBuffer   = 16 << 10 // enough for most Message-mode records
	readSlack       = 4 << 10  // read room beyond max_request_bytes
	shrinkAbove     = 1 << 20  // a buffer grown past this is given back…
	shrinkBelow     = 64 << 10 // …once what it holds is smaller than this
	frameDepthSlack = 16       // envelope levels above a record the framer allows
)

// errIncomplete: the connection ended inside a message.
var errIncomplete = errors.New("connection closed in the middle of a message (truncated msgpack)")

// tooLargeError says a message is over max_request_bytes.
type tooLargeError struct{ limit int }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("message larger than %s (set gateway.limits.max_request_bytes)", ingest.FormatBytes(e.limit))
}

// framer cuts a connection's byte stream into top-level msgpack values. It
// holds at most limit+readSlack bytes: a message that cannot end within
// limit bytes (including one whose header claims more) is refused as soon
// as that is known, not after buffering it.
//
// The framer checks structure, not the limits on records: depth is checked
// per record by the decoder, so one record nested too deep does not cost
// its neighbours their ack. Only a message nesting deeper than any record
// could be checked for (depth: at least the 1000 levels ingest.Limits
// allows, plus the envelope) is refused at once, so a stream of 0x91 bytes
// stops being read after a kilobyte.
type framer struct {
	r          io.Reader
	limit      int
	depth      int
	beforeRead func(partial bool) error // arms deadlines; may refuse to read on
	// reserve and release account buffer growth beyond the initial size
	// against the server's budget; nil means unaccounted.
	reserve func(n int64) error
	release func(n int64)

	buf        []byte
	start, end int // unread bytes: buf[start:end]
	sc         scanner
}

func newFramer(r io.Reader, limit, maxDepth int, beforeRead func(bool) error) *framer {
	return &framer{r: r, limit: limit, depth: max(maxDepth, 1000) + frameDepthSlack, beforeRead: beforeRead,
		buf: make([]byte, min(initialBuffer, limit+readSlack))}
}

// next returns the next top-level value, a copy the caller owns. It returns
// io.EOF when the stream ends between values, errIncomplete when it ends
// inside one, *tooLargeError, errInvalid, errTooDeep, or the reader's
// error.
func (f *framer) next() ([]byte, error) {
	f.shrink()
	f.sc.reset(f.depth, f.limit, true)
	for {
		if f.end > f.start {
			n, err := f.sc.scan(f.buf[f.start:f.end])
			switch {
			case err == nil:
				msg := append([]byte(nil), f.buf[f.start:f.start+n]...)
				f.start += n
				if f.start == f.end {
					f.start, f.end = 0, 0
				}
				return msg, nil
			case err == errTooBig:
				return nil, &tooLargeError{limit: f.limit}
			case err != errShort:
				return nil, err
			}
		}
		if err := f.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes after the unread ones, making room first.
func (f *framer) fill() error {
	partial := f.end > f.start
	if f.end == len(f.buf) {
		if f.start > 0 {
			f.end = copy(f.buf, f.buf[f.start:f.end])
			f.start = 0
		} else {
			grown := min(max(2*len(f.buf), initialBuffer), f.limit+readSlack)
			if grown <= len(f.buf) {
				return &tooLargeError{limit: f.limit} // unreachable: the scanner refuses first
			}
			if f.reserve != nil {
				if err := f.reserve(int64(grown - len(f.buf))); err != nil {
					return err
				}
			}
			nb := make([]byte, grown)
			f.end = copy(nb, f.buf[f.start:f.end])
			f.start, f.buf = 0, nb
		}
	}
	if f.beforeRead != nil {
		if err := f.beforeRead(partial); err != nil {
			return err
		}
	}
	n, err := f.r.Read(f.buf[f.end:])
	f.end += n
	switch {
	case n > 0:
		return nil // a read error shows up again on the next read
	case err == io.EOF && partial:
		return errIncomplete
	case err != nil:
		return err
	}
	return nil
}

// shrink gives back a buffer that grew for one large message.
func (f *framer) shrink() {
	if len(f.buf) > shrinkAbove && f.end-f.start < shrinkBelow {
		nb := make([]byte, max(initialBuffer, f.end-f.start))
		if f.release != nil {
			f.release(int64(len(f.buf) - len(nb)))
		}
		f.end = copy(nb, f.buf[f.start:f.end])
		f.start, f.buf = 0, nb
	}
}
