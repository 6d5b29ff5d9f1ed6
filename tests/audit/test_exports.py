"""Audit exports: the same bytes from the command and the API, a signed manifest, an
offline verifier that catches any edit, and a byte-identical backup and restore."""

from __future__ import annotations

import base64
import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from ledger import read, verify
from ledger.canonical import canonical_json
from ledger.demo import LEASE, ORBITAL
from ledger.signing import Signer
from ledger.unit_of_work import Ledger
from ledger.verify import canonical, event_hash, main, manifest_body
from tests import support
from tests.api.conftest import ApiClient, MakeClient, problem

VERIFY = [sys.executable, "-m", "ledger.verify"]


def export(tmp_path: Path, name: str = "ledger.jsonl", *args: str) -> tuple[Path, Path]:
    output = tmp_path / name
    call_command("export_audit", "--output", str(output), *args)
    return output, output.with_name(output.name + ".manifest.json")


def verifies(file: Path, manifest: Path | None = None, key: Path | None = None) -> tuple[int, str]:
    argv = [str(file)]
    if manifest is not None:
        argv += ["--manifest", str(manifest)]
    if key is not None:
        argv += ["--public-key", str(key)]
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue().strip()


@pytest.fixture
def public_key(tmp_path: Path) -> Path:
    path = tmp_path / "public.pem"
    path.write_text(Signer.from_pem(settings.LEDGER_SIGNING_KEY.encode()).public_pem())
    return path


def test_an_export_verifies_offline_with_its_signed_manifest(
    demo: Ledger, tmp_path: Path, public_key: Path
) -> None:
    file, manifest_path = export(tmp_path)
    lines = file.read_bytes().splitlines()
    assert len(lines) == demo.head().position
    first = json.loads(lines[0])
    assert set(first) == {
        "position",
        "event_id",
        "stream_id",
        "stream_version",
        "type",
        "schema_version",
        "effective_at",
        "recorded_at",
        "payload",
        "metadata",
        "prev_hash",
        "hash",
    }
    manifest = json.loads(manifest_path.read_text())
    head = demo.head()
    assert (manifest["count"], manifest["first_position"], manifest["last_position"]) == (
        head.position,
        1,
        head.position,
    )
    assert (manifest["head_position"], manifest["head_hash"]) == (head.position, head.hash)
    assert manifest["stream_versions"][f"contract-{LEASE}"] == 6
    # The command-line verifier: Python and cryptography only.
    result = subprocess.run(
        [*VERIFY, str(file), "--manifest", str(manifest_path), "--public-key", str(public_key)],
        capture_output=True,
        text=True,
        check=False,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"OK: {head.position} events")
    assert len(result.stdout.strip().splitlines()) == 1


def test_the_verifier_imports_nothing_but_the_standard_library_and_cryptography(
    demo: Ledger, tmp_path: Path, public_key: Path
) -> None:
    file, manifest = export(tmp_path)
    blocked = [
        "django",
        "sqlalchemy",
        "pydantic",
        "orjson",
        "rfc8785",
        "psycopg",
        "alembic",
        "ninja",
        "rich",
    ]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from ledger.verify import main\n"
        f"sys.exit(main([{str(file)!r}, '--manifest', {str(manifest)!r}, '--public-key', {str(public_key)!r}]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _mutations(lines: list[bytes]) -> list[tuple[str, list[bytes], set[int]]]:
    """(what, mutated lines, lines the verifier may name first; empty: the manifest's)."""
    found: list[tuple[str, list[bytes], set[int]]] = []
    for i, line in enumerate(lines):
        record = json.loads(line)
        edited = dict(record, payload={**record["payload"], "tampered": "yes"})
        found.append(
            (f"edit line {i + 1}", [*lines[:i], canonical(edited), *lines[i + 1 :]], {i + 1})
        )
        found.append(
            (
                f"byte edit line {i + 1}",
                [*lines[:i], line.replace(b'"', b"'", 1), *lines[i + 1 :]],
                {i + 1},
            )
        )
        found.append((f"delete line {i + 1}", [*lines[:i], *lines[i + 1 :]], set()))
        found.append((f"duplicate line {i + 1}", [*lines[: i + 1], line, *lines[i + 1 :]], {i + 2}))
        if i + 1 < len(lines):
            swapped = [*lines[:i], lines[i + 1], line, *lines[i + 2 :]]
            # The moved-up event is out of its stream's order, or the next one goes back.
            found.append((f"swap lines {i + 1} and {i + 2}", swapped, {i + 1, i + 2}))
    forged = json.loads(lines[-1])
    forged.update(
        position=forged["position"] + 1,
        stream_version=forged["stream_version"] + 1,
        prev_hash=forged["hash"],
    )
    from ledger.verify import event_hash

    forged["hash"] = event_hash(forged)
    found.append(("append a forged event", [*lines, canonical(forged)], set()))
    return found


