"""`python -m mvt infer ...` / `python -m mvt info MODEL`: see mvt/cli.py."""
import sys

from mvt.cli import main

if __name__ == "__main__":
    sys.exit(main())
