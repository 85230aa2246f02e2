"""parse_ua_string searches a browser pattern only when one of its literal tokens is in the string: it
names the same browser and version as searching every pattern in turn, on real UA strings and on strings
made of every token, spelled right and nearly right."""

from __future__ import annotations

import random
import re
from dataclasses import astuple

from plugins.rtcstats.analysis.useragent import parse_ua_string

# The patterns in their order of precedence, each searched whatever the string holds (the reference).
_ALL_PATTERNS = (
    ("Edge", re.compile(r"\b(?:Edg|Edge|EdgA|EdgiOS)/(\d+)")),
    ("Opera", re.compile(r"\b(?:OPR|OPX|Opera)/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Yandex", re.compile(r"\bYaBrowser/(\d+)")),
    ("HeadlessChrome", re.compile(r"\bHeadlessChrome/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/(\d+)")),
    ("Chromium", re.compile(r"\bChromium/(\d+)")),
)
_SAFARI_VERSION = re.compile(r"\bVersion/(\d+)(?:[.\d]*)?.*\bSafari/")
_SAFARI_WEBKIT = re.compile(r"\bAppleWebKit/[\d.]+.*\bSafari/")


def _reference_browser(ua: str) -> tuple[str | None, str | None]:
    for name, pattern in _ALL_PATTERNS:
        found = pattern.search(ua)
        if found:
            return name, found.group(1)
    safari = _SAFARI_VERSION.search(ua)
    if safari:
        return "Safari", safari.group(1)
    return ("Safari", None) if _SAFARI_WEBKIT.search(ua) else (None, None)


_REAL = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/117.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
    "Safari/537.36 OPR/105.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15",
    "Opera/9.80 (Windows NT 6.1) Presto/2.12.388 Version/12.16",
    "",
    "   ",
]
_TOKENS = [
    "Edg/", "Edge/", "EdgA/", "EdgiOS/", "OPR/", "OPX/", "Opera/", "SamsungBrowser/", "YaBrowser/",
    "HeadlessChrome/", "Firefox/", "FxiOS/", "Chrome/", "CriOS/", "Chromium/", "Version/", "Safari/",
    "AppleWebKit/", "AppleWebKit/5.3", "Edg", "OP", "Chrome", "xChrome/", "Safari", "Version/x",
]  # fmt: skip


def test_browser_as_searching_every_pattern():
    rng = random.Random(5)
    uas = list(_REAL)
    for _ in range(5000):
        parts = [rng.choice(_TOKENS) + rng.choice(["", "1", "42.0", "x"]) for _ in range(rng.randint(1, 5))]
        uas.append(rng.choice([" ", "", ";", " (KHTML) "]).join(parts))
    named = set()
    for ua in uas:
        info = parse_ua_string(ua)
        expected = _reference_browser(ua) if ua.strip() else (None, None)
        assert (info.browser, info.browser_version) == expected, ua
        named.add(info.browser)
    assert len(named) == 10  # each of the nine browsers, and None, came up


def test_real_strings_unchanged():
    assert astuple(parse_ua_string(_REAL[0])) == ("Chrome", "117", "macOS", "10.15.7", False, None)
    assert astuple(parse_ua_string(_REAL[1]))[:2] == ("Edge", "120")
    assert astuple(parse_ua_string(_REAL[4]))[:4] == ("Safari", "17", "iPhone", "17.2")
