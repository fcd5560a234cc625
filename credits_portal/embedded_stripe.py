"""localstripe for `make run` and `make test`, with its store where we say.

localstripe writes its whole store to the fixed path /tmp/localstripe.pickle after every change,
so a `make test` beside a `make run` (or two checkouts) would overwrite, or truncate, each other's
data. Here the store lives in the data folder (`--store PATH`, written atomically), or only in
memory (`--memory`, for tests: nothing to keep, and no pickling of the whole store per request).

    python -m credits_portal.embedded_stripe --port 8420 (--store PATH | --memory)
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path

from localstripe import resources, server


def _keep_in(path: Path) -> None:
    def load(store: resources.Store) -> None:
        try:
            with path.open("rb") as f:
                kept = pickle.load(f)  # noqa: S301  (our own file, written below)
        except FileNotFoundError:
            return
        except (EOFError, pickle.UnpicklingError):
            print(f"localstripe: {path} is unreadable; starting empty.", file=sys.stderr)
            return
        store.clear()
        store.update(kept)

    def dump(store: resources.Store) -> None:
        partial = path.with_suffix(".part")
        with partial.open("wb") as f:
            pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", type=Path)
    where.add_argument("--memory", action="store_true")
    args = parser.parse_args()
    if args.memory:
        resources.Store.try_load_from_disk = lambda store: None
        resources.Store.dump_to_disk = lambda store: None
    else:
        _keep_in(args.store)
    sys.argv = ["localstripe", "--port", str(args.port)]
    server.start()


if __name__ == "__main__":
    main()
