"""How the package finds libbsnn (BSNN_LIBRARY, the installed LIBDIR, the
SONAME, find_library) and what it refuses: a missing library, a library of
another version (a stand-in built here), one missing a function."""
import os
import subprocess
import sys

import pytest

import bsnn
from bsnn import _install, _lib
from conftest import child_env, loaded_library_file


def import_bsnn(env_changes, tmp_path):
    env = child_env(**env_changes)
    code = "import bsnn; print(bsnn.library_path, bsnn.version_string())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=60)


def fake_library(tmp_path, version_number, name="libbsnn.so.0"):
    src = tmp_path / "fake.c"
    src.write_text("unsigned bsnn_version(void) { return %du; }\n" % version_number)
    out = tmp_path / name
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return out


def test_lookup_order(monkeypatch):
    monkeypatch.setenv("BSNN_LIBRARY", "/x/libbsnn.so.0")
    assert _lib._candidates() == [("BSNN_LIBRARY", "/x/libbsnn.so.0")]  # nothing after it
    monkeypatch.delenv("BSNN_LIBRARY")
    monkeypatch.setattr(_install, "LIBDIR", "/opt/bsnn/lib")
    got = _lib._candidates()
    assert got[0] == ("installed", "/opt/bsnn/lib/" + _lib.SONAME)
    assert got[1] == ("SONAME", "libbsnn.so.%d" % bsnn.HEADER_VERSION[0])
    assert all(how == "find_library" for how, _ in got[2:])
    monkeypatch.setattr(_install, "LIBDIR", None)
    assert _lib._candidates()[0][0] == "SONAME"


def test_a_missing_override_is_an_import_error(tmp_path):
    r = import_bsnn({"BSNN_LIBRARY": str(tmp_path / "nowhere.so")}, tmp_path)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "nowhere.so" in r.stderr and "BSNN_LIBRARY" in r.stderr


def test_another_version_is_refused(tmp_path):
    lib = fake_library(tmp_path, 100)  # 0.1.0
    r = import_bsnn({"BSNN_LIBRARY": str(lib)}, tmp_path)
    assert r.returncode != 0 and "VersionError" in r.stderr
    assert "is version 0.1.0" in r.stderr
    assert "written for %d.%d" % bsnn.HEADER_VERSION[:2] in r.stderr


def test_a_library_missing_a_function_is_refused(tmp_path):
    major, minor, patch = bsnn.HEADER_VERSION
    lib = fake_library(tmp_path, major * 10000 + minor * 100 + patch)
    r = import_bsnn({"BSNN_LIBRARY": str(lib)}, tmp_path)
    assert r.returncode != 0 and "lacks bsnn_version_string" in r.stderr


def test_the_soname_is_found_through_the_loader_path(tmp_path):
    loaded = loaded_library_file()
    libdir = os.path.dirname(loaded)
    if not os.path.exists(os.path.join(libdir, _lib.SONAME)):
        pytest.fail("no %s next to %s" % (_lib.SONAME, loaded))
    r = import_bsnn({"BSNN_LIBRARY": None, "LD_LIBRARY_PATH": libdir}, tmp_path)
    assert r.returncode == 0, r.stderr
    path, version = r.stdout.split()
    assert version == bsnn.version_string()
    assert path in (_lib.SONAME, os.path.join(_install.LIBDIR or "", _lib.SONAME))
