// Package pdl is Verdict's policy description language: reTHINK's JSON
// policy language (JACPoL) with its documented semantics, written in JSON
// or YAML, and the engine that decides requests against it.
//
// It owns parsing (every load error carries the file, line, column and
// JSON path of the element), compiling a document once into closures with
// its equality targets indexed, deciding (policy sets, policies and rules
// combined by blockOverrides, allowOverrides or firstApplicable), the
// obligations and advice of a decision with their Liquid templates, and
// explain traces and rule coverage. A compiled Document is immutable and
// safe for concurrent use; Decide allocates nothing for a plain decision.
//
// It leaves to others what the attributes mean and where documents come
// from: each front door (pexip, rethink, pdp, authz, the gateway's
// authorize policy) implements Attributes over its own input and carries
// out the obligations it understands; package config names the documents
// of a configuration file and the attribute vocabulary each is checked
// against (Options); pdltest runs test files of cases against a document.
// It knows nothing of HTTP, Pexip or reTHINK.
package pdl
