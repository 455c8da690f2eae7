"""``python -m dispatch.mdvsp INSTANCE -o OUT``: solve one multi-depot vehicle scheduling benchmark instance."""

import argparse
import sys

from dispatch.mdvsp.inp import main

parser = argparse.ArgumentParser(prog="python -m dispatch.mdvsp", description=__doc__)
parser.add_argument("instance", help="an .inp or .inp.gz file")
parser.add_argument("-o", "--output", required=True, help="where to write the answer (JSON)")
parser.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
sys.exit(main(args.instance, args.output, args.time_limit, args.seed))
