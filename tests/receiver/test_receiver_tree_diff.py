"""tree_diff.tree_changes gives libgit2's diff (pygit2 ``Repository.diff``, default options), on generated trees.

Routing used libgit2's diff before; tree_changes reads only the bytes where two trees differ, so these tests aim
at what that could get wrong: entries at the start, middle and end of big trees, object ids holding NUL bytes
(an entry start cannot be found by reading backwards), names that sort around a folder's (``a``, ``a.b``,
``a-b``, ``a/``), files turned into folders or symbolic links, executable bits, unicode and spaces."""
from __future__ import annotations

import random

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook_receiver.routing.tree_diff import RawTrees, tree_changes

NAMES = ["a", "a.b", "a-b", "a b", "a0", "ab", "b", "é", "api", "api.yaml", "apis", "z"]
FILE_MODES = [pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE, pygit2.enums.FileMode.LINK]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return pygit2.init_repository(str(tmp_path_factory.mktemp("trees") / "t.git"), bare=True)


_written: dict = {}  # ("tree" or "blob", repository path, spec or text) -> id: generated trees share most objects


def write_tree(repo, spec: dict) -> pygit2.Oid:
    """``spec``: name -> (mode, text) for a file, or name -> dict for a folder (an empty folder is left out, as
    Git cannot store one)."""
    key = ("tree", repo.path, repr(sorted(spec.items())))
    if key not in _written:
        builder = repo.TreeBuilder()
        for name, value in spec.items():
            if isinstance(value, dict):
                if value:
                    builder.insert(name, write_tree(repo, value), pygit2.enums.FileMode.TREE)
            else:
                mode, text = value
                blob = _written.get(("blob", repo.path, text))
                if blob is None:
                    blob = _written[("blob", repo.path, text)] = repo.create_blob(text.encode())
                builder.insert(name, blob, mode)
        _written[key] = builder.write()
    return _written[key]


def libgit2_changes(repo, old: pygit2.Oid, new: pygit2.Oid) -> list[tuple[str, str]]:
    diff = repo.diff(repo[old], repo[new])
    return [(d.status_char(), (d.old_file if d.status_char() == "D" else d.new_file).path) for d in diff.deltas]


files = st.tuples(st.sampled_from(FILE_MODES), st.sampled_from(["x", "y", "z\n", ""]))
specs = st.recursive(st.dictionaries(st.sampled_from(NAMES), files, max_size=6),
                     lambda children: st.dictionaries(st.sampled_from(NAMES), files | children, max_size=6),
                     max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=specs, new=specs)
def test_small_trees_give_libgit2s_changes(repo, old, new):
    old_id, new_id = write_tree(repo, old), write_tree(repo, new)
    assert tree_changes(repo, old_id, new_id) == libgit2_changes(repo, old_id, new_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 6))
def test_big_folders_edited_anywhere_give_libgit2s_changes(repo, seed, edits):
    """1,500 APIs in one folder (as the benchmark's 4,000): a few edits at random places, some at either end,
    each one of: a changed file, a removed or added API, a file made a folder, a mode change."""
    rng = random.Random(seed)
    apis = {f"api-{n:04d}": {"api.yaml": (pygit2.enums.FileMode.BLOB, f"name: {n}\n"),
                             "openapi.yaml": (pygit2.enums.FileMode.BLOB, f"v: {n}\n")} for n in range(1500)}
    changed = {name: dict(files) for name, files in apis.items()}
    names = sorted(apis)

    def folder(name: str) -> dict:
        if not isinstance(changed.get(name), dict):
            changed[name] = {}
        return changed[name]

    for _ in range(edits):
        name = rng.choice([names[0], names[-1], rng.choice(names)])
        kind = rng.randrange(5)
        if kind == 0:
            folder(name)["openapi.yaml"] = (pygit2.enums.FileMode.BLOB, f"v: {rng.random()}\n")
        elif kind == 1:
            changed.pop(name, None)
        elif kind == 2:
            changed[f"{name}-new"] = {"api.yaml": (pygit2.enums.FileMode.BLOB, "new\n")}
        elif kind == 3:
            changed[name] = (pygit2.enums.FileMode.BLOB, "now a file\n")
        else:
            folder(name)["api.yaml"] = (pygit2.enums.FileMode.BLOB_EXECUTABLE, f"name: {name}\n")
    cache = RawTrees()
    old_id = write_tree(repo, {"tenants": {"t": {"apis": apis}}, "iam": {"tenants.yaml": (0o100644, "t\n")}})
    new_id = write_tree(repo, {"tenants": {"t": {"apis": changed}}, "iam": {"tenants.yaml": (0o100644, "t\n")}})
    expected = libgit2_changes(repo, old_id, new_id)
    assert tree_changes(repo, old_id, new_id, cache) == expected
    assert tree_changes(repo, old_id, new_id, cache) == expected, "the same from cached trees"
    assert tree_changes(repo, new_id, old_id) == libgit2_changes(repo, new_id, old_id)


