"""Turkish end to end: from the user's Telegram language, from /language, and in the command menus."""

from __future__ import annotations

import json

from tests.e2e.conftest import KEY, BotEnv, Person, plain

LINK = "https://instagram.com/ayse"


async def say_all(person: Person, texts: list[str]) -> list[str]:
    """Type several messages in a row; the texts of the bot's replies."""
    before = len(person.tg.bot_messages(person.chat_id))
    for text in texts:
        await person.say(text)
    return [m.get("text", "") for m in person.tg.bot_messages(person.chat_id)[before:]]


async def test_telegram_language_tr_gets_turkish_everywhere(env: BotEnv) -> None:
    ayse = env.person(301, first_name="Ayşe", language="tr")
    await ayse.say("/start")
    assert "👋 Merhaba Ayşe!" in ayse.text
    assert "Panel bağla düğmesine basın" in ayse.text
    assert ayse.buttons() == ["🔗 Panel bağla"]

    await ayse.say("/help")
    text = ayse.text
    assert "Nasıl çalışır?" in text and "Komutlar" in text
    assert "/order [servis ID] — Sipariş ver" in text
    assert "/status <sipariş no> … — Sipariş numaralarının durumu" in text

    await ayse.say("/connect")
    assert "🔗 Panel bağlama" in ayse.text
    assert "Panelin API anahtarını bana gönderin" in ayse.text
    assert "✖️ İptal" in ayse.buttons()
    await ayse.say("kısa")
    assert "Bu bir API anahtarına benzemiyor" in ayse.text
    await ayse.say(KEY)
    assert "✅ Panel bağlandı" in ayse.recent_text() and "💰 Bakiye: 100.00 USD" in ayse.recent_text()
    linked = ayse.message_with_button("🛒 Yeni sipariş")
    assert {"🛒 Yeni sipariş", "📋 Siparişler", "💰 Bakiye", "🔎 Servisler"} <= set(ayse.buttons(linked))

    await ayse.say("/services")
    assert "📂 Servisler:" in ayse.text and "kategoride" in ayse.text
    await ayse.say("/services zzzqqq")
    assert "“zzzqqq” ile eşleşen bir şey yok." in ayse.text

    await ayse.say("/order 99999")
    assert "Panelinizde ID'si 99999 olan bir servis yok." in ayse.text
    await ayse.say("/cancel")
    assert ayse.text == "Sipariş iptal edildi."

    replies = await say_all(ayse, ["/order 1", "instagram.com/ayse", LINK, "10", "100"])
    assert "Adım 1/3" in replies[0] and "Sayfanın veya gönderinin bağlantısını gönderin" in replies[0]
    assert "Bu geçerli bir bağlantı değil." in replies[1]
    assert "Miktarı gönderin: 50 ile 10000 arasında bir tam sayı." in replies[2]
    assert "Miktar 50 ile 10000 arasında olmalıdır." in replies[3]  # quantity out of range
    assert "Drip-feed: tur sayısını gönderin" in replies[4]
    await ayse.press("Atla (drip-feed yok)")
    summary = plain(ayse.text)
    assert "🧾 Sipariş özeti" in summary and "Miktar: 100" in summary and "Fiyat: " in summary
    assert "bu siparişten sonra" in summary
    assert ayse.buttons() == ["✅ Onayla", "✏️ Düzenle", "✖️ İptal"]
    await ayse.press("✅ Onayla")
    assert "✅ Sipariş verildi." in ayse.text and "Beklemede" in ayse.text
    assert {"🔄 Yenile", "🔁 Tekrar sipariş ver", "📋 Siparişler"} <= set(ayse.buttons())
    assert env.panel.count("add") == 1


async def test_choosing_turkish_in_settings_overrides_telegram_english(env: BotEnv) -> None:
    bob = await env.connected(302, language="en")
    await bob.say("/help")
    assert "How it works" in bob.text
    await bob.say("/settings")
    await bob.press("Language")
    await bob.press("Türkçe")
    assert "⚙️ Ayarlar" in bob.text and "🌐 Dil: Türkçe" in bob.text
    assert "🔔 Düşük bakiye uyarısı" in bob.buttons()

    await bob.say("/help")
    assert "Nasıl çalışır?" in bob.text
    await bob.say("/order 1")
    assert "Adım 1/3" in bob.text
    await bob.say("/cancel")
    assert bob.text == "Sipariş iptal edildi."

    await bob.say("/language")
    assert "🌐 Bu sohbetin dilini seçin:" in bob.text and "✓ Türkçe" in bob.buttons()
    await bob.press("Otomatik")  # back to the Telegram language: English
    assert "⚙️ Settings" in bob.text


async def test_command_menus_are_published_in_turkish(env: BotEnv) -> None:
    await env.quiet()
    menus: dict[tuple[str, str | None], dict[str, str]] = {}
    for call in env.tg.calls("setMyCommands"):
        scope = call["scope"] if isinstance(call["scope"], dict) else json.loads(call["scope"])
        commands = call["commands"] if isinstance(call["commands"], list) else json.loads(call["commands"])
        menus[(scope["type"], call.get("language_code"))] = {c["command"]: c["description"] for c in commands}
    for scope in ("all_private_chats", "all_group_chats"):
        turkish, english = menus[(scope, "tr")], menus[(scope, None)]
        assert turkish.keys() == english.keys()
        assert turkish["order"] == "Sipariş ver" and english["order"] == "Place an order"
        assert turkish["services"] == "Servislere göz at ve ara"
        assert turkish["language"] == "Dili değiştir"
        assert turkish["help"] == "Bot nasıl kullanılır" and turkish["cancel"] == "Geçerli adımdan çık"
