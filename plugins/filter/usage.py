"""Usage per client from Prometheus (playbooks/usage.yml): the query per counter and the printed table.

    query: "{{ 'litellm_proxy_total_requests_metric_total' | litellm_local_usage_query('24h') }}"
    lines: "{{ registered.results | litellm_local_usage_table }}"

`registered` is the uri task looped over the counters: each result's item.key names its column and its
json.data.result holds Prometheus' samples.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # the unit tests run without Ansible
    AnsibleFilterError = ValueError  # type: ignore[misc,assignment]

DURATION = re.compile(r"^[0-9]+[smhdwy]$")
METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
COLUMNS = [
    ("requests", "REQUESTS"),
    ("errors", "ERRORS"),
    ("input_tokens", "INPUT TOKENS"),
    ("output_tokens", "OUTPUT TOKENS"),
]


def usage_query(metric: str, duration: str) -> str:
    """The counter's growth over `duration` per end user and alias. Per series, the larger of increase() (which sees
    counter resets, e.g. a gateway restart, but not a series' first value) and the difference with the value one
    range ago (the whole value for a series born inside the range); `* 1` drops the metric name so both sides match."""
    if not METRIC.match(metric) or not DURATION.match(duration):
        raise AnsibleFilterError(f"not a metric name and a Prometheus duration: {metric!r}, {duration!r}")
    m = f'{metric}{{job="litellm", end_user!=""}}'
    diff = f"(({m} - {m} offset {duration}) or ({m} * 1))"
    return f"sum by (end_user, requested_model) ((increase({m}[{duration}]) >= {diff}) or {diff})"


def usage_table(answers: Iterable[Mapping[str, Any]]) -> list[str]:
    """Aligned lines: END USER, ALIAS, then one column per counter, one row per end user and alias, sorted."""
    values: dict[tuple[str, str], dict[str, int]] = {}
    for answer in answers:
        key = answer["item"]["key"]
        for sample in answer["json"]["data"]["result"]:
            labels = sample.get("metric", {})
            row = (str(labels.get("end_user", "")), str(labels.get("requested_model") or "-"))
            values.setdefault(row, {})[key] = round(float(sample["value"][1]))
    rows = [["END USER", "ALIAS", *(title for _, title in COLUMNS)]]
    for (user, alias), counts in sorted(values.items()):
        rows.append([user, alias, *(str(counts.get(key, 0)) for key, _ in COLUMNS)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"litellm_local_usage_query": usage_query, "litellm_local_usage_table": usage_table}
