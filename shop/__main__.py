"""``python -m shop [--host H] [--port P] [--workers N]``: serve the reference API with uvicorn
against DBOPS_DB_URL / DATABASE_URL (run ``dbops upgrade`` first)."""
from __future__ import annotations

import argparse

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shop", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run("shop.api:create_app", factory=True, host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    main()
