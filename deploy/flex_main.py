"""The Flex Template's launch file: ``c4 build`` flags in, a Dataflow job out (no waiting).

Dataflow's launcher runs ``python flex_main.py --input ... --output ... --project ...`` with the
template's parameters and the job options; ``pipeline.cloud.submit.launch_template`` does the rest.
"""

import sys

from pipeline.cloud.submit import launch_template

if __name__ == "__main__":
    launch_template(sys.argv[1:])
