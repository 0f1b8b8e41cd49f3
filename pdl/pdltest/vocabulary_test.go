package pdltest

// The tests compile documents written against the reTHINK vocabulary,
// which its package registers with config when it is linked.
import _ "github.com/verdict-policy/verdict/rethink"
