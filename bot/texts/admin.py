"""Texts of the admin commands (seen only by ADMIN_IDS)."""

EN = {
    "cmd.stats": "Users, keys, tiers, usage and Stars",
    "cmd.grant": "Give a user a tier: /grant user_id tier days",
    "cmd.ban": "Block a user: /ban user_id",
    "cmd.unban": "Unblock a user: /unban user_id",
    "cmd.refund": "Refund a Stars payment: /refund charge_id",
    "cmd.broadcast": "Message every user: /broadcast text",
    # /stats
    "admin.stats": (
        "📊 <b>Statistics</b>\n"
        "Users: {users} (banned {banned}, blocked the bot {blocked})\n"
        "Active API keys: {keys}\n"
        "Tiers in force: Free {free} · Tier 1 {tier1} · Tier 2 {tier2}\n"
        "Today ({day}): 💬 {chat} · 🎨 {image} · 🎞 {gif}\n"
        "Stars this month: {stars} ⭐"
    ),
    "admin.stats_chart": "The last 30 days (UTC): active users, requests, Stars.",
    "admin.stats_chart_failed": "The 30-day chart could not be drawn this time (see the log).",
    "admin.stats_subs": (
        "Subscriptions renewing: Tier 1 {tier1} ({tier1_stars} ⭐ a month) · "
        "Tier 2 {tier2} ({tier2_stars} ⭐ a month)\n"
        "Renewals stopped this month: {canceled}"
    ),
    # /grant
    "admin.grant_usage": (
        "Usage: <code>/grant user_id tier days</code> — tier is free, tier1 or tier2; days 1–3650. "
        "The tier in force is extended, another tier starts now, free takes the tier away."
    ),
    "admin.granted": "✅ User <code>{user_id}</code> has {tier} until {expires} UTC.",
    "admin.granted_free": "✅ User <code>{user_id}</code> is back on Free.",
    "admin.unknown_user": (
        "No user <code>{user_id}</code> here (a user appears after writing to the bot)."
    ),
    # /ban /unban
    "admin.ban_usage": "Usage: <code>/ban user_id</code>",
    "admin.invalid_user_id": (
        "<code>{text}</code> is not a user id. A user id is a positive number written with "
        "the digits 0–9, at most 9223372036854775807."
    ),
    "admin.unban_usage": "Usage: <code>/unban user_id</code>",
    "admin.banned": (
        "🚫 User <code>{user_id}</code> is blocked; their API key is refused meanwhile."
    ),
    "admin.unbanned": "✅ User <code>{user_id}</code> is unblocked.",
    "admin.ban_admin": "An admin cannot be blocked.",
    # /refund
    "admin.refund_usage": "Usage: <code>/refund charge_id</code> (from the receipt)",
    "admin.refund_unknown": "No payment with charge id <code>{charge_id}</code>.",
    "admin.refund_twice": "Payment <code>{charge_id}</code> has already been refunded.",
    "admin.refund_failed": "Telegram refused the refund: {reason}",
    "admin.refunded": (
        "↩️ Refunded {amount} ⭐ to user <code>{user_id}</code>. Their tier now: {tier}."
    ),
    "admin.refunded_until": (
        "↩️ Refunded {amount} ⭐ to user <code>{user_id}</code>. "
        "Their tier now: {tier} until {expires} UTC."
    ),
    "admin.refund_was_done": "Telegram had already refunded it; the record is updated.",
    "admin.refund_renewal_stopped": "It was a subscription payment: its renewal is stopped.",
    "admin.refund_renewal_pending": (
        "It was a subscription payment: stopping its renewal did not get through yet; "
        "it is retried at the next start."
    ),
    "admin.unmatched_payment": (
        "⚠️ Payment <code>{charge_id}</code> of {amount} ⭐ from user <code>{user_id}</code> "
        "matches no invoice and was not credited. Refund it: <code>/refund {charge_id}</code>"
    ),
    # /broadcast
    "admin.broadcast_usage": (
        "Usage: <code>/broadcast text</code> — the text (with its formatting) goes to every user "
        "who is not blocked."
    ),
    "admin.broadcast_too_long": "The text is too long for one message ({length} of 4096).",
    "admin.broadcast_started": "📣 Broadcast #{id} started. Recipients: {total}.",
    "admin.broadcast_progress": (
        "📣 Broadcast #{id}: {done} of {total} — sent {sent}, not delivered {failed}."
    ),
    "admin.broadcast_resumed": (
        "📣 Broadcast #{id} resumed after a restart. Recipients left: {left} "
        "(sent {sent}, not delivered {failed} so far)."
    ),
    "admin.broadcast_done": (
        "✅ Broadcast #{id} finished: sent {sent}, not delivered {failed} "
        "(blocked the bot or unreachable)."
    ),
    "admin.broadcast_aborted": (
        "⛔ Broadcast #{id} stopped: Telegram refused the text ({reason}). Sent {sent} before that."
    ),
}

