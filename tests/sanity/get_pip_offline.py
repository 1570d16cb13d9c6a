"""Stand-in for the get-pip.py bootstrap that `ansible-test --venv` downloads.

ansible-test fetches get-pip.py from a CI host this machine cannot reach; the
Makefile's `sanity` target puts this file in ansible-test's cache instead,
beside a pip wheel downloaded from PyPI. It does what get-pip.py does: run
pip from the wheel to install the packages ansible-test asks for.
"""
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
wheels = sorted(glob.glob(os.path.join(HERE, "pip-*.whl")))
if not wheels:
    sys.exit("no pip wheel beside %s: run `make sanity`" % __file__)
sys.path.insert(0, wheels[-1])

from pip._internal.cli.main import main  # noqa: E402  (needs the wheel on sys.path)

# get-pip.py's own switches; pip itself does not know them.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", *args]))
