"""The messages of the control WebSocket (JSON, one per frame), both ways."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PATH = "/control"
PING = "/control/ping"


class Command(BaseModel):
    """The first message from the terminal: the command line and where it was typed."""

    argv: list[str] = Field(min_length=1)
    cwd: str
    tty: bool = False  # whether the terminal's stderr is a terminal (progress bars)
    width: int | None = None


class Line(BaseModel):
    """A line of the terminal's standard input, sent when the command asked for one ('' = end of input)."""

    line: str


class Output(BaseModel):
    """Text the command printed, on its stdout or stderr."""

    stream: Literal["out", "err"]
    text: str


class ReadLine(BaseModel):
    """The command waits for one line of standard input."""

    read: Literal[True] = True


class Exit(BaseModel):
    """The command ended with this exit code."""

    code: int


class Pong(BaseModel):
    """`GET /control/ping`: which process answers."""

    pid: int
