package pdltest

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/verdict-policy/verdict/pdl"
)

// reasonText words the reasons a rule is not covered.
var reasonText = map[string]string{
	ReasonNotReached:         "never reached",
	ReasonTargetNeverHeld:    "its target never held",
	ReasonConditionNeverHeld: "its condition never held",
}

// WriteText writes r for people: every case under its file, with what
// differs, the decision and, when kept, the trace of a failing one; then a
// summary and, when measured, the coverage.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	file := ""
	for i := range r.Cases {
		c := &r.Cases[i]
		if c.File != file {
			if file != "" {
				bw.WriteString("\n")
			}
			file = c.File
			fmt.Fprintf(bw, "%s\n", file)
		}
		if c.Passed() {
			fmt.Fprintf(bw, "  PASS  %s\n", c.Name)
			continue
		}
		fmt.Fprintf(bw, "  FAIL  %s\n", c.Name)
		fmt.Fprintf(bw, "        at %s:%d:%d\n", c.File, c.Line, c.Column)
		for _, m := range c.Mismatches {
			fmt.Fprintf(bw, "        %s: %s\n", m.Field, m.Message)
		}
		d := decisionOf(c.Decision)
		d.Trace = nil
		fmt.Fprintf(bw, "        got: %s\n", compact(d))
		if len(c.Decision.Trace) > 0 {
			bw.WriteString("        trace:\n")
			for _, st := range c.Decision.Trace {
				fmt.Fprintf(bw, "          %-9s  %s\n", st.Kind, stepText(st))
			}
		}
	}
	if len(r.Cases) > 0 {
		bw.WriteString("\n")
	}
	fmt.Fprintf(bw, "%d passed, %d failed", r.Passed, r.Failed)
	if r.Skipped > 0 {
		fmt.Fprintf(bw, ", %d skipped", r.Skipped)
	}
	fmt.Fprintf(bw, " in %s\n", plural(len(r.Files), "file", "files"))
	if r.Skipped > 0 && len(r.Cases) == 0 {
		bw.WriteString("no case matched --run\n")
	}
	if cov := r.Coverage; cov != nil {
		fmt.Fprintf(bw, "coverage: %d of %s fired (%.1f%%)\n", cov.Covered, plural(cov.Rules, "rule", "rules"), cov.Percent)
		for _, dc := range cov.Documents {
			name := strings.Join(dc.Sources, ", ")
			if dc.Vocabulary != "" {
				name += " (" + dc.Vocabulary + " vocabulary)"
			}
			fmt.Fprintf(bw, "  %s: %d of %s (%.1f%%)\n", name, dc.Covered, plural(dc.Rules, "rule", "rules"), dc.Percent)
			for _, u := range dc.Uncovered {
				fmt.Fprintf(bw, "    %s:%d:%d  rule %s (%s): %s\n", u.File, u.Line, u.Column, u.ID, u.Path, reasonText[u.Reason])
			}
		}
	}
	return bw.Flush()
}

// stepText words one explanation step.
func stepText(st pdl.Step) string {
	var b strings.Builder
	b.WriteString(st.Path)
	if st.Kind == "compare" {
		fmt.Fprintf(&b, ": %s %s %s, value ", st.Attribute, st.Operator, compact(st.Param))
		if st.Value == nil {
			b.WriteString("missing")
		} else {
			b.WriteString(compact(st.Value))
		}
	}
	b.WriteString(": ")
	b.WriteString(st.Result)
	if st.Detail != "" {
		fmt.Fprintf(&b, " (%s)", st.Detail)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