def test_object_ids_holding_nul_bytes_before_the_change_do_not_mislead_the_entry_start(repo):
    """Entries whose object id has NUL bytes just before the changed entry: the reading must still start at a real
    entry (proven by the tree's own lookup), or at the first one."""
    texts, n = [], 0
    while len(texts) < 40:  # blobs whose ids contain a NUL byte
        text = f"content {n}\n"
        if b"\0" in repo.create_blob(text.encode()).raw:
            texts.append(text)
        n += 1
    old = {f"f{i:03d}": (pygit2.enums.FileMode.BLOB, text) for i, text in enumerate(texts)}
    for victim in ("f000", "f020", "f039"):
        new = dict(old, **{victim: (pygit2.enums.FileMode.BLOB, "changed\n")})
        old_id, new_id = write_tree(repo, old), write_tree(repo, new)
        assert tree_changes(repo, old_id, new_id) == [("M", victim)] == libgit2_changes(repo, old_id, new_id)


def test_entry_bytes_inside_a_name_are_not_taken_for_an_entry_start(repo):
    """The name ``a 100644 b`` holds the bytes of an entry ``b`` when ``b`` has the same content; with a NUL at the
    right place of the id before it, that spot looks like an entry start that the tree's lookup confirms. Such bytes
    occur twice in the tree (there and at ``b`` itself), so the spot is refused and the change is read right."""
    n = 0
    while pygit2.hash(f"filler {n}\n".encode()).raw[8] != 0:  # the id of "a" has a NUL 12 bytes before the trap
        n += 1
    filler, blob = (pygit2.enums.FileMode.BLOB, f"filler {n}\n"), pygit2.enums.FileMode.BLOB
    old = {"a": filler, "a 100644 b": (blob, "same\n"), "b": (blob, "same\n")}
    new = dict(old, **{"a 100644 b": (blob, "changed\n")})
    old_id, new_id = write_tree(repo, old), write_tree(repo, new)
    raw = repo.odb.read(old_id)[1]
    trap = raw.index(b"100644 b\0")
    assert raw[trap - 21] == 0, "the trap is set: a NUL where a name would end"
    assert tree_changes(repo, old_id, new_id) == [("M", "a 100644 b")] == libgit2_changes(repo, old_id, new_id)


def test_an_entry_written_with_another_mode_field_does_not_make_a_false_start_unique(repo):
    """Found by a tester: ``p 040000 sub`` holds the bytes ``040000 sub\\0<id>``, which read as the folder ``sub``
    (same id) although ``sub`` itself is written ``40000 sub``; and a legacy mode (``100664``, reported as 100644)
    makes ``100644 b`` occur only inside ``a 100644 b``. Whole-entry uniqueness accepted both false starts and
    credited the change to the wrong name; the `` <name>\\0<id>`` part occurs twice in both, so they are refused."""
    n = 0
    while pygit2.hash(f"filler {n}\n".encode()).raw[7] != 0:  # a NUL 21 bytes before "040000 sub" in the next name
        n += 1
    filler = (pygit2.enums.FileMode.BLOB, f"filler {n}\n")
    sub, sub2 = {"f": (pygit2.enums.FileMode.BLOB, "one\n")}, {"f": (pygit2.enums.FileMode.BLOB, "two\n")}
    old_id = write_tree(repo, {"a": filler, "p 040000 sub": sub, "sub": sub})
    new_id = write_tree(repo, {"a": filler, "p 040000 sub": sub2, "sub": sub})
    raw = repo.odb.read(old_id)[1]
    assert raw[raw.index(b"040000 sub") - 21] == 0, "the trap is set"
    assert tree_changes(repo, old_id, new_id) == [("M", "p 040000 sub/f")] == libgit2_changes(repo, old_id, new_id)

    while pygit2.hash(f"filler {n}\n".encode()).raw[8] != 0:
        n += 1
    filler_id = repo.create_blob(f"filler {n}\n".encode()).raw
    same, changed = repo.create_blob(b"same\n").raw, repo.create_blob(b"changed\n").raw
    tree = pygit2.enums.ObjectType.TREE
    old_id = repo.odb.write(tree, b"100644 a\0" + filler_id + b"100644 a 100644 b\0" + same + b"100664 b\0" + same)
    new_id = repo.odb.write(tree, b"100644 a\0" + filler_id + b"100644 a 100644 b\0" + changed + b"100664 b\0" + same)
    assert tree_changes(repo, old_id, new_id) == [("M", "a 100644 b")] == libgit2_changes(repo, old_id, new_id)


def test_the_tree_cache_keeps_to_its_budget(repo):
    cache = RawTrees(budget=1000)
    ids = [write_tree(repo, {f"f{i}-{j}": (pygit2.enums.FileMode.BLOB, "x") for j in range(10)}) for i in range(20)]
    for oid in ids:
        assert cache.read(repo, oid) == repo[oid].read_raw()
    assert cache.size <= 1000 and len(cache._trees) < 20  # noqa: SLF001 - the bound under test
