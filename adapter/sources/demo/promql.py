"""PromQL for the embedded demo: the one import point for parsing and evaluating queries.

A faithful subset of Prometheus 3 PromQL, enough for the adapter's rule presets, so the demo answers
the very queries a real Prometheus gets. Supported: number and string literals, instant and range
selectors (``=``, ``!=``, ``=~``, ``!~`` matchers), ``rate``, ``increase``, ``irate``,
``{avg,max,min,sum}_over_time``, classic ``histogram_quantile``, ``label_replace``, ``clamp_min``,
``clamp_max``, ``abs``, ``vector``, ``scalar``, ``time``; ``sum avg min max count`` with
``by``/``without``; every binary operator except ``atan2``, with ``bool``, ``on``/``ignoring`` and
``group_left``/``group_right``.

Not supported (rejected with a :class:`PromQLError` naming the feature): ``offset``, ``@``,
subqueries, ``atan2``, other aggregations (``topk``, ``quantile``, ...), other functions, native
histograms, quoted UTF-8 metric names and range-vector or string query results.
"""

from __future__ import annotations

from adapter.sources.demo.promql_ast import Expr, PromQLError
from adapter.sources.demo.promql_eval import LOOKBACK_SECONDS, Vector, evaluate
from adapter.sources.demo.promql_parser import parse

__all__ = ["LOOKBACK_SECONDS", "Expr", "PromQLError", "Vector", "evaluate", "parse"]
