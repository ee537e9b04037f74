"""The upstream's bearer token file is read again once a minute: a projected service-account
token rotates under a running pod, and a file that cannot be read keeps the last token."""

from pathlib import Path

from adapter.upstream.credentials import TOKEN_REREAD_SECONDS, TokenFile


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_rotated_token_is_sent_after_the_next_reread(tmp_path: Path) -> None:
    path, clock = tmp_path / "token", Clock()
    path.write_text("first\n")
    tokens = TokenFile(path, field="upstream.external", source="test.yaml", clock=clock)
    path.write_text("second\n")
    assert await tokens.token() == "first"
    clock.now += TOKEN_REREAD_SECONDS
    assert await tokens.token() == "second"
    path.unlink()
    clock.now += TOKEN_REREAD_SECONDS
    assert await tokens.token() == "second"