def test_every_single_line_change_is_detected(
    demo: Ledger, tmp_path: Path, public_key: Path
) -> None:
    file, manifest = export(tmp_path)
    lines = file.read_bytes().splitlines()
    mutations = _mutations(lines)
    assert len(mutations) > 4 * len(lines)
    for what, mutated, named in mutations:
        file.write_bytes(b"\n".join(mutated) + b"\n")
        code, verdict = verifies(file, manifest, public_key)
        assert code == 1, f"{what}: {verdict}"
        if named:
            assert verdict.split(":")[0] in {f"FAILED at line {n}" for n in named}, what


def test_edits_and_reorders_are_detected_even_without_the_manifest(
    demo: Ledger, tmp_path: Path
) -> None:
    file, _ = export(tmp_path)
    lines = file.read_bytes().splitlines()
    for what, mutated, named in _mutations(lines):
        if not named:
            continue  # a deleted or appended event needs the manifest's count
        file.write_bytes(b"\n".join(mutated) + b"\n")
        code, verdict = verifies(file)
        assert code == 1, what
        assert verdict.split(":")[0] in {f"FAILED at line {n}" for n in named}, what


def test_a_line_deleted_inside_an_export_fails_without_the_manifest(
    demo: Ledger, tmp_path: Path
) -> None:
    """Without a manifest a gap fails, unless the auditor says the export was filtered by
    tenant (and then the line says how many gaps it accepted). Only a manifest sees lines
    cut from either end, and the OK line says so."""
    file, _ = export(tmp_path)
    lines = file.read_bytes().splitlines()
    assert verifies(file)[1].endswith("no manifest given: consistent in itself, its ends unproven")
    streams = [json.loads(line)["stream_id"] for line in lines]
    last_of_stream = {stream: index for index, stream in enumerate(streams)}
    gaps_only = 0
    for victim in range(1, len(lines) - 1):
        file.write_bytes(b"\n".join(lines[:victim] + lines[victim + 1 :]) + b"\n")
        code, verdict = verifies(file)
        assert code == 1, victim
        if last_of_stream[streams[victim]] != victim:
            continue  # the stream's next version jumps: caught with or without the flag
        gaps_only += 1
        assert verdict.startswith(
            f"FAILED at line {victim + 1}: position {victim + 2} follows {victim}: positions are"
            " missing"
        ), verdict
        assert main([str(file), "--filtered-by-tenant"]) == 0
    assert gaps_only >= 2

    file, _ = export(tmp_path, "anthropic.jsonl", "--tenant", "anthropic")
    assert verifies(file)[0] == 1
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(file), "--filtered-by-tenant"])
    assert code == 0
    assert "gaps accepted as tenant filtering" in out.getvalue()


def test_a_number_past_exact_json_is_a_failed_line_not_an_unreadable_file(
    demo: Ledger, tmp_path: Path
) -> None:
    """Exit status 1 says "forged at line N"; 2 would say the file could not be read."""
    jsonl, _ = export(tmp_path, "ledger.jsonl")
    lines = jsonl.read_bytes().splitlines()
    lines[2] = lines[2].replace(b'"position":3', b'"position":9007199254740993')
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    assert verifies(jsonl) == (
        1,
        "FAILED at line 3: integer 9007199254740993 is outside the exact JSON range",
    )

    csv_file, _ = export(tmp_path, "ledger.csv", "--format", "csv")
    header, first, *rest = csv_file.read_text().splitlines()
    csv_file.write_text("\n".join([header, "9007199254740993" + first[1:], *rest]) + "\n")
    assert verifies(csv_file) == (1, "FAILED at line 2: position is not a positive integer")


