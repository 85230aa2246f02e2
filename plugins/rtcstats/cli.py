"""`mediaplane rtcstats ...`: offline analysis of a dump file, bulk reprocessing, credit grants, and
which parser modules run compiled."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("rtcstats")
def rtcstats():
    """WebRTC stats dumps: analyse a file offline, reprocess stored sessions, grant credits."""


def _line(label: str, value) -> str:
    return f"{label:<22}{'-' if value is None or value == '' else value}"


def summary_lines(result: dict, fmt: str) -> list[str]:
    """The human summary `rtcstats analyze` prints."""
    counts = result.get("observationsCount") or {}
    ua = result.get("userAgentData") if isinstance(result.get("userAgentData"), dict) else {}

    def joined(*keys):
        return " ".join(str(ua[k]) for k in keys if ua.get(k)) or None

    lines = [
        _line("title", result.get("title")),
        _line("format", fmt),
        _line("call", f"{result.get('callStart') or '-'} .. {result.get('callEnd') or '-'}"),
        _line("duration ms", result.get("durationMs")),
        _line("browser", joined("browser", "browserVersion")),
        _line("os", joined("os", "osVersion")),
        _line("peer connections", result.get("pConnectionsNumber")),
        _line("connectivity", result.get("connectivity")),
        _line("experience score", result.get("experienceScore")),
        _line("audio score", result.get("audioScore")),
        _line("video score", result.get("videoScore")),
        _line("connectivity score", result.get("connectivityScore")),
        _line("observations score", result.get("observationsScore")),
        _line(
            "observations",
            ", ".join(f"{counts.get(s, 0)} {s}" for s in ("critical", "high", "medium", "low", "info")),
        ),
    ]
    for obs in result.get("observations") or []:
        if isinstance(obs, dict):
            lines.append(f"  {obs.get('severity', '?'):<9}{obs.get('type', '?')}")
    if isinstance(result.get("ruleSummary"), str):
        lines += ["", result["ruleSummary"]]
    return lines


@rtcstats.command("analyze")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--json", "as_json", is_flag=True, help="Print the whole analysis (AnalyzeResponseData) as JSON."
)
def analyze_file(file: Path, as_json: bool):
    """Analyse dump FILE offline (no server, database or credits) and print a summary."""
    from plugins.rtcstats.analysis import analyze
    from plugins.rtcstats.parsing import DumpFormatError, DumpTooLarge, parse

    data = file.read_bytes()
    try:
        dump = parse(data)
        result = analyze(dump, file_name=file.name, file_size=len(data))
    except (DumpFormatError, DumpTooLarge) as err:
        raise click.ClickException(f"{file.name}: {err}") from None
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    else:
        click.echo("\n".join(summary_lines(result, dump.format)))


@rtcstats.command("compiled")
def compiled_modules():
    """Which parser modules run compiled (Cython, built by scripts/setup) and which as Python, and why."""
    from plugins.rtcstats.compiled import status

    for name, state in status().items():
        click.echo(f"{name:<42}{state}")


@rtcstats.command("reprocess")
@click.option("--account", help="Only this account's sessions.")
@click.option("--dry-run", is_flag=True, help="Count, do not queue.")
@click.option(
    "--pending-minutes",
    type=click.IntRange(1),
    default=60,
    show_default=True,
    help="Also queue sessions pending longer than this (their job was lost).",
)
def reprocess(account, dry_run, pending_minutes):
    """Queue a re-analysis job for every session made by another analyzer version."""
    from core.auth import AuthError, find_account
    from core.cli import app_context
    from core.queue import enqueue
    from plugins.rtcstats import service

    with app_context():
        try:
            account_id = find_account(account).id if account else None
        except AuthError as err:
            raise click.ClickException(str(err)) from None
        ids = service.outdated_sessions(account_id, pending_minutes * 60)
        if not dry_run:
            for rtcstats_id in ids:
                enqueue("rtcstats.reprocess_session", rtcstats_id)
        version = service.processor_version()
    verb = "would be queued" if dry_run else "queued"
    click.echo(f"{len(ids)} sessions {verb} for analyzer {version}")


@rtcstats.command("grant-credits")
@click.argument("account")
@click.argument("credits", type=int)
def grant_credits(account, credits):
    """Give ACCOUNT CREDITS more credits this month (negative to take back)."""
    from core.auth import AuthError, find_account
    from core.cli import app_context
    from plugins.rtcstats import credits as ledger
    from plugins.rtcstats import service

    with app_context():
        try:
            row = find_account(account)
        except AuthError as err:
            raise click.ClickException(str(err)) from None
        ledger.grant(row.id, credits)
        answer = service.quota(row)
    click.echo(
        f"{account}: {answer['remainingCredits']} of {answer['allowedCredits']} credits left this month"
    )
