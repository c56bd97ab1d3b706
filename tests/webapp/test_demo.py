"""`make demo` prints a link that opens the Mini App in an ordinary browser as the demo user."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from bot.sandbox.chat import run_demo


async def test_demo_link_opens_the_app(tmp_path: Path, browser: Any) -> None:
    out = io.StringIO()
    seen: dict[str, Any] = {}

    class Script:
        """The person: connects a key, then opens the printed link in Chromium, then quits."""

        def __init__(self) -> None:
            self.lines = ["/connect\n", "demo-key-usd\n"]

        async def readline(self) -> str:
            if self.lines:
                return self.lines.pop(0)
            link = re.search(r"in a browser \(after /connect\): (\S+)", out.getvalue())
            assert link, out.getvalue()
            page = await browser.new_page()
            await page.goto(link.group(1))
            await page.wait_for_function("() => window.smmApp && window.smmApp.ready", timeout=15_000)
            seen["services"] = await page.locator("#services li").count()
            seen["first"] = await page.text_content("#services li .name")
            return ":quit\n"

    await run_demo(30, stdin=Script(), stdout=out, data_dir=tmp_path)
    assert seen["services"] == 30 and seen["first"]
