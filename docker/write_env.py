"""Write docker/.env for the compose stack, every secret freshly generated.

    python3 docker/write_env.py            # then: docker compose -f docker/docker-compose.yml --env-file docker/.env up -d

It copies docker/.env.example, filling each empty password and secret with a new random
value: ``MB_EMBEDDING_SECRET_KEY`` as the 64 hexadecimal characters Metabase wants, the
others URL-safe (the CHM service puts its password in a URL) with at least one digit
(Metabase refuses an admin password without one). Other empty values stay empty.

An existing file is left alone unless ``--force`` is given: the database passwords in it are
the ones the postgres volume was initialised with, and new ones would lock CHM out of it.
Standard library only, so that it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import secrets
import string
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / ".env.example"
SECRET_NAME = re.compile(r"PASSWORD|SECRET")
HEX_SECRETS = {"MB_EMBEDDING_SECRET_KEY"}


def new_secret(name: str) -> str:
    if name in HEX_SECRETS:
        return secrets.token_hex(32)
    while True:
        value = secrets.token_urlsafe(32)
        if any(character in string.digits for character in value):
            return value


def filled(example: str) -> str:
    """The example's text with every empty secret value generated; the rest as it is."""
    lines = []
    for line in example.splitlines():
        name, equals, value = line.partition("=")
        comment = line.lstrip().startswith("#")
        if equals and not comment and not value.strip() and SECRET_NAME.search(name):
            line = f"{name}={new_secret(name.strip())}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=HERE / ".env")
    parser.add_argument("--force", action="store_true", help="Replace an existing file.")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        print(
            f"{args.output} exists; its passwords are the ones the database volume knows. "
            "Keep it, or pass --force (and remove the volumes) to start over.",
            file=sys.stderr,
        )
        return 1
    args.output.touch(mode=0o600)
    args.output.chmod(0o600)
    args.output.write_text(filled(EXAMPLE.read_text()))
    print(f"Wrote {args.output} with fresh secrets.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
