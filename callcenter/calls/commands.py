"""Call control as commands for the call's own task.

An API handler (or any task other than the call's) never drives Asterisk on a
call: it puts a command into the conversation's inbox and awaits its future.
The call's task takes the commands one at a time, between the events it
watches, so a double-clicked hold or a transfer racing a supervisor's barge are
done one after the other, and a hang-up is never raced by another task.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from callcenter.directory import Destination
from callcenter.errors import CallCenterError

T = TypeVar("T")


class ConversationError(CallCenterError):
    title = "Call control refused"


class NoSuchConversation(ConversationError):
    title = "No conversation for this call"


class CallBusy(ConversationError):
    """The call's task did not get to the command in time: nothing was done."""

    title = "The call is busy"
    retry_after = 2


@dataclass(eq=False)
class Command(Generic[T]):
    """One request to the call's task; ``result`` resolves with what it did or
    with a ConversationError saying what did not happen."""

    result: asyncio.Future[T] = field(init=False, repr=False)
    taken: asyncio.Event = field(init=False, repr=False)  # the call's task started it

    def __post_init__(self) -> None:
        self.result = asyncio.get_running_loop().create_future()
        self.taken = asyncio.Event()

    @property
    def what(self) -> str:
        """The command in words, for refusals ("the hold was not done: ...")."""
        return type(self).__name__.lower()

    def refuse(self, reason: str) -> None:
        if not self.result.done():
            self.result.set_exception(ConversationError(f"{self.what} was not done: {reason}"))

    def withdraw(self) -> bool:
        """The sender gave up: drop the command if the call's task has not taken it.
        True when it is dropped (nothing was done)."""
        if self.taken.is_set():
            return False
        self.result.cancel()
        return True


@dataclass(frozen=True, slots=True)
class TransferDone:
    to: str  # what the call's record keeps (the number, or agent:ID)
    agents: list[str]  # the agents on the call once it is done


@dataclass(eq=False)
class Transfer(Command[TransferDone]):
    """Bring a destination in; blind: the agents leave once it answers."""

    destination: Destination
    blind: bool

    @property
    def what(self) -> str:
        mode = "transfer" if self.blind else "three-way call"
        return f"the {mode} to {self.destination.number or self.destination.key}"


@dataclass(eq=False)
class Hold(Command[bool]):
    """Music for the caller (on) or back to the agents (off); result: on hold or not."""

    on: bool

    @property
    def what(self) -> str:
        return "the hold" if self.on else "taking the caller off hold"


@dataclass(eq=False)
class Supervise(Command[str]):
    """A supervisor's seat listens, whispers or barges; result: their channel id."""

    mode: str
    seat: str

    @property
    def what(self) -> str:
        return f"the supervisor's {self.mode} from {self.seat}"


class CommandInbox:
    """Commands waiting for the call's task, in arrival order; closed when the
    conversation ends, which refuses what waits and whatever comes later."""

    def __init__(self) -> None:
        self._waiting: deque[Command[Any]] = deque()
        self._ready = asyncio.Event()
        self.closed: str | None = None  # why, once closed
        self.current: Command[Any] | None = None  # being done by the call's task

    def put(self, command: Command[T]) -> None:
        if self.closed is not None:
            command.refuse(self.closed)
            return
        self._waiting.append(command)
        self._ready.set()

    async def get(self) -> Command[Any]:
        """The next command its sender still waits for."""
        while True:
            while not self._waiting:
                self._ready.clear()
                await self._ready.wait()
            command = self._waiting.popleft()
            if not command.result.done():  # withdrawn ones are skipped
                return command

    def close(self, reason: str) -> None:
        self.closed = reason
        while self._waiting:
            self._waiting.popleft().refuse(reason)
