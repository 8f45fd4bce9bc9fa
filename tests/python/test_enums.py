"""The IntEnums are the header's enums: the committed module is what
gen_enums.py makes of include/bsnn.h today, and, checked by a separate
reading of the header, every BSNN_* = N value is a member with that value.
Also the version rule that guards the library a package loads."""
import re

import pytest

import bsnn
import gen_enums
from bsnn import _enums, _lib
from conftest import HEADER, REPO


def test_committed_module_is_what_the_generator_makes_of_the_header():
    committed = (REPO / "examples" / "python" / "bsnn" / "_enums.py").read_text()
    assert committed == gen_enums.generate(str(HEADER)), (
        "examples/python/bsnn/_enums.py is stale: run make python-enums")


def test_the_module_the_package_imported_is_the_committed_one():
    # (for an installed package: it was installed from this tree)
    committed = (REPO / "examples" / "python" / "bsnn" / "_enums.py").read_text()
    with open(_enums.__file__) as f:
        assert f.read() == committed


def test_every_header_enum_value_is_a_member_with_that_value():
    text = re.sub(r"/\*.*?\*/", " ", HEADER.read_text(), flags=re.S)
    blocks = re.findall(r"typedef\s+enum\s+(\w+)\s*\{([^}]*)\}", text)
    assert len(blocks) == len(_enums.C_NAMES)
    for cname, body in blocks:
        cls = _enums.C_NAMES[cname]
        pairs = re.findall(r"(BSNN_\w+)\s*=\s*(-?\d+)", body)
        assert pairs and len(pairs) == len(cls.__members__), cname
        for cmember, value in pairs:
            short = [m for m in cls if cmember.endswith("_" + m.name) or cmember == "BSNN_" + m.name]
            assert any(int(m) == int(value) for m in short), "%s = %s" % (cmember, value)


def test_version_and_rank_are_the_header_defines():
    text = HEADER.read_text()
    got = tuple(int(re.search(r"#define BSNN_VERSION_%s (\d+)" % k, text).group(1))
                for k in ("MAJOR", "MINOR", "PATCH"))
    assert bsnn.HEADER_VERSION == got
    assert _enums.MAX_RANK == int(re.search(r"#define BSNN_MAX_RANK (\d+)", text).group(1))


def test_the_generator_refuses_an_enum_its_table_lacks():
    text = HEADER.read_text() + "\ntypedef enum bsnn_new_thing { BSNN_NEW_A = 1 } bsnn_new_thing;\n"
    enums, defines = gen_enums.parse_header(text)
    with pytest.raises(SystemExit, match="bsnn_new_thing"):
        gen_enums.render(enums, defines)


def test_the_generator_reads_negative_values_and_trailing_comments():
    enums, _ = gen_enums.parse_header(
        "typedef enum bsnn_x {\n    BSNN_X_A = -3, /* a, b */\n    /* own line */\n"
        "    BSNN_X_B = 4  /* last,\n  continued */\n} bsnn_x;\n"
        "#define BSNN_VERSION_MAJOR 1\n#define BSNN_VERSION_MINOR 2\n"
        "#define BSNN_VERSION_PATCH 3\n#define BSNN_MAX_RANK 4\n")
    assert enums == [("bsnn_x", [("BSNN_X_A", -3, "a, b"), ("BSNN_X_B", 4, "last, continued")])]


@pytest.mark.parametrize("found, wanted, ok", [
    ((0, 3, 0), (0, 3, 0), True),
    ((0, 3, 7), (0, 3, 1), True),      # patch levels do not matter
    ((0, 2, 9), (0, 3, 0), False),     # older minor: functions missing
    ((0, 4, 0), (0, 3, 0), False),     # 0.x: another minor may change signatures
    ((1, 0, 0), (0, 3, 0), False),     # another major
    ((1, 5, 0), (1, 3, 0), True),      # from 1.0 a newer minor only adds
    ((1, 2, 0), (1, 3, 0), False),
    ((2, 3, 0), (1, 3, 0), False),
])
def test_version_rule(found, wanted, ok):
    if ok:
        _lib.check_version(found, wanted)
    else:
        with pytest.raises(bsnn.VersionError, match="this package was written for %d.%d"
                           % wanted[:2]):
            _lib.check_version(found, wanted)


def test_version_error_names_the_library_and_both_versions():
    with pytest.raises(ImportError) as e:
        _lib.check_version((0, 1, 4), (0, 3, 0), where="/x/libbsnn.so.0")
    msg = str(e.value)
    assert "/x/libbsnn.so.0 is version 0.1.4" in msg and "0.3" in msg and "BSNN_LIBRARY" in msg
