"""Search: the batch-size search (bsnn_search), run or sweep."""
import ctypes

import numpy as np

from ._convert import enum_value, path, sizes
from ._enums import SearchBudget, SearchCol, SearchMetric, SearchParam
from ._handle import Handle, Settings, bounds_of
from ._lib import check, lib, made
from .dataset import coerce


class Search(Handle, Settings):
    """Trains a model from the same start at several batch sizes and keeps
    the best by a validation metric. Keywords set SearchParam settings by
    name: Search(start=64, budget_kind="epochs", budget=3,
    metric="val_accuracy", seed=1, memory_budget=2**26). The model's
    parameters are restored after a run or sweep."""

    _free_name = "bsnn_search_free"
    _params = SearchParam
    _set_name, _get_name = "bsnn_search_set", "bsnn_search_get"
    _enum_valued = {SearchParam.BUDGET_KIND: SearchBudget, SearchParam.METRIC: SearchMetric}
    _typed = {
        SearchParam.SEED: ("bsnn_search_set_seed", "bsnn_search_get_seed", ctypes.c_uint64),
        SearchParam.MEMORY_BUDGET: ("bsnn_search_set_memory_budget",
                                    "bsnn_search_get_memory_budget", ctypes.c_size_t),
    }

    def __init__(self, **settings):
        self._own(made(lib.bsnn_search_create()))
        self.configure(**settings)

    def bounds(self, param):
        return bounds_of(lib.bsnn_search_bounds, self._p(), self._param(param))

    def _args(self, model, train, validation, optimizer, template):
        tr = coerce(train, "train")[0]
        va = coerce(validation, "validation")[0]
        opt = model._optimizer_for(optimizer)
        return [self._p(), model._use(), opt._p(), tr._p(), va._p(),
                template._p() if template is not None else None], (tr, va)

    def run(self, model, train, validation, optimizer=None, template=None):
        """The halving/doubling heuristic from START; returns the chosen
        batch size. train and validation: Datasets or (x, y) pairs;
        template: a Scheduler whose settings the candidates copy."""
        args, keep = self._args(model, train, validation, optimizer, template)
        best = ctypes.c_size_t()
        check(lib.bsnn_search_run(ctypes.byref(best), *args))
        return best.value

    def sweep(self, model, train, validation, batch_sizes, optimizer=None, template=None):
        """Every batch size of the list, in order; returns the best."""
        args, keep = self._args(model, train, validation, optimizer, template)
        arr, n = sizes(batch_sizes, "batch_sizes")
        best = ctypes.c_size_t()
        check(lib.bsnn_search_sweep(ctypes.byref(best), *args, arr, n))
        return best.value

    def __len__(self):
        return lib.bsnn_search_count(self._p())

    @property
    def best(self):
        """The chosen batch size of the last run or sweep (0: none)."""
        return lib.bsnn_search_best(self._p())

    def result(self, row, col):
        out = ctypes.c_double()
        check(lib.bsnn_search_result(ctypes.byref(out), self._p(), row,
                                     enum_value(SearchCol, col, "column")))
        return out.value

    @property
    def results(self):
        """Every column, by lowercase name, as float64 arrays (one entry
        per candidate, in the order tried)."""
        n = len(self)
        return {c.name.lower(): np.array([self.result(r, c) for r in range(n)], np.float64)
                for c in SearchCol}

    def write_csv(self, file):
        check(lib.bsnn_search_write_csv(self._p(), path(file)))

    def __repr__(self):
        return "Search(closed)" if self.closed else "Search(%d results, best %d)" % (
            len(self), self.best)
