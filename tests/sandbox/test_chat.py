"""The terminal chat of `make demo`, driven by scripted input; assertions on the printed transcript."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.chat import Screen, run_demo
from bot.sandbox.panel import PanelSimulator

KEY = PanelSimulator.DEFAULT_KEY
ANSI = re.compile(r"\033\[[\d;]*m")


class Script:
    """Typed lines, one per readline; '' (EOF) at the end."""

    def __init__(self, *lines: str) -> None:
        self.lines = list(lines)

    async def readline(self) -> str:
        return self.lines.pop(0) + "\n" if self.lines else ""


class Seen:
    """Keeps the emulator and the simulator of the demo for looking at them afterwards."""

    emu: BotApiEmulator
    sim: PanelSimulator

    def __call__(self, emu: BotApiEmulator, sim: PanelSimulator) -> None:
        self.emu, self.sim = emu, sim


def after(transcript: str, line: str) -> str:
    """The part of the transcript after the person typed `line` (up to the next typed line)."""
    part = transcript.split(f"› {line}\n", 1)[1]
    return part.split("\n› ", 1)[0]


async def test_a_session_connect_browse_press_a_button(tmp_path: Path) -> None:
    out, seen = io.StringIO(), Seen()
    script = Script("/start", "/connect", KEY, "/balance", "/services", "1", ":quit", "/never-sent")
    await run_demo(30, stdin=script, stdout=out, data_dir=tmp_path, on_ready=seen)
    transcript = out.getvalue()

    # The guide, with the key to paste.
    assert "offline demo" in transcript and "/connect" in transcript and KEY in transcript
    assert ":quit" in transcript and "/key" in transcript
    # Typed lines are echoed (the input is not a terminal) and the bot's messages are shown as blocks.
    assert "› /start\n┌ SMM Panel Bot · #" in transcript
    assert after(transcript, "/start").strip().startswith("┌ SMM Panel Bot")
    # The key was linked: the panel was asked with it, and /balance shows the simulator's 100 USD.
    assert seen.sim.count("balance") >= 1
    assert "100" in after(transcript, "/balance")
    # The message with the key was deleted by the bot, and the transcript says so.
    assert "(your message was deleted)" in after(transcript, KEY)
    # /services shows numbered buttons; "1" pressed the first one, which edited the message in place.
    services = after(transcript, "/services")
    assert re.search(r"^│ \[1\] ", services, re.M), services
    pressed = after(transcript, "1")
    assert "(edited)" in pressed, pressed
    assert seen.emu.callback_answers, "the button press reached the bot and was answered"
    # :quit left: the line after it was never sent, and the demo said goodbye.
    assert "/never-sent" not in transcript and transcript.rstrip().endswith("Bye.")
    assert not ANSI.search(transcript), "no colours when the output is not a terminal"


async def test_a_plain_text_stream_local_commands_and_eof(tmp_path: Path) -> None:
    """A text stream as stdin (read off the event loop), /key and :help, numbers without buttons, EOF."""
    out, seen = io.StringIO(), Seen()
    stdin = io.StringIO("/key\n:help\n'7\n7\n")
    await run_demo(10, stdin=stdin, stdout=out, data_dir=tmp_path, on_ready=seen, user_id=4242)
    transcript = out.getvalue()
    assert "demo-key-usd (100 USD), demo-key-rub (50000 RUB), demo-key-poor (0.05 USD)" in after(
        transcript, "/key"
    )
    assert "offline demo" in after(transcript, ":help")
    # '7 sends the text "7"; a bare 7 with no seventh button is sent as text too.
    texts = [u["message"].get("text") for u in seen.emu.delivered_updates if "message" in u]
    assert texts == ["7", "7"]
    assert transcript.rstrip().endswith("Bye.")  # EOF ends the session like :quit


async def test_a_pipe_as_stdin(tmp_path: Path) -> None:
    """A pipe (what `printf ... | smmbot demo` gives) is watched by the event loop, not read in a thread."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"/start\n:quit\n")
    os.close(write_end)
    out = io.StringIO()
    with open(read_end, encoding="utf-8") as stdin:  # noqa: ASYNC230 (a pipe: nothing to wait for)
        await run_demo(10, stdin=stdin, stdout=out, data_dir=tmp_path)
    assert "› /start\n┌ SMM Panel Bot" in out.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_styles_and_wrapping_on_a_terminal_only() -> None:
    text = "Order 😀 #12\nprice 1.50"
    # Offsets in UTF-16 units: the emoji counts twice, so "#12" starts at 9.
    entities = [{"type": "bold", "offset": 9, "length": 3}, {"type": "code", "offset": 19, "length": 4}]
    plain = Screen(io.StringIO(), echo=True)
    assert plain.styled(text, entities) == ["Order 😀 #12", "price 1.50"]
    os.environ.pop("NO_COLOR", None)
    terminal = Screen(Terminal(), echo=False)
    assert terminal.styled(text, entities) == ["Order 😀 \033[1m#12\033[0m", "price \033[36m1.50\033[0m"]
    # Long lines are wrapped at a space so that the bar in front of each line continues.
    plain.width = 10
    assert plain.styled("aaaa bbbb cccc dddddddddddddd", None) == ["aaaa bbbb", "cccc", "dddddddddd", "dddd"]


def test_the_prompt_moves_below_what_the_bot_says_on_a_terminal() -> None:
    out = Terminal()
    screen = Screen(out, echo=False)
    screen.prompt()
    screen.write("┌ a notification")
    assert out.getvalue().endswith("\r\033[K┌ a notification\n\033[1;32m› \033[0m")
