"""Admission of connections: caps in total and per client, the busy rule that still lets in a
client holding no connection, and the signal that a surge has drained."""

from __future__ import annotations

from adapter.serving.connection_guard import DRAINED_FROM, Admission, ConnectionLimits


def admission(**limits: float) -> tuple[Admission, list[str]]:
    refused: list[str] = []
    return Admission(ConnectionLimits(**limits), on_refused=refused.append), refused  # type: ignore[arg-type]


def test_per_client_and_total_caps() -> None:
    guard, refused = admission(max_connections=3, max_per_client=2, busy_share=1.0)
    assert guard.admit("a") and guard.admit("a")
    assert not guard.admit("a")
    assert guard.admit("b")
    assert not guard.admit("c")
    assert refused == ["client", "total"] and guard.open == 3
    guard.release("a")
    assert guard.admit("c")


def test_busy_with_handshakes_admits_only_clients_holding_none() -> None:
    guard, refused = admission(busy_handshakes=2)
    assert guard.admit("flood") and guard.admit("flood")
    guard.handshakes = 2
    assert not guard.admit("flood")
    assert guard.admit("kubelet"), "a client holding no connection gets in"
    assert not guard.admit("kubelet"), "but only one while busy"
    assert refused == ["busy", "busy"]
    guard.handshakes = 1
    assert guard.admit("flood")


def test_busy_near_the_cap() -> None:
    guard, refused = admission(max_connections=10, busy_share=0.5)
    for _ in range(5):
        assert guard.admit("flood")
    assert not guard.admit("flood") and guard.admit("probe")
    assert refused == ["busy"]


def test_a_drained_surge_is_signalled_once() -> None:
    drained: list[int] = []
    guard = Admission(ConnectionLimits(), on_drained=lambda: drained.append(guard.open))
    clients = [f"10.0.0.{index}" for index in range(DRAINED_FROM)]
    for client in clients:
        assert guard.admit(client)
    for client in clients:
        guard.release(client)
    assert drained == [DRAINED_FROM // 4]


def test_no_surge_no_signal() -> None:
    drained: list[int] = []
    guard = Admission(ConnectionLimits(), on_drained=lambda: drained.append(guard.open))
    for _ in range(3):
        assert guard.admit("a") and guard.admit("b")
        guard.release("a")
        guard.release("b")
    assert drained == []
