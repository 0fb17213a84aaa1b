"""The word that names the bundled model on the command line (`--checkpoint bundled`, `--load-from bundled`).

Apart from trainers/bundled.py, which imports torch, so that the command-line tools can use it in
their parsers and `--help` stays fast.
"""

BUNDLED = "bundled"
