"""Query templates: placeholders substituted safely, mistakes refused when the template is built;
selectors for counting are plain series selectors."""

from __future__ import annotations

import pytest

from controller.providers.counters import CounterSum, MetricTemplate, Rendered
from controller.providers.templates import (
    KNOWN_VARIABLES,
    QueryTemplate,
    Role,
    Selector,
    TemplateError,
    Variables,
    escape_label_value,
)

VARIABLES = Variables(
    rollout="web",
    namespace="shop",
    service="web-svc",
    canary="c4n4ry",
    stable="st4bl3",
    window="1m30s",
)


def render(text: str, role: Role = Role.CANARY, variables: Variables = VARIABLES) -> str:
    return QueryTemplate(text).render(variables.for_role(role))


def test_every_known_variable_is_substituted() -> None:
    text = (
        'x{a="${rollout}", b="${namespace}", c="${service}", d="${canary}", e="${stable}", '
        'f="${revision}"}[${window}]'
    )
    assert (
        render(text)
        == 'x{a="web", b="shop", c="web-svc", d="c4n4ry", e="st4bl3", f="c4n4ry"}[1m30s]'
    )


def test_revision_is_the_measured_role() -> None:
    assert render('x{r="${revision}"}', Role.STABLE) == 'x{r="st4bl3"}'


def test_label_values_are_escaped_for_the_string_literal() -> None:
    hostile = Variables(
        rollout='a"} or vector(1) #',
        namespace="back\\slash",
        service="new\nline",
        canary="c",
        stable="s",
        window="5m",
    )
    assert render('x{a="${rollout}", b="${namespace}", c="${service}"}', variables=hostile) == (
        'x{a="a\\"} or vector(1) #", b="back\\\\slash", c="new\\nline"}'
    )
    assert escape_label_value('\t"\\\r') == '\\t\\"\\\\\\r'


def test_dollar_dollar_is_a_literal_dollar() -> None:
    assert render('x{a=~"^v$$"}') == 'x{a=~"^v$"}'


def test_unknown_variable_lists_the_known_ones() -> None:
    with pytest.raises(TemplateError) as caught:
        QueryTemplate('x{a="${pod}"}')
    message = str(caught.value)
    assert "unknown variable ${pod}" in message
    assert all(name in message for name in KNOWN_VARIABLES)


@pytest.mark.parametrize("text", ["x{a=$canary}", 'x{a="$"}', "x[${window"])
def test_stray_dollar_is_refused(text: str) -> None:
    with pytest.raises(TemplateError, match="stray"):
        QueryTemplate(text)


@pytest.mark.parametrize(
    "text", ["x{a=${canary}}", "x{a='${canary}'}", "x{a=`${canary}`}", "sum by (${service}) (x)"]
)
def test_label_value_outside_a_double_quoted_string_is_refused(text: str) -> None:
    with pytest.raises(TemplateError, match="inside a double-quoted string"):
        QueryTemplate(text)


def test_window_inside_a_string_is_refused() -> None:
    with pytest.raises(TemplateError, match="outside quotes"):
        QueryTemplate('x{a="${window}"}')


def test_quotes_in_comments_and_escaped_quotes_do_not_confuse_the_checker() -> None:
    text = 'x{a="say \\"${canary}\\""} # it\'s "fine"\n+ y[${window}]'
    assert render(text) == 'x{a="say \\"c4n4ry\\""} # it\'s "fine"\n+ y[1m30s]'


def test_unterminated_string_is_refused() -> None:
    with pytest.raises(TemplateError, match="unterminated"):
        QueryTemplate('x{a="${canary}}')


@pytest.mark.parametrize("window", ["", "30", "0s", "5 m", "1.5m", "5m; drop", "m"])
def test_window_must_be_a_positive_promql_duration(window: str) -> None:
    with pytest.raises(TemplateError, match="duration"):
        Variables(rollout="r", namespace="n", service="s", canary="c", stable="s", window=window)


@pytest.mark.parametrize("window", ["30s", "5m", "1h30m", "500ms", "2d"])
def test_durations_prometheus_accepts_are_accepted(window: str) -> None:
    assert Variables(rollout="r", namespace="n", service="s", canary="c", stable="s", window=window)


def test_empty_value_is_refused_because_it_matches_series_without_the_label() -> None:
    first_release = Variables(
        rollout="web", namespace="shop", service="web", canary="c4n4ry", stable="", window="30s"
    )
    with pytest.raises(TemplateError, match="no value"):
        render('x{r="${revision}"}', Role.STABLE, first_release)


@pytest.mark.parametrize(
    "text",
    [
        'http_requests_total{namespace="${namespace}", revision="${revision}"}',
        'x{code=~"5..", le=~"1|1\\\\.0", canary!="", b!~"(a|b)+"}',
        "x",
        "x{}",
        '{__name__="x", r="${revision}"}',
        "x{a='v', b=`w`,}",
        '  job:requests:total { a = "v" }  ',
    ],
)
def test_plain_series_selectors_are_selectors(text: str) -> None:
    assert Selector(text).text == text


@pytest.mark.parametrize(
    "text",
    [
        'sum(x{r="${revision}"})',
        'increase(x{r="${revision}"}[${window}])',
        'x{r="${revision}"}[5m]',
        'x{r="${revision}"} offset 5m',
        'x{r="${revision}"} @ 1700000000',
        'x{r="${revision}"} or vector(0)',
        'x{r="${revision}"} - y{r="${revision}"}',
        'x{r="${revision}"} # a comment',
        'x{r="${revision}"}{a="b"}',
        "x{a}",
        "{}",
        "",
        "sum by (a) (x)",
    ],
)
def test_anything_but_a_plain_selector_is_refused(text: str) -> None:
    with pytest.raises(TemplateError, match="not a plain series selector"):
        Selector(text)


def test_a_selector_renders_like_any_template() -> None:
    selector = Selector('x{r="${revision}", re=~"(a|b)$$"}')
    assert selector.render(VARIABLES.for_role(Role.STABLE)) == 'x{r="st4bl3", re=~"(a|b)$"}'


def test_uniform_metric_must_select_by_revision_in_every_term() -> None:
    with pytest.raises(TemplateError, match="same query"):
        MetricTemplate.uniform(
            name="latency",
            requests=CounterSum.of('x_count{r="${revision}"}'),
            bad=CounterSum.of('x_count{r="${revision}"}').minus('x_bucket{le="1"}'),
        )


def test_uniform_metric_renders_each_role() -> None:
    metric = MetricTemplate.uniform(
        name="errors",
        requests=CounterSum.of('x{r="${revision}"}'),
        bad=CounterSum.of('x{r="${revision}", code=~"5.."}', absent_is_zero=True),
    )
    assert metric.render(VARIABLES, Role.STABLE) == (
        (Rendered('x{r="st4bl3"}'),),
        (Rendered('x{r="st4bl3", code=~"5.."}', absent_is_zero=True),),
    )
