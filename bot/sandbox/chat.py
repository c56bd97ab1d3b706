"""`make demo`: the real bot, offline, in a terminal chat.

The panel simulator and the Bot API emulator run on loopback ports; the real Application (bot.app) polls the
emulator as it would poll Telegram. What the person types becomes a Telegram message; a bare number presses
that button of the bot's latest message with buttons. The bot's messages are printed as they arrive and again
when they are edited, by following the emulator's request log.

    asyncio.run(run_demo(services=300))               # stdin/stdout
    await run_demo(stdin=feeder, stdout=io.StringIO())  # tests: any object with an async `readline()`
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from bot.sandbox.botapi import MESSAGE_METHODS, BotApiEmulator
from bot.sandbox.panel import PanelSimulator
from bot.webapp.auth import sign_init_data

__all__ = ["run_demo"]

QUIT = {":quit", ":q", ":exit"}
# ANSI SGR codes per entity type (only used when the output is a terminal).
_STYLES = {
    "bold": "1",
    "italic": "3",
    "underline": "4",
    "strikethrough": "9",
    "spoiler": "2",
    "code": "36",
    "pre": "36",
    "text_link": "4",
    "url": "4",
}
_NUMBER = re.compile(r"\d{1,3}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rows(message: dict | None) -> list[list[dict]]:
    """The inline keyboard of a message, row by row."""
    return ((message or {}).get("reply_markup") or {}).get("inline_keyboard") or []


def _guide(services: int, key: str, balance: str) -> str:
    return (
        "SMM panel bot: offline demo\n"
        f"The real bot runs here against a simulated SMM panel ({services} services) and a Telegram\n"
        "emulator; nothing leaves this machine.\n"
        "\n"
        "  Type messages or /commands as in Telegram.\n"
        "  A number presses the button with that number on the bot's latest message that has buttons\n"
        "  (to send a number as text, put ' before it: '5).\n"
        "  /key shows the demo API key, :help this guide, :quit or Ctrl-D leaves.\n"
        "\n"
        f"Demo API key: {key} ({balance}); start with /connect and paste the key.\n"
    )


class _Reader:
    """Lines of text from a stream without blocking the event loop; '' at the end."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._async = inspect.iscoroutinefunction(getattr(stream, "readline", None))
        self._fd: int | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._buffer = b""
        if not self._async:
            with contextlib.suppress(AttributeError, OSError, ValueError, NotImplementedError):
                fd = stream.fileno()
                # add_reader only watches the descriptor (no O_NONBLOCK left on the terminal afterwards);
                # regular files and Windows loops refuse it and use the thread fallback below.
                asyncio.get_running_loop().add_reader(fd, self._readable)
                self._fd = fd

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            chunk = os.read(self._fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.close()
            if self._buffer:
                self._queue.put_nowait(self._buffer.decode("utf-8", "replace"))
            self._queue.put_nowait("")
            self._buffer = b""
            return
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._queue.put_nowait(line.decode("utf-8", "replace") + "\n")

    async def readline(self) -> str:
        if self._async:
            return await self.stream.readline()
        if self._fd is not None or not self._queue.empty():
            return await self._queue.get()
        return await asyncio.get_running_loop().run_in_executor(None, self.stream.readline)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
            self._fd = None


class Screen:
    """Writes the transcript; colours and a prompt only on a terminal."""

    PROMPT = "› "

    def __init__(self, out: IO[str], *, echo: bool) -> None:
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ
        self.echo = echo  # input is not typed on this terminal: print it so the transcript reads as a chat
        self.prompting = False
        # Text is wrapped so that the "│" bar runs down the whole message.
        columns = shutil.get_terminal_size((100, 24)).columns if self.tty else 90
        self.width = max(20, min(columns, 100) - 3)

    def c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.tty and text else text

    def write(self, text: str) -> None:
        if self.prompting and self.tty:
            self.out.write("\r\033[K")  # the bot spoke while the prompt was shown: put it below
        self.out.write(text if text.endswith("\n") else text + "\n")
        if self.prompting and self.tty:
            self.out.write(self.c("1;32", self.PROMPT))
        self.out.flush()

    def prompt(self) -> None:
        if self.tty and not self.echo:
            self.out.write(self.c("1;32", self.PROMPT))
            self.out.flush()
            self.prompting = True

    def said(self, line: str) -> None:
        self.prompting = False
        if self.echo:
            self.write(self.c("1;32", self.PROMPT) + line)

    def styled(self, text: str, entities: list[dict] | None) -> list[str]:
        """The text's lines, wrapped, with bold/italic/code... as terminal styles when colours are on."""
        styles: list[frozenset[str]] = [frozenset()] * len(text)
        if self.tty and entities:
            # Entity offsets count UTF-16 code units; map them to indexes of the Python string.
            index, units = {}, 0
            for i, ch in enumerate(text):
                index[units] = i
                units += 2 if ord(ch) > 0xFFFF else 1
            index[units] = len(text)
            for entity in entities:
                code = _STYLES.get(entity.get("type", ""))
                start = index.get(entity.get("offset", 0))
                end = index.get(entity.get("offset", 0) + entity.get("length", 0))
                if code and start is not None and end is not None:
                    styles[start:end] = [style | {code} for style in styles[start:end]]
        lines, at = [], 0
        for raw in text.split("\n"):
            chars = list(zip(raw, styles[at : at + len(raw)], strict=True))
            at += len(raw) + 1
            while len(chars) > self.width:  # break at the last space that fits, else anywhere
                cut = next((i for i in range(self.width, 0, -1) if chars[i][0] == " "), self.width)
                lines.append(self._paint(chars[:cut]))
                chars = chars[cut + 1 :] if chars[cut][0] == " " else chars[cut:]
            lines.append(self._paint(chars))
        return lines

    @staticmethod
    def _paint(chars: list[tuple[str, frozenset[str]]]) -> str:
        out, current = "", frozenset[str]()
        for ch, style in chars:
            if style != current:
                out += ("\033[0m" if current else "") + (f"\033[{';'.join(sorted(style))}m" if style else "")
                current = style
            out += ch
        return out + ("\033[0m" if current else "")


class TerminalChat:
    """One person's private chat with the bot, shown on a screen."""

    def __init__(self, emu: BotApiEmulator, screen: Screen, user_id: int, *, guide: str, keys: str) -> None:
        self.emu, self.screen, self.user_id, self.chat_id = emu, screen, user_id, user_id
        self.guide, self.keys = guide, keys
        self.app_link: str | None = None  # the Mini App as this user, for an ordinary browser
        self._cursor = 0  # next index of emu.requests to show
        self._active: int | None = None  # the message whose buttons were shown last
        self._mine: set[int] = set()  # ids of the person's messages

    # --- what the bot did ---
    def pump(self) -> None:
        """Show every finished bot request since the last call, in order."""
        requests, responses = self.emu.requests, self.emu.responses
        while self._cursor < len(requests) and responses[self._cursor] is not None:
            (method, params), answer = requests[self._cursor], responses[self._cursor]
            self._cursor += 1
            if answer is not None and answer.get("ok"):
                self._show(method, params, answer["result"])

    def _show(self, method: str, params: dict, result: Any) -> None:
        s = self.screen
        if method in MESSAGE_METHODS and isinstance(result, dict):
            if result.get("chat", {}).get("id") != self.chat_id:
                return
            if method == "editMessageReplyMarkup" and not _rows(result):
                self._active = None if self._active == result["message_id"] else self._active
                s.write(s.c("2", f"  (the buttons of #{result['message_id']} were removed)"))
            else:
                self._show_message(result, edited=method.startswith("edit"))
        elif method in ("deleteMessage", "deleteMessages") and str(params.get("chat_id")) == str(
            self.chat_id
        ):
            ids = params.get("message_ids") or [params.get("message_id")]
            for message_id in ids if isinstance(ids, list) else [ids]:
                whose = "your message" if message_id in self._mine else f"message #{message_id}"
                s.write(s.c("2", f"  ({whose} was deleted)"))
        elif method == "answerCallbackQuery" and params.get("text"):
            mark = "⚠" if params.get("show_alert") else "»"
            s.write(s.c("33", f"  {mark} {params['text']}"))

    def _show_message(self, message: dict, *, edited: bool) -> None:
        s = self.screen
        head = f"┌ {self.emu.bot_name} · #{message['message_id']}" + (" (edited)" if edited else "")
        lines = [s.c("1;34", head)]
        document = message.get("document")
        if document:
            size = document.get("file_size", 0)
            lines.append(s.c("2", "│ ") + f"📎 {document.get('file_name', 'file')} ({size} bytes)")
        if "text" in message:
            body = s.styled(message["text"], message.get("entities"))
        else:
            body = s.styled(message.get("caption") or "", message.get("caption_entities"))
        lines += [s.c("2", "│ " if line else "│") + line for line in body if document is None or line]
        rows = _rows(message)
        if rows:
            lines.append(s.c("2", "│"))
            number = 0
            for row in rows:
                cells = []
                for button in row:
                    number += 1
                    label = button["text"] + (" ↗" if "url" in button or "web_app" in button else "")
                    cells.append(s.c("1;36", f"[{number}]") + f" {label}")
                lines.append(s.c("2", "│ ") + "   ".join(cells))
            self._active = message["message_id"]
        elif message["message_id"] == self._active:
            self._active = None
        lines.append(s.c("2", "└"))
        s.write("\n".join(lines))

    def _buttons_message(self) -> dict | None:
        if self._active is not None:
            message = self.emu.find_message(self.chat_id, self._active)
            if message is not None and _rows(message):
                return message
        for message in reversed(self.emu.bot_messages(self.chat_id)):
            if _rows(message):
                return message
        return None

    # --- what the person does ---
    async def handle(self, line: str) -> bool:
        """Act on one typed line; False when the person leaves."""
        text = line.strip()
        if text in QUIT:
            return False
        if text == ":help":
            self.screen.write(self.guide)
            return True
        if text in ("/key", ":key"):
            self.screen.write(self.screen.c("33", f"  Demo API keys: {self.keys}"))
            return True
        if not text:
            return True
        mark = self.emu.mark()
        if text.startswith("'"):
            self._say(text[1:])
        elif not self._press(text):
            self._say(text)
        if self.emu.mark() > mark or self.emu.pending_updates:
            await self.settle(mark)
        return True

    def _say(self, text: str) -> None:
        message = self.emu.send_text(self.chat_id, self.user_id, text)
        if message is not None:
            self._mine.add(message["message_id"])

    def _press(self, text: str) -> bool:
        """Press button number `text` if there is one; True when the line was used up."""
        message = self._buttons_message() if _NUMBER.fullmatch(text) else None
        if message is None:
            return False
        buttons = [b for row in _rows(message) for b in row]
        if not 1 <= int(text) <= len(buttons):
            return False
        button = buttons[int(text) - 1]
        s = self.screen
        if "callback_data" in button:
            self.emu.press_button(self.chat_id, message["message_id"], button["callback_data"], self.user_id)
        elif "web_app" in button:
            s.write(s.c("33", f"  📱 Open the app in a browser: {self.app_link or button['web_app']['url']}"))
        elif "url" in button:
            deep = re.fullmatch(rf"(?:https?://)?t\.me/{self.emu.bot_username}\?start=(\S+)", button["url"])
            if deep:
                self._say(f"/start {deep.group(1)}")
            else:
                s.write(s.c("33", f"  🔗 {button['url']} (a link: open it in a browser)"))
        else:
            s.write(s.c("33", "  (this kind of button does nothing in the demo)"))
        return True

    async def settle(self, mark: int, *, first: float = 15.0, idle: float = 0.3) -> None:
        """Wait until the bot has reacted (or `first` seconds passed) and then made no request for `idle`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + first
        while len(self.emu.requests) <= mark and loop.time() < deadline:
            self.pump()
            await asyncio.sleep(0.02)
        count, since = -1, loop.time()
        deadline = loop.time() + 30
        while loop.time() < deadline:
            self.pump()
            if len(self.emu.requests) != count:
                count, since = len(self.emu.requests), loop.time()
            elif not self.emu.pending_updates and loop.time() - since >= idle:
                break
            await asyncio.sleep(0.02)
        self.pump()

    async def follow(self) -> None:
        """Show what the bot does by itself (notifications) while the person is thinking."""
        while True:
            self.pump()
            await asyncio.sleep(0.1)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextlib.contextmanager
def _quiet_logging(log_file: Path, errors: _Errors) -> Iterator[None]:
    """Everything logged goes to `log_file`, nothing to the terminal; `errors` counts the errors."""
    root = logging.getLogger()
    saved = [(h, h.level) for h in root.handlers]
    saved_level = root.level
    for handler, _ in saved:
        handler.setLevel(logging.CRITICAL + 1)
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    root.addHandler(errors)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(file_handler)
        root.removeHandler(errors)
        file_handler.close()
        root.setLevel(saved_level)
        for handler, level in saved:
            handler.setLevel(level)


async def run_demo(
    services: int = 300,
    *,
    stdin: Any = None,
    stdout: IO[str] | None = None,
    user_id: int = 1001,
    first_name: str = "You",
    language: str = "en",
    data_dir: Path | None = None,
    on_ready: Callable[[BotApiEmulator, PanelSimulator], Awaitable[None] | None] | None = None,
) -> None:
    """Run the whole bot offline and chat with it until EOF or `:quit`.

    stdin: a text stream (default sys.stdin) or any object with an async `readline()` returning '' at the end.
    data_dir: where the database and the log go (default: a temporary directory, removed afterwards unless
    errors were logged). on_ready: called with the emulator and the simulator once the bot runs (tests).
    """
    source = stdin if stdin is not None else sys.stdin
    typed = bool(getattr(source, "isatty", lambda: False)())
    screen = Screen(stdout if stdout is not None else sys.stdout, echo=not typed)
    screen.write(screen.c("2", "Starting the panel simulator, the Telegram emulator and the bot..."))
    work = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="smmbot-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    errors = _Errors()
    try:
        with _quiet_logging(work / "demo.log", errors):
            running = _running_bot(services, work, user_id, first_name, language)
            async with running as (emu, sim, app_link):
                if on_ready is not None and inspect.isawaitable(ready := on_ready(emu, sim)):
                    await ready
                await _chat(emu, sim, screen, source, user_id, services, app_link)
    finally:
        if errors.count:
            screen.write(f"({errors.count} error(s) were logged; the log is kept in {work / 'demo.log'})")
        elif data_dir is None:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.asynccontextmanager
async def _running_bot(
    services: int, work: Path, user_id: int, first_name: str, language: str
) -> AsyncIterator[tuple[BotApiEmulator, PanelSimulator, str]]:
    """The simulator, the emulator and the real Application polling it, started as run_polling does; and
    the link that opens the Mini App (served by the bot on a loopback port) as the demo user."""
    # Imported here, after logging is redirected: registering the handlers may warn.
    from bot.app import build_application, start_in_loop, stop_in_loop
    from bot.config import load_settings
    from storage.db import migrate, sqlite_url_for

    # The simulator's clock runs fast enough that orders visibly move during a short session.
    sim = PanelSimulator(services=services, pending_seconds=5, seconds_per_1000=30, status_lag=1.0)
    emu = BotApiEmulator(bot_username="smm_demo_bot", bot_name="SMM Panel Bot")
    app = None
    try:
        await sim.start()
        await emu.start()
        emu.add_user(user_id, first_name, language_code=language)
        emu.add_private_chat(user_id)
        port = _free_port()
        settings = load_settings(
            TELEGRAM_BOT_TOKEN=emu.token,
            SMMBOT_TELEGRAM_API_URL=emu.url,
            SMMBOT_PANEL_URL=sim.url,
            SMMBOT_ALLOWED_PANELS=sim.url,
            SMMBOT_DATA_DIR=str(work),
            SMMBOT_DATABASE_URL=sqlite_url_for(work),
            SMMBOT_ADMIN_IDS=str(user_id),  # the demo user is an operator too: /stats works
            SMMBOT_POLL_INTERVAL="5",
            SMMBOT_BALANCE_INTERVAL="15",
            SMMBOT_WEBHOOK_URL="",
            SMMBOT_LISTEN=f"127.0.0.1:{port}",
            SMMBOT_WEBAPP_URL=f"http://127.0.0.1:{port}/app",
        )
        await migrate(settings.database_url)
        app = build_application(settings)
        await start_in_loop(app)
        user = {"id": user_id, "first_name": first_name, "language_code": language}
        init_data = sign_init_data(emu.token, user)  # signed with the demo's token, as Telegram signs it
        yield emu, sim, f"{settings.webapp_url}/#tgWebAppData={quote(init_data, safe='')}&tgWebAppVersion=8.0"
    finally:
        if app is not None:
            await stop_in_loop(app)
        await emu.stop()
        await sim.stop()


async def _chat(
    emu: BotApiEmulator,
    sim: PanelSimulator,
    screen: Screen,
    source: Any,
    user_id: int,
    services: int,
    app_link: str | None = None,
) -> None:
    keys = ", ".join(
        f"{key} ({sim.balance_of(key).normalize():f} {sim.currency_of(key)})"
        for key in (sim.DEFAULT_KEY, "demo-key-rub", "demo-key-poor")
    )
    key = sim.DEFAULT_KEY
    balance = f"{sim.balance_of(key).normalize():f} {sim.currency_of(key)}"
    guide = _guide(services, key, balance)
    chat = TerminalChat(emu, screen, user_id, guide=guide, keys=keys)
    chat.app_link = app_link
    screen.write(guide)
    if app_link:
        screen.write(screen.c("33", f"The Mini App, as you, in a browser (after /connect): {app_link}"))
    reader = _Reader(source)
    follower = asyncio.create_task(chat.follow(), name="demo-follow")
    try:
        while True:
            screen.prompt()
            line = await reader.readline()
            if not line:  # EOF (Ctrl-D)
                screen.prompting = False
                screen.write("")
                break
            line = line.rstrip("\r\n")
            screen.said(line)
            if not await chat.handle(line):
                break
        chat.pump()
    finally:
        reader.close()
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    screen.write(screen.c("2", "Bye."))
