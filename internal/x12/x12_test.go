package x12

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// interchange writes an interchange with the given delimiters: segs are
// written with '*' between elements and ':' between components, then
// translated; after is what follows each terminator (a line break, say).
func interchange(elem, rep, comp, term byte, after, control string, groups ...[]string) string {
	var b strings.Builder
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }
	e := string(elem)
	isa := "ISA" + e + "00" + e + pad("", 10) + e + "00" + e + pad("", 10) + e + "ZZ" + e + pad("PAYER", 15) + e + "ZZ" + e +
		pad("PROVIDER", 15) + e + "261130" + e + "1200" + e + string(rep) + e + "00501" + e + control + e + "0" + e + "P" + e + string(comp) + string(term)
	b.WriteString(isa + after)
	seg := func(s string) {
		s = strings.NewReplacer("*", e, ":", string(comp)).Replace(s)
		b.WriteString(s + string(term) + after)
	}
	for g, sets := range groups {
		seg(fmt.Sprintf("GS*HP*PAYER*PROVIDER*20261130*1200*%d*X*005010X221A1", g+1))
		for _, set := range sets {
			for _, s := range strings.Split(set, "~") {
				if s != "" {
					seg(s)
				}
			}
		}
		seg(fmt.Sprintf("GE*%d*%d", len(sets), g+1))
	}
	seg(fmt.Sprintf("IEA*%d*%s", len(groups), control))
	return b.String()
}

// set writes a transaction set around body segments, its SE count right
// unless count is given.
func set(typ, control string, body []string, count ...int) string {
	n := len(body) + 2
	if len(count) > 0 {
		n = count[0]
	}
	return fmt.Sprintf("ST*%s*%s~%s~SE*%d*%s", typ, control, strings.Join(body, "~"), n, control)
}

// recorder keeps what Walk hands it.
type recorder struct {
	sets   []string // "control: ID ID ... => ok|error"
	cur    []string
	delims []Delimiters
	refuse string // a set type to reject at BeginSet
}

func (r *recorder) BeginSet(st Segment, d Delimiters) error {
	r.cur = []string{st.Element(2) + ":"}
	r.delims = append(r.delims, d)
	if st.Element(1) == r.refuse {
		return &SetError{Segment: st.Number, Control: st.Element(2), Msg: "not an 835"}
	}
	return nil
}

func (r *recorder) SetSegment(s Segment) error {
	r.cur = append(r.cur, strings.Join(s.Elements, "/"))
	return nil
}

func (r *recorder) EndSet(err error) error {
	res := "ok"
	if err != nil {
		var se *SetError
		if !errors.As(err, &se) {
			return fmt.Errorf("EndSet got %T", err)
		}
		res = "rejected: " + se.Msg
	}
	r.sets = append(r.sets, strings.Join(r.cur, " ")+" => "+res)
	return nil
}

var body = []string{"BPR*I*100*C*ACH", "TRN*1*12345*1512345678", "CLP*CLAIM1*1*150*100**12*PAYERCTL", "SVC*HC:99213*150*100"}

func TestWalkReadsDelimitersFromEachISA(t *testing.T) {
	file := interchange('*', '^', ':', '~', "\n", "000000001", []string{set("835", "0001", body)}) +
		interchange('|', '!', '>', '\n', "", "000000002", []string{set("835", "0002", body[:2]), set("835", "0003", body[2:])}) +
		interchange('^', '{', '\\', '~', "\r\n", "000000003", []string{set("835", "0004", body[3:])}, []string{set("835", "0005", body[:1])})
	var r recorder
	if err := Walk(strings.NewReader("  \r\n"+file), &r); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0001: BPR/I/100/C/ACH TRN/1/12345/1512345678 CLP/CLAIM1/1/150/100//12/PAYERCTL SVC/HC:99213/150/100 => ok",
		"0002: BPR/I/100/C/ACH TRN/1/12345/1512345678 => ok",
		"0003: CLP/CLAIM1/1/150/100//12/PAYERCTL SVC/HC>99213/150/100 => ok",
		"0004: SVC/HC\\99213/150/100 => ok",
		"0005: BPR/I/100/C/ACH => ok",
	}
	if strings.Join(r.sets, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sets:\n%s\nwant\n%s", strings.Join(r.sets, "\n"), strings.Join(want, "\n"))
	}
	if d := r.delims[1]; d != (Delimiters{Element: '|', Repetition: '!', Component: '>', Segment: '\n'}) {
		t.Fatalf("second interchange's delimiters %+v", d)
	}
	if got := r.delims[3].Components("HC\\99213\\25"); strings.Join(got, ",") != "HC,99213,25" {
		t.Fatalf("components %q", got)
	}
}

