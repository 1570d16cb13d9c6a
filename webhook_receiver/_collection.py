"""Puts ./collections on sys.path: the collection's module_utils are the one implementation of
Vault references and GitOps YAML, and the receiver imports them from there (as stoa_tools does)."""
import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parent.parent / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.append(str(COLLECTIONS))
