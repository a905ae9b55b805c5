"""The admin's allow-list of flag endpoints: which URLs a flag request may go to (pure)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.flags import FlagError
from controller.flags.endpoints import EndpointPolicy, endpoint_key


def admitted(prefixes: list[str], url: str) -> bool:
    try:
        EndpointPolicy(prefixes).check(url)
    except FlagError:
        return False
    return True


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://a/api", True),
        ("http://a/api/", True),
        ("http://a/api/x", True),
        ("http://a/api/x/y?z=1#f", True),
        ("http://a/apix", False),
        ("http://a/ap", False),
        ("http://a/", False),
        ("http://a", False),
        ("http://a//api", False),
        ("http://a/API", False),  # paths compare as written
    ],
)
def test_a_prefix_matches_at_slash_boundaries(url: str, ok: bool) -> None:
    assert admitted(["http://a/api"], url) is ok


def test_a_prefix_written_with_a_trailing_slash_is_the_same_prefix() -> None:
    assert admitted(["http://a/api/"], "http://a/api")
    assert admitted(["http://a/api/"], "http://a/api/x")
    assert not admitted(["http://a/api/"], "http://a/apix")


def test_a_host_alone_admits_every_path_on_it() -> None:
    for prefix in ("http://a", "http://a/"):
        assert admitted([prefix], "http://a")
        assert admitted([prefix], "http://a/anything/at/all")
        assert not admitted([prefix], "http://b/anything")


@pytest.mark.parametrize(
    ("prefix", "url", "ok"),
    [
        ("http://a", "http://a:80/x", True),
        ("http://a:80", "http://a/x", True),
        ("https://a", "https://a:443/x", True),
        ("https://a:443/api", "https://a/api", True),
        ("http://a:8080", "http://a/x", False),
        ("http://a", "http://a:8080/x", False),
        ("http://a", "http://a:443/x", False),
    ],
)
def test_default_ports_are_filled_in(prefix: str, url: str, ok: bool) -> None:
    assert admitted([prefix], url) is ok


def test_hosts_compare_case_insensitively() -> None:
    assert admitted(["http://Hooks.Example.com/api"], "http://hooks.example.COM/api/x")
    assert not admitted(["http://hooks.example.com/api"], "http://hooks.example.com./api")


def test_the_scheme_must_match() -> None:
    assert not admitted(["https://a/api"], "http://a/api")
    assert not admitted(["http://a/api"], "https://a/api")
    assert not admitted(["http://a/api"], "ftp://a/api")


@pytest.mark.parametrize(
    "url",
    [
        "http://a/api/../admin",
        "http://a/api/./x",
        "http://a/api/x/..",
        "http://a/api/%2e%2e/admin",
        "http://a/api/%2E%2e/admin",
        "http://a/api/.%2e/admin",
        "http://a/api/%2e/x",
        "http://a/api%2f..%2fadmin",
        "http://a/api/..\\admin",
        "http://a/api/..%5cadmin",
    ],
)
def test_dot_segments_are_refused_also_percent_encoded(url: str) -> None:
    with pytest.raises(FlagError, match=r"has a '\.' or '\.\.' path segment"):
        EndpointPolicy(["http://a"]).check(url)


def test_names_that_only_contain_dots_are_not_dot_segments() -> None:
    assert admitted(["http://a/api"], "http://a/api/.well-known/x")
    assert admitted(["http://a/api"], "http://a/api/v1..2")


@pytest.mark.parametrize("url", ["http://user:pass@a/api", "http://user@a/api", "http://:p@a/api"])
def test_credentials_in_the_url_are_refused(url: str) -> None:
    with pytest.raises(FlagError, match="carries credentials; they belong in a Secret"):
        EndpointPolicy(["http://a/api"]).check(url)


@pytest.mark.parametrize(
    "url", ["http://a/ap\ni", "http://a/api\t/x", "http://a/api/x\x00", "http://a/a pi"]
)
def test_whitespace_and_control_characters_are_refused_not_dropped(url: str) -> None:
    # urlsplit would drop the tab and newline and read "http://a/api".
    with pytest.raises(FlagError, match="whitespace or control characters"):
        EndpointPolicy(["http://a/api"]).check(url)


def test_surrounding_whitespace_is_ignored() -> None:
    assert admitted([" http://a/api "], "http://a/api/x")
    assert admitted(["http://a/api"], "  http://a/api/x\n")


@pytest.mark.parametrize("url", ["not a url", "a/api", "http://", "http://a:99999/api", ""])
def test_what_is_not_an_http_url_is_refused(url: str) -> None:
    with pytest.raises(FlagError):
        EndpointPolicy(["http://a/api"]).check(url)


@pytest.mark.parametrize("prefixes", [[], [""], ["  "]])
def test_an_empty_allow_list_refuses_everything_and_says_how_to_allow(
    prefixes: list[str],
) -> None:
    with pytest.raises(FlagError) as err:
        EndpointPolicy(prefixes).check("https://hooks.example.com/flags")
    assert str(err.value) == (
        "https://hooks.example.com/flags is not an allowed flag endpoint (allowed: none "
        "configured); the controller's admin adds it with --flag-endpoint or "
        "LANDINGGEAR_FLAG_ENDPOINTS"
    )


def test_the_refusal_lists_the_allowed_prefixes_as_written() -> None:
    with pytest.raises(FlagError, match=r"\(allowed: http://a/api, https://B:8443/x\)"):
        EndpointPolicy(["http://a/api", " https://B:8443/x "]).check("http://c/")


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("ftp://a/x", "not an http\\(s\\) URL with a host"),
        ("http://", "not an http\\(s\\) URL with a host"),
        ("a.example.com/x", "not an http\\(s\\) URL with a host"),
        ("http://a:99999", "is not a URL"),
        ("http://a:port", "is not a URL"),
        ("http://a/x?y=1", "has a query or fragment"),
        ("http://a/x#y", "has a query or fragment"),
        ("http://u:p@a/x", "carries credentials"),
        ("http://a/x/../y", "'..' path segment"),
        ("http://a/x\ny", "whitespace or control characters"),
    ],
)
def test_a_bad_prefix_is_a_configuration_error(prefix: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EndpointPolicy([prefix])


def test_endpoint_key_fills_in_defaults_for_comparing_addresses() -> None:
    assert endpoint_key("HTTP://A/api/") == "http://a:80/api"
    assert endpoint_key("https://a:8443") == "https://a:8443/"


# ------------------------------------------------------------------ property

SCHEMES = st.sampled_from(["http", "https"])
HOSTS = st.sampled_from(["a", "A", "b", "127.0.0.1", "[::1]", "hooks.example.com"])
PORTS = st.sampled_from(["", ":80", ":443", ":8080"])
NAMES = ["api", "apix", "ap", "x", "a%2fb", ""]
DOTS = [".", "..", "%2e", "%2E%2e"]


def _paths(names: list[str], size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(names), max_size=size).map(
        lambda s: "/" + "/".join(s) if s else ""
    )


ORIGINS = st.builds(lambda *parts: "".join(parts), SCHEMES.map(lambda s: s + "://"), HOSTS, PORTS)
PREFIXES = st.builds(str.__add__, ORIGINS, _paths(NAMES, 2))
PATHS = _paths(NAMES + DOTS, 3)
URLS = st.builds(str.__add__, ORIGINS, PATHS)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url.strip())
    port = parts.port or {"http": 80, "https": 443}[parts.scheme]
    return parts.scheme, (parts.hostname or "").lower(), port


@given(prefixes=st.lists(PREFIXES, min_size=1, max_size=3), data=st.data())
@settings(max_examples=300)
def test_an_admitted_url_shares_scheme_host_and_port_with_a_prefix_and_is_under_its_path(
    prefixes: list[str], data: st.DataObject
) -> None:
    # Half the URLs are on a prefix's own origin, where the path is what decides.
    on_origin = st.sampled_from(prefixes).map(lambda p: urlsplit(p)._replace(path="").geturl())
    url = data.draw(st.one_of(URLS, st.builds(str.__add__, on_origin, PATHS)))
    try:
        EndpointPolicy(prefixes).check(url)
    except FlagError:
        return
    path = urlsplit(url).path or "/"
    assert not {".", ".."} & set(path.lower().replace("%2e", ".").split("/"))
    assert any(
        _origin(prefix) == _origin(url)
        and (
            (base := urlsplit(prefix).path.rstrip("/") or "/") == "/"
            or path in (base, base + "/")
            or path.startswith(base + "/")
        )
        for prefix in prefixes
    )


@given(prefix=PREFIXES, suffix=PATHS)
def test_a_url_under_a_prefix_without_dot_segments_is_admitted(prefix: str, suffix: str) -> None:
    url = prefix.rstrip("/") + suffix
    dots = {".", "..", "%2e", "%2e%2e"}
    if any(seg.lower() in dots for seg in urlsplit(url).path.split("/")):
        return
    assert admitted([prefix], url)
