"""dbops plan: what pending revisions will do to the live database (locks, rewrites, sizes, blockers)."""
