package gateway

// Description is what an installed configuration amounts to: each
// service with its hosts, upstream and composed chain. It serves
// `verdict check --explain`, logs and golden tests.
type Description struct {
	// Global lists the global chain's policies.
	Global []string `json:"global"`
	// Services lists the services in configuration order.
	Services []ServiceDescription `json:"services"`
}

// ServiceDescription describes one service.
type ServiceDescription struct {
	ID    string   `json:"id"`
	Hosts []string `json:"hosts"`
	// APIBackend is the service's api_backend, "" when it has none.
	APIBackend string `json:"api_backend"`
	// Chain lists the policies each request of the service runs through:
	// the global chain with the service's chain inside, in order.
	Chain []string `json:"chain"`
	// MappingRules counts the service's mapping rules.
	MappingRules int `json:"mapping_rules"`
	// FailStatus answers a request whose policy fails.
	FailStatus int `json:"fail_status"`
}

// Describe describes the installed configuration.
func (g *Gateway) Describe() Description {
	st := g.state.Load()
	d := Description{Global: st.global.Names(), Services: []ServiceDescription{}}
	for _, s := range st.services {
		d.Services = append(d.Services, ServiceDescription{
			ID: s.id, Hosts: s.cfg.Hosts, APIBackend: s.cfg.APIBackend, Chain: s.chain.Names(),
			MappingRules: len(s.cfg.Rules), FailStatus: s.chain.FailStatus(),
		})
	}
	return d
}
