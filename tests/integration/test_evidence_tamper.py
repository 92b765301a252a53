"""Tamper evidence on a pack built from a real run (simulators → collector → historian → build_pack).

Changing any byte of any file, deleting a ledger line or re-signing with another key makes the
verifier fail and name the failing check; the pack's own verifier (python -m verify) does the same
with nothing but Python and `cryptography` on its path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.evidence.verify import verifier as verify
from collector.ledger import keys
from tests.support import tiny_pack
from tests.support.evidence import copy_pack, sample_pack

pytestmark = pytest.mark.integration

CHAIN = "11_audit/audit_chain.jsonl"
PUB = "checkpoints/signing_key.pub.pem"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_pack(tmp_path_factory.mktemp("evidence-run")).path


@pytest.fixture
def pack(built: Path, tmp_path: Path) -> Path:
    return copy_pack(built, tmp_path / built.name)


def failing(report: verify.Report) -> dict[str, str]:
    return {c.name_en: c.detail for c in report.checks if not c.ok}


def test_the_real_pack_verifies(built: Path) -> None:
    report = verify.verify_pack(built)
    assert failing(report) == {}, verify.render(report)


def _flip(path: Path, offset: int) -> bytes:
    data = path.read_bytes()
    changed = bytearray(data)
    changed[offset] ^= 0x20 if chr(changed[offset]).isalpha() else 0x01
    path.write_bytes(bytes(changed))
    return data


def test_one_changed_byte_in_any_file_fails(pack: Path) -> None:
    """Every file the manifest lists, the manifest itself, its signature and the public key: a flipped
    byte at the start, middle and end of each is caught by the check that owns the file."""
    listed = [item["path"] for item in json.loads((pack / "manifest.json").read_bytes())["files"]]
    assert PUB in listed and CHAIN in listed and "summary.json" in listed and "verify/verifier.py" in listed
    owner = {"manifest.json": "Manifest signature", "manifest.sig": "Manifest signature"}
    missed: list[str] = []
    for rel in [*listed, "manifest.json", "manifest.sig"]:
        path = pack / rel
        size = len(path.read_bytes())
        for offset in sorted({0, size // 2, size - 1}):
            original = _flip(path, offset)
            problems = failing(verify.verify_pack(pack))
            path.write_bytes(original)
            check = owner.get(rel, "File hashes")
            if check not in problems or (check == "File hashes" and rel not in problems[check]):
                missed.append(f"{rel}@{offset}: {sorted(problems)}")
    assert missed == []
    assert failing(verify.verify_pack(pack)) == {}  # every byte restored


def test_a_deleted_ledger_line_is_named_by_its_seq(pack: Path) -> None:
    path = pack / CHAIN
    lines = path.read_bytes().splitlines(keepends=True)
    victim = json.loads(lines[len(lines) // 2])["seq"]
    path.write_bytes(b"".join(line for line in lines if json.loads(line)["seq"] != victim))
    problems = failing(verify.verify_pack(pack))
    assert f"entries seq {victim} missing before seq {victim + 1}" in problems["Audit chain"]
    # A forger who also re-seals the manifest still cannot hide it.
    tiny_pack.reseal(pack, _collector_key_is_unknown())
    assert f"entries seq {victim} missing" in failing(verify.verify_pack(pack))["Audit chain"]


def _collector_key_is_unknown() -> Ed25519PrivateKey:
    """The forger does not hold the collector's private key: any key of their own."""
    return Ed25519PrivateKey.generate()


def test_signature_replaced_with_another_key(pack: Path) -> None:
    other = Ed25519PrivateKey.generate()
    data = (pack / "manifest.json").read_bytes()
    sig = {"alg": "Ed25519", "key_id": tiny_pack.key_id(other), "signature": tiny_pack.sign(other, data)}
    (pack / "manifest.sig").write_bytes(tiny_pack.dump(sig))
    problems = failing(verify.verify_pack(pack))
    assert set(problems) == {"Manifest signature"}
    assert "signature does not verify" in problems["Manifest signature"]


def test_signature_and_public_key_replaced(pack: Path) -> None:
    collector_key = (pack / PUB).read_bytes()
    other = Ed25519PrivateKey.generate()
    (pack / PUB).write_bytes(tiny_pack.public_pem(other))
    tiny_pack.reseal(pack, other)
    problems = failing(verify.verify_pack(pack))
    assert set(problems) == {"Checkpoint signatures"}  # hashes and the new signature hold…
    assert "signature does not verify" in problems["Checkpoint signatures"]  # …the collector's do not
    trusted = pack.parent / "collector.pub.pem"
    trusted.write_bytes(collector_key)
    assert "trusted key is" in failing(verify.verify_pack(pack, str(trusted)))["Trusted signer"]


def _crypto_only_path(folder: Path) -> Path:
    """A folder holding only `cryptography` and what it needs at run time (cffi), linked in."""
    folder.mkdir()
    for dist in ("cryptography", "cffi"):
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            continue
        tops = {
            f.parts[0]
            for f in files
            if not f.parts[0].endswith((".dist-info", ".pth")) and f.parts[0] != ".."
        }
        root = Path(str(metadata.distribution(dist).locate_file("")))
        for top in tops:
            if not (folder / top).exists():
                (folder / top).symlink_to(root / top)
    return folder