RU = {
    "cmd.stats": "Пользователи, ключи, тарифы, запросы и звёзды",
    "cmd.grant": "Выдать тариф: /grant user_id tier days",
    "cmd.ban": "Заблокировать: /ban user_id",
    "cmd.unban": "Разблокировать: /unban user_id",
    "cmd.refund": "Вернуть оплату звёздами: /refund charge_id",
    "cmd.broadcast": "Сообщение всем: /broadcast текст",
    "admin.stats": (
        "📊 <b>Статистика</b>\n"
        "Пользователи: {users} (заблокировано {banned}, заблокировали бота {blocked})\n"
        "Активные API-ключи: {keys}\n"
        "Действующие тарифы: Free {free} · Tier 1 {tier1} · Tier 2 {tier2}\n"
        "Сегодня ({day}): 💬 {chat} · 🎨 {image} · 🎞 {gif}\n"
        "Звёзды за месяц: {stars} ⭐"
    ),
    "admin.stats_chart": "Последние 30 дней (UTC): активные пользователи, запросы, звёзды.",
    "admin.stats_chart_failed": "График за 30 дней сейчас не построился (подробности в логе).",
    "admin.stats_subs": (
        "Подписки с продлением: Tier 1 {tier1} ({tier1_stars} ⭐ в месяц) · "
        "Tier 2 {tier2} ({tier2_stars} ⭐ в месяц)\n"
        "Продлений отключено за месяц: {canceled}"
    ),
    "admin.grant_usage": (
        "Формат: <code>/grant user_id tier days</code> — tier: free, tier1 или tier2; "
        "days 1–3650. Действующий тариф продлевается, другой начинается сразу, free снимает тариф."
    ),
    "admin.granted": "✅ У пользователя <code>{user_id}</code> {tier} до {expires} UTC.",
    "admin.granted_free": "✅ Пользователь <code>{user_id}</code> снова на бесплатном тарифе.",
    "admin.unknown_user": (
        "Пользователя <code>{user_id}</code> нет (он появляется, когда напишет боту)."
    ),
    "admin.ban_usage": "Формат: <code>/ban user_id</code>",
    "admin.invalid_user_id": (
        "<code>{text}</code> — не user id. User id — положительное число из цифр 0–9, "
        "не больше 9223372036854775807."
    ),
    "admin.unban_usage": "Формат: <code>/unban user_id</code>",
    "admin.banned": (
        "🚫 Пользователь <code>{user_id}</code> заблокирован, его API-ключ не принимается."
    ),
    "admin.unbanned": "✅ Пользователь <code>{user_id}</code> разблокирован.",
    "admin.ban_admin": "Администратора заблокировать нельзя.",
    "admin.refund_usage": "Формат: <code>/refund charge_id</code> (из квитанции)",
    "admin.refund_unknown": "Платежа с charge id <code>{charge_id}</code> нет.",
    "admin.refund_twice": "Платёж <code>{charge_id}</code> уже возвращён.",
    "admin.refund_failed": "Telegram отказал в возврате: {reason}",
    "admin.refunded": (
        "↩️ Возвращено {amount} ⭐ пользователю <code>{user_id}</code>. Его тариф: {tier}."
    ),
    "admin.refunded_until": (
        "↩️ Возвращено {amount} ⭐ пользователю <code>{user_id}</code>. "
        "Его тариф: {tier} до {expires} UTC."
    ),
    "admin.refund_was_done": "Telegram уже вернул этот платёж; запись обновлена.",
    "admin.refund_renewal_stopped": "Это был платёж подписки: её продление отключено.",
    "admin.refund_renewal_pending": (
        "Это был платёж подписки: отключить продление пока не удалось; "
        "повторим при следующем запуске."
    ),
    "admin.unmatched_payment": (
        "⚠️ Платёж <code>{charge_id}</code> на {amount} ⭐ от пользователя <code>{user_id}</code> "
        "не соответствует ни одному счёту и не начислен. Вернуть: "
        "<code>/refund {charge_id}</code>"
    ),
    "admin.broadcast_usage": (
        "Формат: <code>/broadcast текст</code> — текст (с оформлением) получат все "
        "незаблокированные пользователи."
    ),
    "admin.broadcast_too_long": "Текст слишком длинный для одного сообщения ({length} из 4096).",
    "admin.broadcast_started": "📣 Рассылка #{id} начата: получателей {total}.",
    "admin.broadcast_progress": (
        "📣 Рассылка #{id}: {done} из {total} — отправлено {sent}, не доставлено {failed}."
    ),
    "admin.broadcast_resumed": (
        "📣 Рассылка #{id} продолжена после перезапуска, осталось получателей: {left} "
        "(отправлено {sent}, не доставлено {failed})."
    ),
    "admin.broadcast_done": (
        "✅ Рассылка #{id} завершена: отправлено {sent}, не доставлено {failed} "
        "(заблокировали бота или недоступны)."
    ),
    "admin.broadcast_aborted": (
        "⛔ Рассылка #{id} остановлена: Telegram не принял текст ({reason}). "
        "До этого отправлено {sent}."
    ),
}
