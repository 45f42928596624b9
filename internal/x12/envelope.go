package x12

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// SetError rejects one transaction set as a unit (a wrong SE count or
// control number, a set that is not the type expected, content the
// handler refuses); the rest of the file stands.
type SetError struct {
	Segment int    // where the problem shows
	Control string // the set's control number (ST02)
	Msg     string
}

func (e *SetError) Error() string {
	return fmt.Sprintf("X12 transaction set %s (segment %d): %s", e.Control, e.Segment, e.Msg)
}

// Handler receives a file's transaction sets, segment by segment.
type Handler interface {
	// BeginSet starts a set at its ST segment. A *SetError rejects the
	// set: its segments are skipped and EndSet gets the error.
	BeginSet(st Segment, d Delimiters) error
	// SetSegment is one segment between ST and SE. A *SetError rejects
	// the rest of the set likewise (Walk names the set in it).
	SetSegment(s Segment) error
	// EndSet ends the set at its SE: nil when it checked out, else the
	// *SetError that rejects it (the handler drops what it kept of it).
	EndSet(err error) error
}

// Walk reads every interchange of r in order, checks the envelopes and
// hands each transaction set to h. A broken envelope (a missing or
// misplaced ISA, GS, GE, IEA; their control numbers or counts; a file
// that ends inside an interchange) or unreadable X12 is a *SyntaxError
// that ends the walk; a set that does not check out is rejected alone
// (h.EndSet gets its *SetError) and the walk goes on. Any other error from
// h ends the walk.
func Walk(r io.Reader, h Handler) error {
	rd := NewReader(r)
	var (
		isa, gs, st           Segment
		groups, sets, inSet   int
		inISA, inGS, rejected bool
		setErr                error
	)
	fail := func(s Segment, msg string, args ...any) error {
		return &SyntaxError{Segment: s.Number, Msg: fmt.Sprintf(msg, args...)}
	}
	interchanges := 0
	for {
		s, err := rd.Next()
		if err == io.EOF {
			switch {
			case interchanges == 0 && !inISA:
				return &SyntaxError{Segment: 1, Msg: "empty file: no ISA segment"}
			case inISA:
				return &SyntaxError{Segment: rd.n, Msg: fmt.Sprintf("truncated: interchange %s has no IEA", isa.Element(13))}
			}
			return nil
		}
		if err != nil {
			return err
		}
		if inSet > 0 {
			inSet++
			switch s.ID() {
			case "SE":
				count, cerr := strconv.Atoi(s.Element(1))
				switch {
				case rejected:
				case cerr != nil || count != inSet:
					setErr = &SetError{Segment: s.Number, Control: st.Element(2), Msg: fmt.Sprintf("SE01 says %s segments, the set has %d", s.Element(1), inSet)}
				case s.Element(2) != st.Element(2):
					setErr = &SetError{Segment: s.Number, Control: st.Element(2), Msg: fmt.Sprintf("SE02 %q does not close ST02 %q", s.Element(2), st.Element(2))}
				}
				if err := h.EndSet(setErr); err != nil {
					return err
				}
				inSet, sets, rejected, setErr = 0, sets+1, false, nil
			case "ISA", "IEA", "GS", "GE", "ST":
				return fail(s, "%s inside transaction set %s (no SE)", s.ID(), st.Element(2))
			default:
				if rejected {
					continue
				}
				if err := h.SetSegment(s); err != nil {
					var se *SetError
					if !errors.As(err, &se) {
						return err
					}
					if se.Control == "" {
						se.Control = st.Element(2)
					}
					rejected, setErr = true, err
				}
			}
			continue
		}
		switch s.ID() {
		case "ISA":
			if inISA {
				return fail(s, "ISA inside interchange %s (no IEA)", isa.Element(13))
			}
			isa, inISA, groups = s, true, 0
			interchanges++
		case "IEA":
			switch {
			case !inISA:
				return fail(s, "IEA outside an interchange")
			case inGS:
				return fail(s, "IEA before GE of group %s", gs.Element(6))
			case s.Element(2) != isa.Element(13):
				return fail(s, "IEA02 %q does not close ISA13 %q", s.Element(2), isa.Element(13))
			case s.Element(1) != strconv.Itoa(groups):
				return fail(s, "IEA01 says %s groups, the interchange has %d", s.Element(1), groups)
			}
			inISA = false
		case "GS":
			if !inISA || inGS {
				return fail(s, "GS outside an interchange or inside a group")
			}
			gs, inGS, sets = s, true, 0
		case "GE":
			switch {
			case !inGS:
				return fail(s, "GE outside a functional group")
			case s.Element(2) != gs.Element(6):
				return fail(s, "GE02 %q does not close GS06 %q", s.Element(2), gs.Element(6))
			case s.Element(1) != strconv.Itoa(sets):
				return fail(s, "GE01 says %s transaction sets, the group has %d", s.Element(1), sets)
			}
			inGS, groups = false, groups+1
		case "ST":
			if !inGS {
				return fail(s, "ST outside a functional group")
			}
			st, inSet = s, 1
			if err := h.BeginSet(s, rd.Delimiters()); err != nil {
				var se *SetError
				if !errors.As(err, &se) {
					return err
				}
				if se.Control == "" {
					se.Control = s.Element(2)
				}
				rejected, setErr = true, err
			}
		default:
			return fail(s, "%s outside a transaction set", s.ID())
		}
	}
}
