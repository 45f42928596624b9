// Package x12 reads ASC X12 interchanges (005010): a stream of segments
// whose delimiters each interchange's ISA segment declares, and the
// envelopes around them (interchange ISA/IEA, functional group GS/GE,
// transaction set ST/SE) with their control numbers and counts checked.
// It holds one segment at a time: memory stays flat whatever the file.
package x12

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxSegmentBytes bounds one segment.
const MaxSegmentBytes = 64 << 10

// isaLength is the fixed length of an ISA segment, its terminator
// included: "ISA", 16 fixed-width elements and their 16 separators.
const isaLength = 106

// Delimiters are an interchange's separators, read from its ISA segment:
// the element separator is its 4th byte, the repetition separator ISA11,
// the component separator ISA16, the segment terminator the byte after
// ISA16.
type Delimiters struct {
	Element, Repetition, Component, Segment byte
}

// Segment is one segment: its ID and elements (Elements[0] is the ID,
// Elements[i] the i-th element, as the implementation guides number them).
type Segment struct {
	// Number is the segment's position in the file, 1-based.
	Number   int
	Elements []string
}

// ID is the segment's identifier ("CLP").
func (s Segment) ID() string { return s.Elements[0] }

// Element returns element i ("" when absent).
func (s Segment) Element(i int) string {
	if i < len(s.Elements) {
		return s.Elements[i]
	}
	return ""
}

// SyntaxError is a file that is not readable X12 past some segment: its
// number and what is wrong. Nothing after it can be trusted.
type SyntaxError struct {
	Segment int
	Msg     string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("X12 segment %d: %s", e.Segment, e.Msg) }

// Reader reads segments from a stream.
type Reader struct {
	r      *bufio.Reader
	delims Delimiters
	inISA  bool // delimiters known (an ISA was read)
	n      int  // segments read
	buf    []byte
	err    error
}

// NewReader reads X12 from r, which must start (after blank space) with an
// ISA segment.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Delimiters returns the current interchange's delimiters.
func (r *Reader) Delimiters() Delimiters { return r.delims }

// Next returns the next segment, io.EOF after the last, or a
// *SyntaxError (or the stream's error) that ends the reading.
func (r *Reader) Next() (Segment, error) {
	if r.err != nil {
		return Segment{}, r.err
	}
	seg, err := r.next()
	if err != nil {
		r.err = err
	}
	return seg, err
}

func (r *Reader) fail(msg string, args ...any) error {
	return &SyntaxError{Segment: r.n, Msg: fmt.Sprintf(msg, args...)}
}

func (r *Reader) next() (Segment, error) {
	if err := r.skipSpace(); err != nil {
		return Segment{}, err
	}
	r.n++
	// An interchange starts with ISA, whose fixed layout says the
	// delimiters of everything up to its IEA.
	head, err := r.r.Peek(3)
	if err == io.EOF || (err == nil && len(head) < 3) {
		return Segment{}, r.fail("truncated: %q is not a segment", head)
	}
	if err != nil {
		return Segment{}, err
	}
	if string(head) == "ISA" {
		return r.readISA()
	}
	if !r.inISA {
		return Segment{}, r.fail("the file must start with an ISA segment, got %q", head)
	}
	r.buf = r.buf[:0]
	for {
		chunk, err := r.r.ReadSlice(r.delims.Segment)
		if len(r.buf)+len(chunk) > MaxSegmentBytes+1 {
			return Segment{}, r.fail("longer than %d bytes", MaxSegmentBytes)
		}
		r.buf = append(r.buf, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			return Segment{}, r.fail("truncated: the file ends inside a segment (no %q terminator)", r.delims.Segment)
		}
		return Segment{}, err
	}
	return r.split(r.buf[:len(r.buf)-1])
}

// readISA reads an ISA segment and takes its delimiters.
func (r *Reader) readISA() (Segment, error) {
	isa, err := r.r.Peek(isaLength)
	if len(isa) < isaLength {
		if err == nil || err == io.EOF {
			return Segment{}, r.fail("truncated ISA segment (%d of %d bytes)", len(isa), isaLength)
		}
		return Segment{}, err
	}
	d := Delimiters{Element: isa[3], Segment: isa[isaLength-1], Component: isa[isaLength-2]}
	fields := bytes.Split(isa[:isaLength-1], []byte{d.Element})
	if len(fields) != 17 {
		return Segment{}, r.fail("ISA has %d elements with element separator %q, want 16 fixed-width ones", len(fields)-1, d.Element)
	}
	for i, w := range isaWidths {
		if len(fields[i+1]) != w {
			return Segment{}, r.fail("ISA%02d is %d characters, want %d", i+1, len(fields[i+1]), w)
		}
	}
	d.Repetition = fields[11][0]
	if err := d.valid(); err != nil {
		return Segment{}, r.fail("ISA delimiters: %v", err)
	}
	r.delims, r.inISA = d, true
	seg, err := r.split(append(r.buf[:0], isa[:isaLength-1]...))
	if _, derr := r.r.Discard(isaLength); derr != nil {
		return Segment{}, derr
	}
	return seg, err
}

// isaWidths are the fixed widths of ISA01 to ISA16.
var isaWidths = [16]int{2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1}

func (d Delimiters) valid() error {
	seen := map[byte]string{}
	for _, x := range []struct {
		name string
		b    byte
	}{{"element", d.Element}, {"repetition", d.Repetition}, {"component", d.Component}, {"segment", d.Segment}} {
		if isAlnum(x.b) || x.b == ' ' {
			return fmt.Errorf("the %s separator %q is a letter, digit or space", x.name, x.b)
		}
		if other, ok := seen[x.b]; ok {
			return fmt.Errorf("the %s and %s separators are both %q", other, x.name, x.b)
		}
		seen[x.b] = x.name
	}
	return nil
}

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z'
}

// split parses one segment's bytes (without its terminator).
func (r *Reader) split(b []byte) (Segment, error) {
	if bytes.IndexByte(b, 0) >= 0 {
		return Segment{}, r.fail("contains a NUL byte")
	}
	if !utf8.Valid(b) {
		return Segment{}, r.fail("is not valid UTF-8")
	}
	parts := bytes.Split(b, []byte{r.delims.Element})
	id := string(parts[0])
	if len(id) < 2 || len(id) > 3 || !isAlnum(id[0]) || !isAlnum(id[1]) || (len(id) == 3 && !isAlnum(id[2])) {
		return Segment{}, r.fail("%q is not a segment ID", truncate(id))
	}
	s := Segment{Number: r.n, Elements: make([]string, len(parts))}
	for i, p := range parts {
		s.Elements[i] = string(p)
	}
	return s, nil
}

// skipSpace skips the CR, LF and blanks files put between segments.
func (r *Reader) skipSpace() error {
	for {
		c, err := r.r.ReadByte()
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return err
		}
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			return r.r.UnreadByte()
		}
	}
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// Components splits an element into its components.
func (d Delimiters) Components(element string) []string {
	return strings.Split(element, string(d.Component))
}
