"""Print what Python's safetensors reads from a file, as {key: {dtype, shape, hex}} JSON.

Usage: python read_safetensors.py FILE
"""

import json
import sys

from safetensors.torch import load_file

from describe import describe

print(json.dumps({k: describe(t) for k, t in load_file(sys.argv[1]).items()}))
