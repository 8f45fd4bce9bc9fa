"""The package declares every function of include/bsnn.h exactly once, with
the header's argument and result types (parsed here from the header text,
independently of the package), and refuses wrong-sized integers."""
import ctypes
import re

import pytest

import bsnn
from bsnn import _lib
from conftest import HEADER

# C type (const and spaces removed) -> the ctypes type the declaration must use.
SCALARS = {
    "void": None, "int": ctypes.c_int, "unsigned": ctypes.c_uint, "size_t": ctypes.c_size_t,
    "uint64_t": ctypes.c_uint64, "double": ctypes.c_double, "float": ctypes.c_float,
}
CALLBACKS = {"bsnn_callback": _lib.callback, "bsnn_alloc_fn": _lib.alloc_fn,
             "bsnn_free_fn": _lib.free_fn, "bsnn_grad_hook": _lib.grad_hook}


def header_text():
    text = HEADER.read_text()
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def header_enums():
    return set(re.findall(r"typedef\s+enum\s+\w+\s*\{[^}]*\}\s*(\w+)\s*;", header_text()))


def header_declarations():
    """name -> (result C type, [argument C types]) of every BSNN_API line."""
    decls = {}
    for m in re.finditer(r"^BSNN_API\s+([^;]*?)\(([^;]*?)\)\s*;", header_text(), re.M | re.S):
        head, args = " ".join(m.group(1).split()), " ".join(m.group(2).split())
        hm = re.match(r"(.*?)\b(bsnn_\w+)$", head)
        assert hm, head
        result, name = hm.group(1), hm.group(2)
        arg_types = [] if args == "void" else [
            re.sub(r"\s*\b\w+$", "", a.strip()) if not a.strip().endswith("*") else a.strip()
            for a in args.split(",")]
        assert name not in decls, "declared twice in the header: " + name
        decls[name] = (result, arg_types)
    return decls


def expected_ctype(ctext, enums, as_argument):
    """The ctypes type a C type must be declared as."""
    t = ctext.replace("const", " ")
    stars = t.count("*")
    base = t.replace("*", " ").split()
    assert len(base) == 1, ctext
    base = base[0]
    if base == "char" and stars == 1:
        return ctypes.c_char_p
    if base == "void" and stars == 1:
        return ctypes.c_void_p
    if base == "void" and stars == 2:
        return ctypes.POINTER(ctypes.c_void_p)
    if base in CALLBACKS:
        assert stars == 0
        return CALLBACKS[base]
    if base in enums:
        ct = ctypes.c_int
    elif base in SCALARS:
        ct = SCALARS[base]
    else:
        assert base.startswith("bsnn_") and stars >= 1, ctext
        ct, stars = ctypes.POINTER(getattr(_lib, base)), stars - 1
    for _ in range(stars):
        ct = ctypes.POINTER(ct)
    if as_argument and ct in _lib.CHECKED:
        ct = _lib.CHECKED[ct]
    return ct


def test_declared_set_is_the_header_set():
    declared = [name for name, _, _ in _lib.FUNCTIONS]
    assert len(declared) == len(set(declared)), "a function is declared twice"
    assert set(declared) == set(header_declarations())


def test_every_signature_matches_the_header():
    enums = header_enums()
    assert len(enums) >= 25
    mismatches = []
    for name, (result, args) in header_declarations().items():
        fn = getattr(_lib.lib, name).raw
        want_res = expected_ctype(result, enums, as_argument=False)
        want_args = [expected_ctype(a, enums, as_argument=True) for a in args]
        if fn.restype is not want_res or list(fn.argtypes) != want_args:
            mismatches.append("%s: declared %s %s, header %s %s" % (
                name, fn.restype, fn.argtypes, want_res, want_args))
    assert not mismatches, "\n".join(mismatches)


def test_integer_arguments_out_of_range_are_refused_not_wrapped():
    # ctypes alone would pass -1 as SIZE_MAX and 2**64 as 0.
    with pytest.raises(bsnn.ArgumentError, match="bsnn_layer_dense.*-1 is out of range"):
        bsnn.Dense(-1)
    with pytest.raises(bsnn.ArgumentError, match="out of range"):
        bsnn.Scheduler(2 ** 64)
    with pytest.raises(bsnn.ArgumentError, match="out of range"):
        bsnn.Dataset.parity(2 ** 31)
    with pytest.raises(bsnn.ArgumentError, match="whole number"):
        bsnn.Dense(2.5)
    with bsnn.Model(2) as m:
        with pytest.raises(bsnn.ArgumentError, match="out of range"):
            m.seed = -1
        m.seed = 2 ** 64 - 1  # every uint64 value is reachable and exact
        assert m.seed == 2 ** 64 - 1


def test_a_handle_of_the_wrong_type_is_refused():
    with bsnn.Model(2) as m, bsnn.Dataset.parity(2) as ds:
        with pytest.raises(bsnn.ArgumentError, match="bsnn_model_n_inputs"):
            _lib.lib.bsnn_model_n_inputs(ds._p())
        assert _lib.lib.bsnn_model_n_inputs(m._p()) == 2


def test_the_library_loaded_is_the_one_the_version_check_accepted():
    assert bsnn.version() == bsnn.HEADER_VERSION[:2] + (bsnn.version()[2],)
    assert bsnn.version_string() == "%d.%d.%d" % bsnn.version()
