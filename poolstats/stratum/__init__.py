"""The Stratum V1 front end: jobs, share checks, sessions and the server."""
