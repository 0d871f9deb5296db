"""Database plumbing: URL parsing, the one engine factory, the run_sync bridge."""