@pytest.mark.parametrize("spelling", [" 1", "1 ", "+1", "01", "0_1", "\uff11"])
def test_a_csv_integer_spelled_otherwise_fails_without_the_manifest(
    demo: Ledger, tmp_path: Path, spelling: str
) -> None:
    """CSV cells are text: the ledger writes an integer one way only, so another spelling
    of the same number (which `int` reads alike, so the hash still matches) is an edit.
    JSONL lines are held to canonical JSON as a whole."""
    file, _ = export(tmp_path, "ledger.csv", "--format", "csv")
    header, first, *rest = file.read_text().splitlines()
    assert first.startswith("1,")
    file.write_text("\n".join([header, spelling + first[1:], *rest]) + "\n")
    code, printed = verifies(file)
    assert (code, printed) == (1, f"FAILED at line 2: position {spelling!r} is not a plain integer")


def test_a_tampered_manifest_or_another_key_is_rejected(
    demo: Ledger, tmp_path: Path, public_key: Path
) -> None:
    file, manifest_path = export(tmp_path)
    manifest = json.loads(manifest_path.read_text())
    for field, value in (
        ("count", manifest["count"] + 1),
        ("head_hash", "0" * 64),
        ("filters", {"tenant": "x"}),
    ):
        manifest_path.write_text(json.dumps({**manifest, field: value}))
        code, verdict = verifies(file, manifest_path, public_key)
        assert (code, "signature" in verdict) == (1, True), field
    other = tmp_path / "other.pem"
    other.write_text(Signer.generate().public_pem())
    manifest_path.write_text(json.dumps(manifest))
    assert verifies(file, manifest_path, other)[0] == 1
    assert verifies(file, manifest_path, public_key)[0] == 0


@pytest.mark.parametrize(
    "text", ["null", "[1]", "false", "0", '""', '{"signature": 123}', '{"public_key": "\\ud800"}']
)
def test_a_manifest_that_is_no_signed_object_fails_and_is_never_skipped(
    demo: Ledger, tmp_path: Path, public_key: Path, text: str
) -> None:
    """`null` read as "no manifest given" and passed a cut, re-chained file; the others
    crashed."""
    file, manifest_path = export(tmp_path)
    manifest_path.write_text(text)
    code, verdict = verifies(file, manifest_path, public_key)
    assert code == 1
    assert verdict in (
        "FAILED at manifest: the manifest is not a JSON object",
        "FAILED at manifest: the manifest names another signing key",
    )


