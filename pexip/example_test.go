package pexip_test

import (
	"fmt"

	"github.com/verdict-policy/verdict/pexip"
)

func ExampleNormalizeAlias() {
	for _, s := range []string{"my-vmr-x", "sip:my-vmr-x@Example.com;transport=tls", "sip%3Amy-vmr-x%40example.com", "h323:65432"} {
		a := pexip.NormalizeAlias(s)
		fmt.Printf("%s -> user %q, domain %q\n", s, a.User, a.Domain)
	}
	// Output:
	// my-vmr-x -> user "my-vmr-x", domain ""
	// sip:my-vmr-x@Example.com;transport=tls -> user "my-vmr-x", domain "example.com"
	// sip%3Amy-vmr-x%40example.com -> user "my-vmr-x", domain "example.com"
	// h323:65432 -> user "65432", domain ""
}