def _run_in_pack(
    pack: Path, crypto: Path, *args: str, flags: tuple[str, ...] = ("-B",)
) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages (so no collector, no .pth files); the only extra path is cryptography's.
    # -B is what the pack's README tells the evaluator to use.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(crypto), "LANG": "C.UTF-8"}
    cmd = [sys.executable, "-S", *flags, "-m", "verify", ".", *args]
    return subprocess.run(
        cmd, cwd=pack, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120
    )


@pytest.fixture
def crypto_only(tmp_path: Path) -> Iterator[Path]:
    yield _crypto_only_path(tmp_path / "site")


def test_in_pack_verifier_needs_only_python_and_cryptography(pack: Path, crypto_only: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-S", "-c", "import importlib.util as u; print(u.find_spec('collector'))"],
        cwd=crypto_only, env={"PYTHONPATH": str(crypto_only)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.strip() == "None"  # the collector is out of reach
    trusted = pack.parent / "plant.pub.pem"  # the plant's key, as the evaluator received it
    trusted.write_bytes((pack / PUB).read_bytes())
    unpinned = _run_in_pack(pack, crypto_only)
    assert unpinned.returncode == 3 and "SIGNER NOT PINNED" in unpinned.stdout, unpinned.stdout
    done = _run_in_pack(pack, crypto_only, "--trusted-key", str(trusted))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "全部通过 ALL PASS" in done.stdout
    assert done.stdout.index("文件哈希") < done.stdout.index("File hashes")
    assert not list(pack.rglob("__pycache__"))  # the run left the pack as it was
    # Without -B Python caches bytecode in verify/__pycache__: not taken for a foreign file.
    for _ in range(2):
        cached = _run_in_pack(pack, crypto_only, "--trusted-key", str(trusted), flags=())
        assert cached.returncode == 0 and "ALL PASS" in cached.stdout, cached.stdout + cached.stderr
    shutil.rmtree(pack / "verify" / "__pycache__")
    # A damaged pack fails with status 1; a pinned foreign key as well; no pack at all is status 2.
    _flip(pack / "summary.json", 10)
    damaged = _run_in_pack(pack, crypto_only, "--trusted-key", str(trusted))
    assert damaged.returncode == 1 and "未通过 FAIL" in damaged.stdout and "summary.json" in damaged.stdout
    pinned = _run_in_pack(pack, crypto_only, "--trusted-key", tiny_pack.key_id(Ed25519PrivateKey.generate()))
    assert pinned.returncode == 1 and "Trusted signer" in pinned.stdout
    (pack / "manifest.json").unlink()
    assert _run_in_pack(pack, crypto_only).returncode == 2


def _pack_key(built: Path) -> Ed25519PrivateKey:
    """The collector's own key (a forger who holds it can re-sign; the recomputation still tells)."""
    return keys.load_or_create(built.parents[1] / "data" / "keys" / "evidence-ed25519.pem")


def test_a_changed_or_removed_window_oee_row_fails_the_recomputation(pack: Path, built: Path) -> None:
    path = pack / "07_kpi" / "OEE_按日.csv"
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    (i,) = [n for n, line in enumerate(lines) if ",window," in line]
    cells = lines[i].split(",")
    pq = lines[0].split(",").index("产量(PQ)")
    cells[pq] = str(int(cells[pq]) + 5)
    path.write_bytes("\r\n".join([*lines[:i], ",".join(cells), *lines[i + 1 :]]).encode("utf-8-sig"))
    tiny_pack.reseal(pack, _pack_key(built))
    detail = failing(verify.verify_pack(pack))["OEE recomputation"]
    assert f"07_kpi/OEE_按日.csv line {i + 1}.PQ = " in detail
    path.write_bytes("\r\n".join([*lines[:i], *lines[i + 1 :]]).encode("utf-8-sig"))
    tiny_pack.reseal(pack, _pack_key(built))
    detail = failing(verify.verify_pack(pack))["OEE recomputation"]
    assert "no window row for plc-01" in detail


def _set_register_cell(pack: Path, code: str, column: str, value: str) -> int:
    """Rewrite one cell of 设备台账.csv (the row of equipment `code`); returns its line number."""
    path = pack / "01_device_register" / "设备台账.csv"
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    col = [c.rsplit("(", 1)[-1].rstrip(")") for c in lines[0].split(",")].index(column)
    (i,) = [n for n, line in enumerate(lines) if line.startswith(f"{code},")]
    cells = lines[i].split(",")
    cells[col] = value
    path.write_bytes("\r\n".join([*lines[:i], ",".join(cells), *lines[i + 1 :]]).encode("utf-8-sig"))
    return i + 1


def test_a_changed_register_cell_fails_even_when_resealed(pack: Path, built: Path) -> None:
    """Declaring the unconnected grinder digital in 设备台账.csv, or moving the meter into the production
    equipment, changes the recomputed indicators: re-signing the manifest does not hide it."""
    original = (pack / "01_device_register" / "设备台账.csv").read_bytes()
    _set_register_cell(pack, "MC-02", "is_digital", "true")
    tiny_pack.reseal(pack, _pack_key(built))
    problems = failing(verify.verify_pack(pack))
    assert "summary.json headline.digital = 1, recomputed 2" in problems["Plant indicators"]
    assert "undeclared" in problems["Result tables"]  # the row's own undeclared column no longer agrees
    (pack / "01_device_register" / "设备台账.csv").write_bytes(original)
    _set_register_cell(pack, "DB-01", "category", "production")
    tiny_pack.reseal(pack, _pack_key(built))
    problems = failing(verify.verify_pack(pack))
    assert "summary.json headline.devices_total = 2, recomputed 3" in problems["Plant indicators"]
