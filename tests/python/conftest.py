"""Shared setup of the Python package's tests (pytest, Debian's python3).

The package under test is whatever `import bsnn` finds: the source tree
(make test-python sets PYTHONPATH=examples/python and BSNN_LIBRARY to the
built library) or an installed copy (.ci/run). BSNN_EXPECT_PACKAGE and
BSNN_EXPECT_LIBRARY, when set, make the run fail unless the package and the
library loaded are those paths, so a run never tests something else than it
claims. numpy and pytest are imported unconditionally: missing, they fail
the run, never skip it.
"""
import os
import sys
from pathlib import Path

import numpy  # noqa: F401  (a missing numpy is a failure)
import pytest

import bsnn

REPO = Path(__file__).resolve().parents[2]
HEADER = REPO / "include" / "bsnn.h"
sys.path.append(str(REPO / "examples" / "python"))  # for gen_enums; never shadows bsnn


def pytest_report_header(config):
    return "bsnn package %s, library %s (%s)" % (os.path.dirname(bsnn.__file__),
                                                  bsnn.library_path, bsnn.version_string())


def pytest_sessionstart(session):
    want_pkg = os.environ.get("BSNN_EXPECT_PACKAGE")
    if want_pkg and Path(bsnn.__file__).resolve().parent != Path(want_pkg).resolve():
        raise pytest.UsageError("bsnn imported from %s, expected %s" % (bsnn.__file__, want_pkg))
    want_lib = os.environ.get("BSNN_EXPECT_LIBRARY")
    if want_lib:
        loaded = Path(loaded_library_file()).resolve()
        if loaded != Path(want_lib).resolve():
            raise pytest.UsageError("libbsnn loaded from %s, expected %s" % (loaded, want_lib))


def loaded_library_file():
    """The file the dynamic loader mapped for libbsnn (from /proc/self/maps)."""
    with open("/proc/self/maps") as f:
        for line in f:
            if "libbsnn.so" in line:
                return line.split()[-1]
    raise AssertionError("libbsnn is not mapped")


def child_env(**changes):
    """os.environ for a child interpreter that imports this same package
    (its folder first on PYTHONPATH); a change to None removes the name."""
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(bsnn.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


@pytest.fixture
def rng():
    return numpy.random.default_rng(12345)
