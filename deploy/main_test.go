package deploy

import (
	"os"
	"testing"

	"github.com/verdict-policy/verdict/internal/processtest"
)

// verdict is the binary the tests run, built once.
var verdict processtest.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	verdict.Remove()
	os.Exit(code)
}
