// Package rethink is the policy enforcement point of a reTHINK messaging
// node. It computes the messaging-node attribute vocabulary from a message
// (lazily, once per message), keeps the state that vocabulary needs (the
// registry cache and the address-allocation counts) in a State, decides the
// message against a compiled pdl document, applies the decision's
// obligations to it, and says whether to forward it or which error to
// answer the sender with. Enforcer is the Go API; Handler serves it over
// HTTP, and Door mounts that on Verdict's policy listener as the messages
// section of the configuration says. The section and the "rethink"
// attribute vocabulary of the policies section are registered with package
// config here.
package rethink

import (
	"slices"

	"github.com/verdict-policy/verdict/pdl"
)

// attributeNames lists every attribute a messaging-node document may test,
// sorted so that a look-up is a binary search. It holds the reTHINK
// vocabulary plus two extensions: msgDirection (ingress or egress) and
// isInterDomain (whether the message crosses a domain boundary).
var attributeNames = [...]string{
	"actType",
	"addrAllastMin",
	"auth",
	"bodyValue",
	"date",
	"domain",
	"domainRegistry",
	"dstHyperty",
	"dstRuntime",
	"dstSPDomain",
	"dstScheme",
	"dstUsername",
	"isInterDomain",
	"msgDirection",
	"msgFrom",
	"msgId",
	"msgTo",
	"msgType",
	"port",
	"resource",
	"srcHyperty",
	"srcIDP",
	"srcIDPDomain",
	"srcRuntime",
	"srcSPDomain",
	"srcScheme",
	"srcUsername",
	"time",
	"useSSL",
	"userRegistries",
	"valueAllocated",
	"valueDescriptor",
	"valueExpires",
	"valueNumber",
	"valueResources",
	"valueUser",
	"weekday",
}

// aliases maps the alternative spellings accepted in documents to the
// canonical attribute names.
var aliases = map[string]string{
	"valueAllocate": "valueAllocated",
}

// Attributes returns the names of the messaging-node vocabulary, sorted.
func Attributes() []string { return slices.Clone(attributeNames[:]) }

// IsAttribute reports whether name belongs to the messaging-node vocabulary.
// Aliases are not attributes; see Options.
func IsAttribute(name string) bool {
	_, found := slices.BinarySearch(attributeNames[:], name)
	return found
}

// Options returns the compile options for documents written against the
// messaging-node vocabulary: only its attribute names are accepted, and
// valueAllocate is read as valueAllocated.
func Options() pdl.Options {
	al := make(map[string]string, len(aliases))
	for k, v := range aliases {
		al[k] = v
	}
	return pdl.Options{Known: IsAttribute, Aliases: al}
}