def test_a_csv_export_with_a_payload_past_the_csv_modules_default_limit_verifies(
    demo: Ledger, tmp_path: Path, admin: ApiClient, public_key: Path
) -> None:
    """The API takes commercial terms of 70 x 2,000 characters; the csv module's default
    field limit (128 KiB) made their export's verification a traceback."""
    terms = {f"clause-{n:02d}": "x" * 2_000 for n in range(70)}
    draft = {
        "provider": "spacex",
        "tenant": "anthropic",
        "facility": "colossus-1",
        "title": "long terms",
        "term": {"start": "2029-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
        "capacity": [{"resource": "gpu.h100", "quantity": "1", "unit": "gpu"}],
        "commercial_terms": terms,
    }
    assert admin.post("/contracts", draft).status_code == 201
    file, manifest = export(tmp_path, "ledger.csv", "--format", "csv")
    assert max(len(line) for line in file.read_text().splitlines()) > 131_072
    code, verdict = verifies(file, manifest, public_key)
    assert (code, verdict.endswith("signed manifest verified")) == (0, True), verdict


def test_lines_nested_too_deeply_are_one_line_answers(demo: Ledger, tmp_path: Path) -> None:
    """Too deep for the parser, or for canonical JSON: a failed line (exit 1), and for the
    import a one-line refusal, never a traceback."""
    csv_file, _ = export(tmp_path, "ledger.csv", "--format", "csv")
    rows = list(csv.reader(io.StringIO(csv_file.read_text(), newline="")))
    rows[1][8] = "[" * 50_000 + "]" * 50_000  # the payload cell
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    csv_file.write_text(out.getvalue(), newline="")
    assert verifies(csv_file) == (1, "FAILED at line 2: nested too deeply")

    file, _ = export(tmp_path)
    lines = file.read_bytes().splitlines()
    for depth in (700, 200_000):
        deep = b"[" * depth + b"]" * depth
        forged = lines[0].replace(b'"metadata":{', b'"deep":' + deep + b',"metadata":{')
        file.write_bytes(b"\n".join([forged, *lines[1:]]) + b"\n")
        code, verdict = verifies(file)
        assert code == 1, depth
        assert verdict.startswith("FAILED at line 1: "), verdict
        assert "nested too deeply" in verdict, verdict
        support.reset_ledger(demo.engine)
        with pytest.raises(CommandError, match=r"line 1: .*nested too deeply"):
            call_command("import_events", str(file))


def test_the_trusted_key_may_come_with_other_line_endings(
    demo: Ledger, tmp_path: Path, public_key: Path
) -> None:
    file, manifest = export(tmp_path)
    pem = public_key.read_text()
    for variant in (pem.rstrip("\n"), pem.replace("\n", "\r\n"), pem + "\n\n"):
        public_key.write_bytes(variant.encode())
        assert verifies(file, manifest, public_key)[0] == 0, repr(variant[-4:])


def test_a_manifest_re_signed_with_a_key_it_names_itself_is_rejected(
    demo: Ledger, tmp_path: Path, public_key: Path
) -> None:
    """A forger can sign a manifest with a key of their own and name that key in it: only
    the key the auditor trusts may decide, so a manifest without one is not checked."""
    file, manifest_path = export(tmp_path)
    manifest = json.loads(manifest_path.read_text())
    forger = Signer.generate()
    body = {k: v for k, v in manifest.items() if k != "signature"}
    body["public_key"] = forger.public_pem()
    manifest_path.write_text(json.dumps({**body, "signature": forger.sign(manifest_body(body))}))

    code, verdict = verifies(file, manifest_path, public_key)
    assert (code, verdict) == (1, "FAILED at manifest: the manifest names another signing key")
    # A key of a type the verifier cannot even load is another key, not a crash.
    unknown = base64.b64encode(bytes.fromhex("302a300506032a0304032100") + bytes(32)).decode()
    body["public_key"] = f"-----BEGIN PUBLIC KEY-----\n{unknown}\n-----END PUBLIC KEY-----\n"
    manifest_path.write_text(json.dumps({**body, "signature": forger.sign(manifest_body(body))}))
    code, verdict = verifies(file, manifest_path, public_key)
    assert (code, verdict) == (1, "FAILED at manifest: the manifest names another signing key")

    code, verdict = verifies(file, manifest_path)
    assert code == 2
    assert verdict.startswith("cannot check the manifest: --manifest needs --public-key")
    assert "\n" not in verdict


def test_a_tenant_export_holds_nothing_of_other_tenants(
    demo: Ledger, tmp_path: Path, admin: ApiClient, public_key: Path
) -> None:
    assert (
        admin.post(
            "/parties", {"id": "acme-ai", "name": "Acme AI", "roles": ["tenant"]}
        ).status_code
        == 201
    )
    file, manifest = export(tmp_path, "acme.jsonl", "--tenant", "acme-ai")
    [line] = file.read_bytes().splitlines()
    assert json.loads(line)["stream_id"] == "party-acme-ai"
    file, manifest = export(tmp_path, "anthropic.csv", "--tenant", "anthropic", "--format", "csv")
    rows = file.read_text().splitlines()[1:]
    streams = {row.split(",")[2] for row in rows}
    assert streams == {"party-anthropic", f"contract-{LEASE}", f"contract-{ORBITAL}"}
    assert verifies(file, manifest, public_key)[0] == 0


def test_the_api_streams_the_same_bytes_as_the_command(
    demo: Ledger, tmp_path: Path, make_client: MakeClient
) -> None:
    auditor = make_client("audit:export")
    for args, params in (
        ((), {}),
        (("--format", "csv", "--tenant", "anthropic"), {"format": "csv", "tenant": "anthropic"}),
        (
            ("--up-to", "10", "--from", "2020-01-01T00:00:00Z"),
            {"up_to": "10", "from": "2020-01-01T00:00:00Z"},
        ),
    ):
        file, manifest_path = export(tmp_path, "cli.out", *args)
        response = auditor.get("/audit/export", **params)
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        assert body == file.read_bytes(), args
        up_to = response["X-Ledger-Up-To"]
        manifest = auditor.get("/audit/export/manifest", **{**params, "up_to": up_to}).json()
        expected = json.loads(manifest_path.read_text())
        assert {k: v for k, v in manifest.items() if k not in ("generated_at", "signature")} == {
            k: v for k, v in expected.items() if k not in ("generated_at", "signature")
        }
    pem = ApiClient(None).get("/audit/public-key")
    assert pem.status_code == 200
    assert (
        pem.content.decode() == Signer.from_pem(settings.LEDGER_SIGNING_KEY.encode()).public_pem()
    )


def test_a_bound_key_exports_only_its_tenant(demo: Ledger, make_client: MakeClient) -> None:
    bound = make_client("audit:export", tenant="anthropic")
    body = b"".join(bound.get("/audit/export").streaming_content)
    assert {json.loads(line)["stream_id"].split("-")[0] for line in body.splitlines()} == {
        "party",
        "contract",
    }
    assert bound.get("/audit/export", tenant="spacex").status_code == 404


def test_export_then_import_then_export_is_byte_identical(demo: Ledger, tmp_path: Path) -> None:
    original, _ = export(tmp_path, "original.jsonl")
    as_of = demo.clock()
    before = _entitlements(demo, as_of)
    support.reset_ledger(demo.engine)
    call_command("import_events", str(original))
    again, _ = export(tmp_path, "again.jsonl")
    assert again.read_bytes() == original.read_bytes()
    assert demo.verify().ok
    assert _entitlements(demo, as_of) == before


def _entitlements(ledger: Ledger, as_of: Any) -> Any:
    with ledger.read() as conn:
        return read.entitlements(conn, "anthropic", as_of).model_dump(exclude={"known_at"})


def test_import_refuses_a_non_empty_ledger_and_writes_nothing(demo: Ledger, tmp_path: Path) -> None:
    original, _ = export(tmp_path)
    head = demo.head()
    with pytest.raises(CommandError, match="not empty"):
        call_command("import_events", str(original))
    assert demo.head() == head


def test_import_refuses_a_broken_file_and_writes_nothing(demo: Ledger, tmp_path: Path) -> None:
    original, _ = export(tmp_path)
    lines = original.read_bytes().splitlines()
    support.reset_ledger(demo.engine)
    broken = tmp_path / "broken.jsonl"
    for mutated, line in (
        (lines[:5] + lines[6:], 6),  # a deleted event
        ([lines[0].replace(b"SpaceX", b"SpaceY"), *lines[1:]], 1),
    ):
        broken.write_bytes(b"\n".join(mutated) + b"\n")
        with pytest.raises(CommandError, match=f"line {line}"):
            call_command("import_events", str(broken))
        assert demo.head().position == 0
    with demo.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ledger_events").scalar() == 0


def rechained(envelopes: list[dict[str, Any]]) -> bytes:
    """The envelopes with every hash recomputed: a forgery the chain alone cannot see."""
    previous = "0" * 64
    for envelope in envelopes:
        envelope["prev_hash"] = previous
        envelope["hash"] = previous = event_hash(envelope)
    return b"".join(canonical(envelope) + b"\n" for envelope in envelopes)


def forge(original: Path, change: Any) -> bytes:
    envelopes = [json.loads(line) for line in original.read_bytes().splitlines()]
    change(envelopes)
    return rechained(envelopes)


def _drop_a_required_field(envelopes: list[dict[str, Any]]) -> None:
    del next(e for e in envelopes if e["type"] == "PartyRegistered")["payload"]["name"]


def _start_a_stream_past_version_1(envelopes: list[dict[str, Any]]) -> None:
    for envelope in envelopes:
        if envelope["stream_id"] == "party-anthropic":
            envelope["stream_version"] += 4


def _unknown_type(envelopes: list[dict[str, Any]]) -> None:
    envelopes[3]["type"] = "PartyPromoted"


def _start_a_stream_mid_story(envelopes: list[dict[str, Any]]) -> None:
    first = next(e for e in envelopes if e["type"] == "ContractDrafted")
    first["type"], first["payload"] = "ContractVoided", {}


def _record_one_event_before_the_last(envelopes: list[dict[str, Any]]) -> None:
    """A recording time earlier than the event before it: a known_at timestamp would no
    longer be one prefix of the ledger, and a period export would skip a position."""
    envelopes[9]["recorded_at"] = "2000-01-01T00:00:00.000000Z"


def _spell_a_timestamp_otherwise(envelopes: list[dict[str, Any]]) -> None:
    envelopes[2]["effective_at"] = envelopes[2]["effective_at"].replace(".000000Z", "+00:00")


def _an_impossible_instant(envelopes: list[dict[str, Any]]) -> None:
    envelopes[2]["effective_at"] = "2026-02-30T25:61:61.000000Z"


def _a_version_spelled_true(envelopes: list[dict[str, Any]]) -> None:
    envelopes[2]["schema_version"] = True


def _a_position_spelled_true(envelopes: list[dict[str, Any]]) -> None:
    envelopes[0]["position"] = True


def _an_upper_case_event_id(envelopes: list[dict[str, Any]]) -> None:
    envelopes[2]["event_id"] = envelopes[2]["event_id"].upper()


def _an_event_id_that_is_no_uuid(envelopes: list[dict[str, Any]]) -> None:
    envelopes[2]["event_id"] = "not-a-uuid"


def _an_instant_at_the_end_of_time(envelopes: list[dict[str, Any]]) -> None:
    envelopes[0]["effective_at"] = "9999-12-31T23:59:59.999999Z"


def _metadata_that_is_no_text(envelopes: list[dict[str, Any]]) -> None:
    envelopes[2]["metadata"]["actor"] = 5


# A re-chained file whose every hash is right, holding a value in a form the ledger never
# writes: the database would store another form, and the ledger fail its own verification.
MISSPELLED = [
    (_an_instant_at_the_end_of_time, "line 1: position 1: effective_at is at or past the end"),
    (_metadata_that_is_no_text, "line 3: position 3: metadata holds a value that is not text"),
    (_an_impossible_instant, "line 3: position 3: effective_at is not a real instant"),
    (_a_version_spelled_true, "line 3: schema_version is not a positive integer"),
    (_a_position_spelled_true, "line 1: position is not a positive integer"),
    (_an_upper_case_event_id, "line 3: position 3: event_id is not a UUID in lower-case text"),
    (_an_event_id_that_is_no_uuid, "line 3: position 3: event_id is not a UUID in lower-case"),
]
MISSPELLED_IDS = [
    "end of time",
    "metadata not text",
    "impossible instant",
    "true version",
    "true position",
    "upper-case id",
    "no uuid",
]


def _metadata_the_ledger_does_not_know(envelopes: list[dict[str, Any]]) -> None:
    envelopes[2]["metadata"]["bogus"] = "x"


def _a_stream_id_not_its_aggregates(envelopes: list[dict[str, Any]]) -> None:
    for envelope in envelopes:
        if envelope["stream_id"] == "party-anthropic":
            envelope["stream_id"] = "party-anthropic "


def _an_allocation_id_the_ledger_does_not_write(envelopes: list[dict[str, Any]]) -> None:
    for envelope in envelopes:
        if "allocation_id" in envelope["payload"]:
            envelope["payload"]["allocation_id"] = "x/y"


# Well formed, but not what the ledger's own code writes: only the import, which holds the
# ledger's models, can tell.
NOT_THE_LEDGERS = [
    (_metadata_the_ledger_does_not_know, "line 3: metadata the ledger does not write"),
    (_a_stream_id_not_its_aggregates, "stream 'party-anthropic ' holds an event of"),
    (_an_allocation_id_the_ledger_does_not_write, "allocation_id"),
]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (_drop_a_required_field, "name"),
        (_start_a_stream_past_version_1, "starts at version 5, not 1"),
        (_unknown_type, "PartyPromoted"),
        (_start_a_stream_mid_story, "cannot be folded"),
        (_record_one_event_before_the_last, "line 10: position 10: recorded_at goes back"),
        (_spell_a_timestamp_otherwise, "line 3: position 3: effective_at is not a canonical"),
        *MISSPELLED,
        *NOT_THE_LEDGERS,
    ],
    ids=[
        "invalid payload",
        "stream past version 1",
        "unknown type",
        "stream mid-story",
        "recorded_at back in time",
        "timestamp spelled otherwise",
        *MISSPELLED_IDS,
        "metadata unknown",
        "stream of another aggregate",
        "allocation id with a slash",
    ],
)
def test_import_refuses_a_rechained_forgery_the_ledger_cannot_fold(
    demo: Ledger, tmp_path: Path, change: Any, error: str
) -> None:
    """Every hash of these files is right; their events are not. They used to be committed,
    then found out by the rebuild ("nothing imported"), and the append-only ledger could
    never be emptied again."""
    original, _ = export(tmp_path)
    support.reset_ledger(demo.engine)
    forged = tmp_path / "forged.jsonl"
    forged.write_bytes(forge(original, change))
    with pytest.raises(CommandError, match=error):
        call_command("import_events", str(forged))
    assert demo.head().position == 0
    with demo.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ledger_events").scalar() == 0
    call_command("import_events", str(original))  # the genuine file still restores
    assert demo.verify().ok


