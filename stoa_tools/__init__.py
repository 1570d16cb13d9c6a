"""Command-line tools over the stoa.platform collection's libraries.

The collection's module_utils are the one implementation; these tools import
them from ./collections, where the repository keeps the collection.
"""
import sys
from pathlib import Path

_COLLECTIONS = Path(__file__).resolve().parent.parent / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.append(str(_COLLECTIONS))
