package server

import (
	"log/slog"

	"github.com/verdict-policy/verdict/config"
)

// Connection limits derived from the open-file limit.
const (
	// reservedFilesMin and reservedFilesShare set aside open files for
	// everything but the client connections: configuration and policy
	// files, watches, store and upstream pools, logs, refused
	// connections being answered. The larger of the two is kept.
	reservedFilesMin   = 256
	reservedFilesShare = 8 // one eighth
	// minDerivedConns is the least derived limit of a listener, however
	// low the open-file limit.
	minDerivedConns = 16
)

// listenerConns is the connection limit of each listener; 0 is none.
type listenerConns struct {
	policy, gateway, admin, grpc int
	// derived is true when at least one was derived from the open-file
	// limit rather than set in the configuration.
	derived bool
}

// connectionLimits returns each listener's connection limit: the one set
// under limits.<listener>.max_connections, or else a share of the
// open-file limit nofile. The admin listener keeps
// DefaultAdminConnections and a reserve of files is set aside for
// everything else, so that a flood of clients on the other listeners
// leaves the admin listener able to accept. What is left is shared
// between the policy listener, the gateway listener (a gateway connection
// counts twice: its request usually holds an upstream connection) and the
// gRPC listener, when they listen. An unknown open-file limit (0) derives
// no limit.
func connectionLimits(l config.Limits, nofile uint64, gateway, grpc bool) listenerConns {
	out := listenerConns{
		policy:  l.Policy.MaxConnections,
		gateway: l.Gateway.MaxConnections,
		admin:   l.Admin.MaxConnections,
		grpc:    l.GRPC.MaxConnections,
	}
	if out.admin == 0 {
		out.admin = config.DefaultAdminConnections
	}
	if nofile == 0 {
		return out
	}
	reserve := max(uint64(reservedFilesMin), nofile/reservedFilesShare)
	spare := uint64(0)
	if used := reserve + uint64(out.admin); nofile > used {
		spare = nofile - used
	}
	weights := uint64(1)
	if gateway {
		weights += 2
	}
	if grpc {
		weights++
	}
	share := int(min(spare/weights, config.MaxConnectionsLimit))
	share = max(share, minDerivedConns)
	for _, l := range []struct {
		n  *int
		on bool
	}{{&out.policy, true}, {&out.gateway, gateway}, {&out.grpc, grpc}} {
		if *l.n == 0 && l.on {
			*l.n, out.derived = share, true
		}
	}
	return out
}

// files returns how many open files the limits let clients take at most.
func (c listenerConns) files(gateway, grpc bool) uint64 {
	n := uint64(c.policy) + uint64(c.admin)
	if gateway {
		n += 2 * uint64(c.gateway)
	}
	if grpc {
		n += uint64(c.grpc)
	}
	return n
}

// logConnectionLimits reports the limits in force, and warns when those
// set in the configuration leave no room below the open-file limit: the
// process could then run out of files before a listener is full, and
// every listener, the admin one included, would stop accepting.
func logConnectionLimits(logger *slog.Logger, c listenerConns, nofile uint64, gateway, grpc bool) {
	attrs := []any{"open_file_limit", nofile, "policy", c.policy, "admin", c.admin}
	if gateway {
		attrs = append(attrs, "gateway", c.gateway)
	}
	if grpc {
		attrs = append(attrs, "grpc", c.grpc)
	}
	logger.Info("connection limits", attrs...)
	if nofile == 0 {
		return
	}
	if need := c.files(gateway, grpc) + reservedFilesMin; need > nofile {
		logger.Warn("the connection limits add up to more open files than the process may have; "+
			"lower limits.*.max_connections or raise the open-file limit (ulimit -n)",
			"open_files_needed", need, "open_file_limit", nofile)
	}
}