@pytest.mark.parametrize(
    ("change", "verdict"),
    [
        (
            _record_one_event_before_the_last,
            "FAILED at line 10: position 10: recorded_at goes back",
        ),
        (_spell_a_timestamp_otherwise, "FAILED at line 3: position 3: effective_at is not a"),
        *((change, f"FAILED at {error}") for change, error in MISSPELLED),
    ],
    ids=["recorded_at back in time", "timestamp spelled otherwise", *MISSPELLED_IDS],
)
def test_a_rechained_file_with_time_running_backwards_fails_verification(
    demo: Ledger, tmp_path: Path, change: Any, verdict: str
) -> None:
    original, _ = export(tmp_path)
    forged = tmp_path / "forged.jsonl"
    forged.write_bytes(forge(original, change))
    code, printed = verifies(forged)
    assert (code, printed[: len(verdict)]) == (1, verdict)


def test_import_never_commits_a_ledger_that_would_not_verify_as_stored(
    demo: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last check before the commit is the chain as the database stored it: with the
    file's field checks switched off, a version spelled `true` (stored as 1 on SQLite,
    refused by PostgreSQL) still never lands."""
    original, _ = export(tmp_path)
    support.reset_ledger(demo.engine)
    monkeypatch.setattr(verify, "_check_fields", lambda _number, _envelope: None)
    forged = tmp_path / "forged.jsonl"
    forged.write_bytes(forge(original, _a_version_spelled_true))
    with pytest.raises(CommandError, match=r"would not verify at position 3|database refused it"):
        call_command("import_events", str(forged))
    with demo.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ledger_events").scalar() == 0


def test_a_filtered_export_does_not_import(demo: Ledger, tmp_path: Path) -> None:
    tenant_file, _ = export(tmp_path, "t.jsonl", "--tenant", "anthropic")
    support.reset_ledger(demo.engine)
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_events", str(tenant_file))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_the_verifiers_canonical_json_is_the_ledgers(value: Any) -> None:
    assert canonical(value) == canonical_json(value)


def test_create_signing_key_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    call_command("create_signing_key", "--output", str(path))
    Signer.from_pem(path.read_bytes())
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("create_signing_key", "--output", str(path))
    call_command("create_signing_key", "--output", str(path), "--if-missing")


def test_an_up_to_past_the_head_is_409_position_in_future(
    demo: Ledger, make_client: MakeClient
) -> None:
    auditor = make_client("audit:export")
    head = demo.head().position
    assert auditor.get("/audit/export", up_to=str(head)).status_code == 200
    for path in ("/audit/export", "/audit/export/manifest"):
        body = problem(auditor.get(path, up_to=str(head + 1)), 409)
        assert body["type"] == "/api/v1/problems/position-in-future"
        assert body["errors"] == [{"loc": ["query", "up_to"], "msg": f"past the head ({head})"}]


def test_an_export_window_whose_to_is_not_after_its_from_is_422(
    demo: Ledger, make_client: MakeClient
) -> None:
    auditor = make_client("audit:export")
    for start, end in (
        ("2026-01-01T00:00:00Z",) * 2,
        ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
    ):
        for path in ("/audit/export", "/audit/export/manifest"):
            body = problem(auditor.get(path, **{"from": start, "to": end}), 422)
            assert body["errors"] == [{"loc": ["query", "to"], "msg": "must be after from"}]
