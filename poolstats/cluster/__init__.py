"""The cluster roles: gateway, aggregator, jobs; and the leases that keep one of each active."""
