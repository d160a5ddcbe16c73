"""The Jinja2 environment of the pages: package templates, autoescaping, formatting filters."""

from __future__ import annotations

import functools

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from vla_bench.web import TEMPLATE_PACKAGE, format


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader(*TEMPLATE_PACKAGE),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt variable fails the page (and its test), not renders blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({
        "value": format.fmt_value, "interval": format.fmt_interval, "estimate": format.fmt_estimate,
        "signed": format.fmt_signed, "date": format.fmt_date, "datetime": format.fmt_datetime,
        "metric_label": format.metric_label, "pvalue": format.fmt_p,
    })
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)
