"""What other plugins' console pages may use from the console plugin (their pages module only)."""

from __future__ import annotations

from plugins.console.pages import page, security_headers

__all__ = ["page", "security_headers"]
