"""The payload codec on a real Temporal server: the server stores ciphertext, and a client
without the keys can neither read a goal nor forge an approval the worker accepts."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter

import omnihub.crypto
from omnihub.config import Settings, load_settings
from omnihub.crypto import EncryptionCodec, KeyRing, encrypted_data_converter, load_key_ring
from omnihub.errors import ConfigurationError, IntegrityError
from omnihub.events import EventStore, open_event_store
from omnihub.guard import Guard
from omnihub.plans import Plan, PlanStep
from omnihub.saga import (
    ApprovalDecision,
    SagaActivities,
    SagaClient,
    SagaOptions,
    build_worker,
    connect_temporal,
)
from omnihub.servers import EmbeddedTemporal
from omnihub.tools import IdempotencyLedger, ToolResources, default_registry, open_database, tool

SECRET_GOAL = "wire 9,999 EUR to the account of Ann Example"


def test_crypto_public_names() -> None:
    assert omnihub.crypto.__all__ == [
        "EncryptionCodec",
        "KeyRing",
        "encrypted_data_converter",
        "load_key_ring",
    ]


async def test_a_payload_round_trips_and_rotation_keeps_old_keys_decrypting() -> None:
    old = KeyRing.generate("k1")
    new = KeyRing((*old.keys, *KeyRing.generate("k2").keys))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"goal": "secret"}')
    [sealed] = await EncryptionCodec(old).encode([plain])
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert b"secret" not in sealed.SerializeToString()
    assert await EncryptionCodec(new).decode([sealed]) == [plain]
    assert EncryptionCodec(new).open(sealed) == plain
    [resealed] = await EncryptionCodec(new).encode([plain])
    assert resealed.metadata["encryption-key-id"] == b"k2"  # the newest key encrypts
    with pytest.raises(IntegrityError, match="unknown key 'k2'"):
        EncryptionCodec(old).open(resealed)


async def test_plaintext_tampered_and_relabelled_payloads_are_refused() -> None:
    ring = KeyRing((*KeyRing.generate("k1").keys, *KeyRing.generate("k2").keys))
    codec = EncryptionCodec(ring)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b"true")
    with pytest.raises(IntegrityError, match="not encrypted"):
        codec.open(plain)
    # Decoding never raises (that would fail a workflow task): no converter takes the result.
    [refused] = await codec.decode([plain])
    assert refused.metadata["encoding"] == b"binary/omnihub-refused"
    with pytest.raises(Exception, match="binary/omnihub-refused"):
        await encrypted_data_converter(ring).decode([plain])
    [sealed] = await codec.encode([plain])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(IntegrityError, match="authentication"):
        codec.open(tampered)
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata["encryption-key-id"] = b"k1"  # the key id is authenticated too
    with pytest.raises(IntegrityError):
        codec.open(relabelled)


def test_the_default_key_file_is_generated_once_with_mode_0600(omnihub_home: Path) -> None:
    settings = load_settings()
    ring = load_key_ring(settings)
    path = omnihub_home / "codec.keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_ring(settings) == ring  # found, not generated again
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="readable by others"):
        load_key_ring(settings)


def test_keys_from_settings_win_and_bad_ones_never_echo_the_key(tmp_path: Path) -> None:
    key, other = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    ring = load_key_ring(load_settings(codec_keys=SecretStr(f"a:{key}, b:{other}")))
    assert [key_id for key_id, _ in ring.keys] == ["a", "b"]
    assert ring.current[0] == "b"
    with pytest.raises(ConfigurationError) as caught:
        load_key_ring(load_settings(codec_keys=SecretStr(f"a{key}")))
    assert key not in str(caught.value)
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_key_ring(load_settings(codec_keys=SecretStr("a:" + base64.b64encode(b"x").decode())))
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated monthly\nold:{key}\n")
    key_file.chmod(0o600)
    assert load_key_ring(load_settings(codec_key_file=key_file)).current[0] == "old"


@dataclass
class _Stack:
    settings: Settings
    client: Client
    raw: Client
    sagas: SagaClient
    store: EventStore
    resources: ToolResources


@pytest.fixture
async def stack(temporal_server: EmbeddedTemporal, tmp_path: Path) -> AsyncIterator[_Stack]:
    """A worker and a client through connect_temporal (with the codec), and a raw client
    on the same server without the keys (what anyone on the machine could open)."""
    settings = load_settings(temporal_address=temporal_server.address)
    client = await connect_temporal(settings)
    raw = await Client.connect(temporal_server.address, data_converter=pydantic_data_converter)
    url = f"sqlite:///{tmp_path / 'events.db'}"
    store = open_event_store(url)
    database = open_database(url)
    with database.transaction() as cursor:
        cursor.execute(
            "CREATE TABLE orders (id TEXT PRIMARY KEY, tenant_id TEXT, sku TEXT, qty INTEGER)"
        )
    resources = ToolResources(
        ledger=IdempotencyLedger(database), database=database, allowed_tables=frozenset({"orders"})
    )
    write = default_registry().get("database_write")
    guarded = tool(name="guarded_write", side_effect=True, risk="red", requires_approval=True)(
        write.func
    )
    queue = f"q-{uuid.uuid4().hex[:8]}"
    registry = default_registry([guarded])
    activities = SagaActivities(registry, resources, store, guard=Guard.permitting(registry))
    sagas = SagaClient(client, task_queue=queue, options=SagaOptions(approval_timeout_s=60))
    try:
        async with build_worker(client, activities, task_queue=queue):
            yield _Stack(settings, client, raw, sagas, store, resources)
    finally:
        resources.close()
        store.close()


def _guarded_plan() -> Plan:
    return Plan(
        steps=[
            PlanStep(
                id="s1",
                tool="guarded_write",
                args={"table": "orders", "values": {"sku": "secret-sku", "qty": 1}},
            )
        ]
    )


async def _awaiting_approval(sagas: SagaClient, goal_id: str) -> None:
    async with asyncio.timeout(30):
        while not (await sagas.state(goal_id)).pending_approvals:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


def _orders(resources: ToolResources) -> list[dict[str, object]]:
    with resources.database.transaction() as cursor:
        cursor.execute("SELECT sku FROM orders")
        return cursor.fetchall()


async def test_the_server_stores_only_ciphertext(stack: _Stack) -> None:
    goal_id = await stack.sagas.start(SECRET_GOAL, _guarded_plan())
    await _awaiting_approval(stack.sagas, goal_id)
    handle = stack.raw.get_workflow_handle(stack.sagas.handle(goal_id).id)
    history = await handle.fetch_history()
    payloads = [
        payload
        for event in history.events
        for payloads in (event.workflow_execution_started_event_attributes.input,)
        for payload in payloads.payloads
    ]
    assert payloads, "the start event carries the goal"
    for payload in payloads:
        assert payload.metadata["encoding"] == b"binary/encrypted"
    raw_history = history.to_json()
    assert "Ann Example" not in raw_history
    assert "secret-sku" not in raw_history
    assert b"Ann Example" not in payloads[0].data
    # A client without the keys cannot read the goal's state either.
    with pytest.raises(Exception, match=r"(?i)encoding|decod"):
        await handle.query("state")
    # With the keys, everything reads as before.
    converter = encrypted_data_converter(load_key_ring(stack.settings))
    assert SECRET_GOAL in str(await converter.decode(payloads))


async def test_a_forged_approval_without_the_keys_is_not_accepted(stack: _Stack) -> None:
    goal_id = await stack.sagas.start(SECRET_GOAL, _guarded_plan())
    await _awaiting_approval(stack.sagas, goal_id)
    handle = stack.raw.get_workflow_handle(stack.sagas.handle(goal_id).id)
    forged = {"step_id": "s1", "approved": True, "decided_by": "mallory"}
    with pytest.raises(WorkflowUpdateFailedError):
        await asyncio.wait_for(handle.execute_update("decide", forged), timeout=20)
    assert _orders(stack.resources) == []
    events = [e.event_type for e in stack.store.read_stream("default", goal_id)]
    assert "ApprovalGranted" not in events
    assert "StepStarted" not in events
    # The real approver, with the keys, still decides.
    decision = ApprovalDecision(step_id="s1", approved=True, decided_by="ann")
    assert await stack.sagas.decide(goal_id, decision) == decision
    assert (await stack.sagas.result(goal_id)).status == "completed"
    assert _orders(stack.resources) == [{"sku": "secret-sku"}]


def test_workers_with_the_same_keys_derive_the_same_idempotency_secret(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = load_settings(codec_keys=SecretStr(f"k1:{key}"), home=tmp_path)
    first, second = (ToolResources.from_settings(settings) for _ in range(2))
    rotated = ToolResources.from_settings(
        load_settings(codec_keys=SecretStr(f"k1:{key},k2:{key[:-4]}AAA="), home=tmp_path)
    )
    other = ToolResources.from_settings(load_settings(home=tmp_path / "elsewhere"))
    try:
        assert first.key_secret == second.key_secret == rotated.key_secret
        assert other.key_secret != first.key_secret
        assert len(first.key_secret) == 32
    finally:
        for resources in (first, second, rotated, other):
            resources.close()
