package apicast

import (
	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/config"
)

func chainEnv(svc *config.Service) chain.Env {
	if svc == nil {
		return chain.Env{}
	}
	return chain.Env{Service: svc}
}
