"""Offline verifier of an evidence pack (docs/STANDARDS.md §8.4): hashes, signatures, audit chain,
recomputation.

Part of the self-contained verifier package (see __init__), run from a pack's root folder as

    python -B -m verify . [--trusted-key PUB.pem|ed25519:KEYID]

Exit status: 0 every check passed and the signer is the trusted key; 1 a check failed; 2 the input
is not a readable pack; 3 every check passed but no --trusted-key was given, so the signer is not
pinned. A pack re-signed end to end with another key passes every check made inside it (hashes,
signatures, chain): only a key obtained from the plant, outside the pack, tells it apart.
Each check is one bilingual PASS/FAIL row; a failing row names the file, line, seq or figure.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import integrity, oeecheck, packinputs, recompute, tablecheck

MANIFEST, SIGNATURE = integrity.MANIFEST, integrity.SIGNATURE
Check = integrity.Check
Pack = integrity.Pack
Unreadable = integrity.Unreadable


EXIT_PASS, EXIT_FAIL, EXIT_UNREADABLE, EXIT_NOT_PINNED = 0, 1, 2, 3


@dataclass
class Report:
    pack: str
    checks: list[Check] = field(default_factory=list)
    unpinned: Check | None = None  # without --trusted-key: the row saying the signer was not compared

    @property
    def ok(self) -> bool:
        """Every check made passed (the signer may still be unpinned: see `pinned`)."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def pinned(self) -> bool:
        return self.unpinned is None

    @property
    def exit_status(self) -> int:
        if not self.ok:
            return EXIT_FAIL
        return EXIT_PASS if self.pinned else EXIT_NOT_PINNED


# --- recomputation ------------------------------------------------------------------------------


def check_recompute(pack: Pack) -> list[Check]:
    """The figures recomputed from the pack's raw files (recompute.py) vs summary.json and the
    result tables (tablecheck.py); inputs that cannot be read fail with the file and line."""
    name = ("指标复算", "Metric recomputation")
    if pack.manifest is None:
        return [Check(*name, False, f"needs the window from {MANIFEST}")]
    entries = [integrity.as_written(e) for e in pack.entries or []]
    try:
        inp = packinputs.load_inputs(pack.root, pack.manifest, entries)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [Check(*name, False, f"inputs cannot be read: {exc}")]
    devs = recompute.devices(inp)
    items = recompute.findings(inp, devs, pack.root)
    try:
        items.append(oeecheck.finding(inp, pack.root))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        items.append(
            recompute.Finding("设备综合效率复算", "OEE recomputation", [f"cannot be read: {exc}"], "")
        )
    try:
        items.append(tablecheck.finding(inp, devs, pack.root))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        items.append(recompute.Finding("结果表复核", "Result tables", [f"cannot be read: {exc}"], ""))
    out = []
    for item in items:
        ok, detail = integrity.summarise(item.problems, item.passed)
        out.append(Check(item.name_zh, item.name_en, ok, detail))
    return out


# --- report -----------------------------------------------------------------------------------------


def verify_pack(path: Path | str, trusted_key: str | None = None) -> Report:
    """Every check of the pack at `path`; raises Unreadable when it is not a pack at all."""
    root = Path(path)
    pack = integrity.load(root)
    report = Report(str(root))
    steps: list[Callable[[Pack], Check | list[Check]]] = [
        integrity.check_files,
        integrity.check_signature,
        integrity.check_chain,
        integrity.check_checkpoints,
        check_recompute,
    ]
    if trusted_key is not None:
        steps.insert(2, lambda p: integrity.check_trusted(p, trusted_key))
    else:
        report.unpinned = integrity.unpinned(pack)
    for step in steps:
        try:
            result = step(pack)
        except Exception as exc:  # a damaged file must fail its check, not crash the verifier
            result = Check(
                "检查出错", f"Check error ({getattr(step, '__name__', 'check')})", False, repr(exc)
            )
        report.checks += result if isinstance(result, list) else [result]
    return report


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def render(report: Report) -> str:
    """A bilingual PASS/FAIL table, Chinese first."""
    rows = [("结果 Result", "检查 Check", "说明 Detail")]
    for c in report.checks:
        rows.append(("通过 PASS" if c.ok else "未通过 FAIL", f"{c.name_zh} {c.name_en}", c.detail))
    if report.unpinned is not None:
        u = report.unpinned
        rows.append(("未确认 NOT PINNED", f"{u.name_zh} {u.name_en}", u.detail))
    w0 = max(_width(r[0]) for r in rows)
    w1 = max(_width(r[1]) for r in rows)
    lines = [f"佐证材料包核验 Evidence pack verification: {report.pack}"]
    lines += [f"{_pad(a, w0)}  {_pad(b, w1)}  {c}" for a, b, c in rows]
    passed = f"{sum(c.ok for c in report.checks)}/{len(report.checks)}"
    if not report.ok:
        verdict = f"未通过 FAIL ({passed})"
    elif report.pinned:
        verdict = f"全部通过 ALL PASS ({passed})"
    else:
        verdict = (
            f"签名者未确认 SIGNER NOT PINNED ({passed} checks pass, but the signing key was not compared "
            "with the plant's: pass --trusted-key)"
        )
    lines.append(f"结论 Verdict: {verdict}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verify", description="Verify a shop-floor evidence pack offline."
    )
    parser.add_argument("pack", help="the pack directory (the folder holding manifest.json)")
    parser.add_argument(
        "--trusted-key",
        help="the plant's public key, obtained out of band: a PEM file, or its sha256:… fingerprint "
        "(an ed25519:… key id is accepted but compares 64 bits only)",
    )
    args = parser.parse_args(argv)
    try:
        report = verify_pack(args.pack, args.trusted_key)
    except (Unreadable, OSError) as exc:
        print(f"无法读取 Unreadable: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if callable(reconfigure):  # a GBK console cannot print every character: never crash on one
        reconfigure(errors="replace")
    sys.stdout.write(render(report))
    return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
