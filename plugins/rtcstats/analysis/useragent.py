"""Browser and operating system of a dump's client, from User-Agent Client Hints or the UA string.

`parse_user_agent(user_agent, user_agent_data)` -> UserAgentInfo(browser, browser_version (major),
os, os_version, mobile, platform). Client hints (`navigator.userAgentData`) win when present: they
are not frozen or reduced like the UA string of current Chrome ("Windows NT 10.0" for Windows 11,
"Chrome/144.0.0.0"). Two shapes exist in dumps: the object `{brands, fullVersionList?, mobile,
platform, platformVersion?}` and, in webrtc-internals dumps of about M138, a bare array of
`{brand, version}`. Whatever the hints lack (the array has no platform) comes from the UA string.

Names are the product's vocabulary (the `browser` / `os` filters of GET /sessions):
browsers Chrome, Edge, Firefox, Safari, Opera, HeadlessChrome, Samsung Internet, Chromium, Brave;
systems Windows, macOS, Linux, Android, iPhone, iPad, ChromeOS. Unknown -> None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["UserAgentInfo", "parse_user_agent", "parse_ua_string", "parse_ua_data"]


@dataclass
class UserAgentInfo:
    browser: str | None = None
    browser_version: str | None = None  # major version, e.g. "142"
    os: str | None = None
    os_version: str | None = None
    mobile: bool | None = None
    platform: str | None = None  # the raw client-hints platform, when given

    def as_dict(self) -> dict:
        return {
            "browser": self.browser,
            "browserVersion": self.browser_version,
            "os": self.os,
            "osVersion": self.os_version,
            "mobile": self.mobile,
        }


# Client-hints brand -> our browser name, in order of preference (the first match wins, so the
# specific product beats "Chromium", which every Chromium-based browser also lists).
_BRANDS = (
    ("Microsoft Edge", "Edge"),
    ("Opera", "Opera"),
    ("Opera GX", "Opera"),
    ("Brave", "Brave"),
    ("Samsung Internet", "Samsung Internet"),
    ("YaBrowser", "Yandex"),
    ("HeadlessChrome", "HeadlessChrome"),
    ("Google Chrome", "Chrome"),
    ("Chromium", "Chromium"),
)

_PLATFORMS = {
    "windows": "Windows",
    "macos": "macOS",
    "mac os x": "macOS",
    "linux": "Linux",
    "android": "Android",
    "chrome os": "ChromeOS",
    "chromeos": "ChromeOS",
    "cros": "ChromeOS",
    "ios": "iPhone",
}

# UA string browser tokens, most specific first (every Chromium UA also says "Chrome/" and "Safari/"),
# with the literal tokens one of which a match contains: a pattern is searched for only when one of them
# is in the string (a failed search scans the whole string; a Chrome UA would fail six of them).
_UA_BROWSERS = (
    ("Edge", ("Edg/", "Edge/", "EdgA/", "EdgiOS/"), re.compile(r"\b(?:Edg|Edge|EdgA|EdgiOS)/(\d+)")),
    ("Opera", ("OPR/", "OPX/", "Opera/"), re.compile(r"\b(?:OPR|OPX|Opera)/(\d+)")),
    ("Samsung Internet", ("SamsungBrowser/",), re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Yandex", ("YaBrowser/",), re.compile(r"\bYaBrowser/(\d+)")),
    ("HeadlessChrome", ("HeadlessChrome/",), re.compile(r"\bHeadlessChrome/(\d+)")),
    ("Firefox", ("Firefox/", "FxiOS/"), re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", ("Chrome/", "CriOS/"), re.compile(r"\b(?:Chrome|CriOS)/(\d+)")),
    ("Chromium", ("Chromium/",), re.compile(r"\bChromium/(\d+)")),
)
_SAFARI_VERSION = re.compile(r"\bVersion/(\d+)(?:[.\d]*)?.*\bSafari/")
_SAFARI_WEBKIT = re.compile(r"\bAppleWebKit/[\d.]+.*\bSafari/")
_IOS_VERSION = re.compile(r"\bOS (\d+(?:[_.]\d+)*) like Mac OS X")
_MAC_VERSION = re.compile(r"Mac OS X (\d+(?:[_.]\d+)*)")
_ANDROID_VERSION = re.compile(r"\bAndroid (\d+(?:\.\d+)*)")
_WINDOWS_VERSION = re.compile(r"\bWindows NT (\d+\.\d+)")
_CROS_VERSION = re.compile(r"\bCrOS \S+ (\d+(?:\.\d+)*)")
_WINDOWS_NT = {"10.0": "10", "6.3": "8.1", "6.2": "8", "6.1": "7", "6.0": "Vista", "5.1": "XP"}


_LEADING_NUMBER = re.compile(r"\s*(\d+)")


def _major(version: Any) -> str | None:
    if version is None:
        return None
    match = _LEADING_NUMBER.match(str(version))
    return match.group(1) if match else None


def parse_ua_string(user_agent: str | None) -> UserAgentInfo:
    """Browser, major version, OS and OS version from a User-Agent string."""
    info = UserAgentInfo()
    if not isinstance(user_agent, str) or not user_agent.strip():
        return info
    ua = user_agent
    for name, tokens, pattern in _UA_BROWSERS:
        found = pattern.search(ua) if any(token in ua for token in tokens) else None
        if found:
            info.browser, info.browser_version = name, found.group(1)
            break
    else:
        safari = _SAFARI_VERSION.search(ua) if "Safari/" in ua else None  # both patterns end in it
        if safari:
            info.browser, info.browser_version = "Safari", safari.group(1)
        elif "Safari/" in ua and _SAFARI_WEBKIT.search(ua):
            info.browser = "Safari"

    if "iPhone" in ua or "iPod" in ua:
        info.os, info.mobile = "iPhone", True
        version = _IOS_VERSION.search(ua)
        info.os_version = version.group(1).replace("_", ".") if version else None
    elif "iPad" in ua:
        info.os, info.mobile = "iPad", True
        version = _IOS_VERSION.search(ua)
        info.os_version = version.group(1).replace("_", ".") if version else None
    elif "Android" in ua:
        info.os, info.mobile = "Android", "Mobile" in ua
        version = _ANDROID_VERSION.search(ua)
        info.os_version = version.group(1) if version else None
    elif "CrOS" in ua:
        info.os, info.mobile = "ChromeOS", False
        version = _CROS_VERSION.search(ua)
        info.os_version = version.group(1) if version else None
    elif "Windows" in ua:
        info.os, info.mobile = "Windows", False
        version = _WINDOWS_VERSION.search(ua)
        info.os_version = _WINDOWS_NT.get(version.group(1), version.group(1)) if version else None
    elif "Macintosh" in ua or "Mac OS X" in ua:
        info.os, info.mobile = "macOS", False
        version = _MAC_VERSION.search(ua)
        info.os_version = version.group(1).replace("_", ".") if version else None
    elif "Linux" in ua or "X11" in ua:
        info.os, info.mobile = "Linux", False
    return info


def _brand_list(data: Any) -> list[dict]:
    if isinstance(data, list):
        return [b for b in data if isinstance(b, dict)]
    if isinstance(data, dict):
        for key in ("fullVersionList", "brands"):
            brands = data.get(key)
            if isinstance(brands, list) and brands:
                return [b for b in brands if isinstance(b, dict)]
    return []


def parse_ua_data(user_agent_data: Any) -> UserAgentInfo:
    """What User-Agent Client Hints (object or array form) say; fields they do not give stay None."""
    info = UserAgentInfo()
    brands = _brand_list(user_agent_data)
    by_name = {str(b.get("brand", "")).strip(): b.get("version") for b in brands}
    for brand, name in _BRANDS:
        if brand in by_name:
            info.browser, info.browser_version = name, _major(by_name[brand])
            break
    if isinstance(user_agent_data, dict):
        platform = user_agent_data.get("platform")
        if isinstance(platform, str) and platform.strip():
            info.platform = platform
            info.os = _PLATFORMS.get(platform.strip().lower())
            version = user_agent_data.get("platformVersion")
            if info.os and isinstance(version, str) and version.strip():
                info.os_version = _platform_version(info.os, version.strip())
        mobile = user_agent_data.get("mobile")
        if isinstance(mobile, bool):
            info.mobile = mobile
    return info


def _platform_version(os_name: str, version: str) -> str:
    """Client-hints platformVersion in the usual notation (Windows: 13+ is Windows 11, 1-10 is 10)."""
    if os_name == "Windows":
        major = _major(version)
        if major is not None:
            number = int(major)
            if number >= 13:
                return "11"
            if number > 0:
                return "10"
        return version
    return version


def parse_user_agent(user_agent: str | None, user_agent_data: Any = None) -> UserAgentInfo:
    """Client hints first, the UA string for whatever they lack."""
    from_string = parse_ua_string(user_agent)
    from_hints = parse_ua_data(user_agent_data)
    merged = UserAgentInfo()
    if from_hints.browser is not None:
        merged.browser, merged.browser_version = from_hints.browser, from_hints.browser_version
        if merged.browser_version is None and from_string.browser == merged.browser:
            merged.browser_version = from_string.browser_version
    else:
        merged.browser, merged.browser_version = from_string.browser, from_string.browser_version
    if from_hints.os is not None:
        merged.os = from_hints.os
        merged.os_version = from_hints.os_version
        if merged.os_version is None and from_string.os == merged.os:
            merged.os_version = from_string.os_version
    else:
        merged.os, merged.os_version = from_string.os, from_string.os_version
    merged.mobile = from_hints.mobile if from_hints.mobile is not None else from_string.mobile
    merged.platform = from_hints.platform
    return merged