func TestWalkRejectsASetAloneOrTheWholeFile(t *testing.T) {
	good := set("835", "0001", body)
	for _, tc := range []struct {
		name, file string
		sets       []string // the sets' outcomes, when the walk goes on
		syntax     string   // the *SyntaxError, when it stops
		segment    int
	}{
		{name: "wrong SE count", file: interchange('*', '^', ':', '~', "", "000000001", []string{set("835", "0001", body, 9), set("835", "0002", body[:1])}),
			sets: []string{"rejected: SE01 says 9 segments, the set has 6", "ok"}},
		{name: "SE closes another set", file: interchange('*', '^', ':', '~', "", "000000001",
			[]string{strings.Replace(good, "SE*6*0001", "SE*6*0009", 1)}), sets: []string{`rejected: SE02 "0009" does not close ST02 "0001"`}},
		{name: "not an 835", file: interchange('*', '^', ':', '~', "", "000000001", []string{set("837", "0001", body), good}),
			sets: []string{"rejected: not an 835", "ok"}},
		{name: "IEA control", file: strings.Replace(interchange('*', '^', ':', '~', "", "000000001", []string{good}), "IEA*1*000000001", "IEA*1*000000002", 1),
			syntax: `IEA02 "000000002" does not close ISA13 "000000001"`, segment: 10},
		{name: "GE count", file: strings.Replace(interchange('*', '^', ':', '~', "", "000000001", []string{good}), "GE*1*1", "GE*2*1", 1),
			syntax: "GE01 says 2 transaction sets, the group has 1", segment: 9},
		{name: "broken ISA", file: strings.Replace(interchange('*', '^', ':', '~', "", "000000001", []string{good}), "*ZZ*PAYER ", "*ZZ*PAYER", 1),
			syntax: "ISA06 is 14 characters, want 15", segment: 1},
		{name: "not X12", file: "payer,cpt\nAetna,99213\n", syntax: "must start with an ISA segment", segment: 1},
		{name: "empty", file: " \n", syntax: "empty file", segment: 1},
		{name: "truncated mid-segment", file: interchange('*', '^', ':', '~', "", "000000001", []string{good})[:200], syntax: "truncated"},
		{name: "truncated interchange", file: strings.Split(interchange('*', '^', ':', '~', "", "000000001", []string{good}), "IEA")[0],
			syntax: "truncated: interchange 000000001 has no IEA"},
		{name: "GE inside a set", file: interchange('*', '^', ':', '~', "", "000000001", []string{"ST*835*0001~BPR*I"}), syntax: "GE inside transaction set 0001"},
		{name: "NUL byte", file: strings.Replace(interchange('*', '^', ':', '~', "", "000000001", []string{good}), "ACH", "A\x00H", 1),
			syntax: "NUL byte", segment: 4},
		{name: "invalid UTF-8", file: strings.Replace(interchange('*', '^', ':', '~', "", "000000001", []string{good}), "ACH", "A\xffH", 1),
			syntax: "not valid UTF-8", segment: 4},
		{name: "oversized segment", file: strings.Replace(interchange('*', '^', ':', '~', "", "000000001", []string{good}), "ACH", strings.Repeat("A", MaxSegmentBytes), 1),
			syntax: "longer than 65536 bytes", segment: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r recorder
			r.refuse = "837"
			err := Walk(strings.NewReader(tc.file), &r)
			if tc.syntax == "" {
				if err != nil {
					t.Fatal(err)
				}
				var outcomes []string
				for _, s := range r.sets {
					outcomes = append(outcomes, s[strings.Index(s, "=> ")+3:])
				}
				if strings.Join(outcomes, "|") != strings.Join(tc.sets, "|") {
					t.Fatalf("sets %q, want %q", outcomes, tc.sets)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(se.Msg, tc.syntax) || (tc.segment > 0 && se.Segment != tc.segment) {
				t.Fatalf("error %v, want a syntax error at segment %d saying %q", err, tc.segment, tc.syntax)
			}
		})
	}
}

// No input makes the reader panic, loop or hold more than a segment: every
// error is a *SyntaxError, and segments come out bounded.
func FuzzWalk(f *testing.F) {
	f.Add(interchange('*', '^', ':', '~', "\n", "000000001", []string{set("835", "0001", body)}))
	f.Add(interchange('|', '!', '>', '\n', "", "000000002", []string{set("835", "0002", body[:2])}))
	f.Add("ISA*00*")
	f.Fuzz(func(t *testing.T, in string) {
		var r recorder
		err := Walk(strings.NewReader(in), &r)
		if err != nil && !errors.As(err, new(*SyntaxError)) {
			t.Fatalf("%T: %v", err, err)
		}
		for _, s := range r.sets {
			if len(s) > 8*MaxSegmentBytes+len(in) {
				t.Fatalf("a set of %d bytes from %d of input", len(s), len(in))
			}
		}
	})
}
