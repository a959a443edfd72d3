"""Texts of /key: the channel gate, the key shown once, its status, notices."""

EN = {
    "cmd.key": "Your personal API key",
    # the gate
    "key.gate": (
        "🔑 API keys are for subscribers of {channel}.\n\n"
        "Subscribe to the channel, then press «✅ I've subscribed»."
    ),
    "key.gate_inactive": (
        "⛔ Your API key <code>{prefix}…</code> is switched off because you are not subscribed "
        "to {channel}.\n\n"
        "Subscribe again and press «✅ I've subscribed»: the same key will work again."
    ),
    "key.gate_no_link": (
        "\n\nThe channel has no public link, so I can't give you one. "
        "Please ask the bot's owner for an invitation."
    ),
    "key.btn_subscribe": "📢 Subscribe",
    "key.btn_check": "✅ I've subscribed",
    "key.not_yet": "I don't see you in the channel yet. Subscribe first, then press the button.",
    # the key, shown once
    "key.issued": (
        "🔑 <b>Your API key</b>\n\n"
        "<tg-spoiler><code>{key}</code></tg-spoiler>\n\n"
        "⚠️ I show it <b>only once</b>: copy it now and keep it secret. "
        "It works while you are subscribed to {channel}."
    ),
    "key.issued_ungated": (
        "🔑 <b>Your API key</b>\n\n"
        "<tg-spoiler><code>{key}</code></tg-spoiler>\n\n"
        "⚠️ I show it <b>only once</b>: copy it now and keep it secret."
    ),
    # the status, later
    "key.status": (
        "🔑 <b>Your API key</b>\n\n"
        "Status: {state}\n"
        "Key: <code>{prefix}…</code>\n"
        "Created: {created} UTC\n"
        "Last used: {last_used}\n\n"
        "For your safety the full key is never shown again. Lost it? Regenerate it."
    ),
    "key.state_active": "✅ active",
    "key.state_inactive": "⛔ inactive — {reason}",
    "key.reason.left_channel": "you are not subscribed to the channel",
    "key.reason.revoked": "you revoked it",
    "key.reason.banned": "your access to the bot is blocked",
    "key.never_used": "never",
    "key.used_at": "{when} UTC",
    # actions
    "key.btn_regenerate": "🔄 Regenerate",
    "key.btn_revoke": "🗑 Revoke",
    "key.btn_new": "🔑 New key",
    "key.btn_yes_regenerate": "✅ Yes, regenerate",
    "key.btn_yes_revoke": "✅ Yes, revoke",
    "key.btn_cancel": "✖️ Cancel",
    "key.confirm_regenerate": (
        "🔄 Make a new key? Your current key <code>{prefix}…</code> stops working at once."
    ),
    "key.confirm_revoke": (
        "🗑 Revoke your key <code>{prefix}…</code>? It stops working at once; "
        "you can get a new one later with /key."
    ),
    "key.cancelled": "Nothing changed: your key stays as it was.",
    "key.revoked": "🗑 Your key <code>{prefix}…</code> is revoked and no longer works.",
    "key.stale": "This button is out of date: your key has changed since. Send /key.",
    "key.no_key": "You have no API key yet. Send /key to get one.",
    "key.private_only": "🔒 For your safety I only hand out API keys in a private chat: {bot}",
    # errors and notices
    "key.unavailable": (
        "🛠 API keys are temporarily unavailable: I can't check channel subscriptions right now. "
        "Please try again later."
    ),
    "key.notice.off": (
        "⛔ You left {channel}, so your API key is switched off. "
        "Subscribe again and it will work again."
    ),
    "key.notice.on": "✅ Welcome back to {channel}! Your API key works again.",
    # one line for /usage
    "key.usage.none": "🔑 API key: none yet (/key)",
    "key.usage.active": "🔑 API key: ✅ active (<code>{prefix}…</code>)",
    "key.usage.inactive": "🔑 API key: ⛔ inactive — {reason}",
}

RU = {
    "cmd.key": "Ваш личный API-ключ",
    "key.gate": (
        "🔑 API-ключи выдаются подписчикам {channel}.\n\n"
        "Подпишитесь на канал и нажмите «✅ Я подписался»."
    ),
    "key.gate_inactive": (
        "⛔ Ваш API-ключ <code>{prefix}…</code> отключён: вы не подписаны на {channel}.\n\n"
        "Подпишитесь снова и нажмите «✅ Я подписался» — тот же ключ снова заработает."
    ),
    "key.gate_no_link": (
        "\n\nУ канала нет публичной ссылки, поэтому я не могу её дать. "
        "Попросите приглашение у владельца бота."
    ),
    "key.btn_subscribe": "📢 Подписаться",
    "key.btn_check": "✅ Я подписался",
    "key.not_yet": "Я пока не вижу вас в канале. Сначала подпишитесь, затем нажмите кнопку.",
    "key.issued": (
        "🔑 <b>Ваш API-ключ</b>\n\n"
        "<tg-spoiler><code>{key}</code></tg-spoiler>\n\n"
        "⚠️ Я показываю его <b>только один раз</b>: скопируйте его сейчас и никому не "
        "показывайте. Ключ работает, пока вы подписаны на {channel}."
    ),
    "key.issued_ungated": (
        "🔑 <b>Ваш API-ключ</b>\n\n"
        "<tg-spoiler><code>{key}</code></tg-spoiler>\n\n"
        "⚠️ Я показываю его <b>только один раз</b>: скопируйте его сейчас и никому не "
        "показывайте."
    ),
    "key.status": (
        "🔑 <b>Ваш API-ключ</b>\n\n"
        "Статус: {state}\n"
        "Ключ: <code>{prefix}…</code>\n"
        "Создан: {created} UTC\n"
        "Последнее использование: {last_used}\n\n"
        "Ради безопасности полный ключ больше не показывается. Потеряли? Создайте новый."
    ),
    "key.state_active": "✅ активен",
    "key.state_inactive": "⛔ не активен — {reason}",
    "key.reason.left_channel": "вы не подписаны на канал",
    "key.reason.revoked": "вы его отозвали",
    "key.reason.banned": "ваш доступ к боту заблокирован",
    "key.never_used": "ещё не использовался",
    "key.used_at": "{when} UTC",
    "key.btn_regenerate": "🔄 Новый ключ взамен",
    "key.btn_revoke": "🗑 Отозвать",
    "key.btn_new": "🔑 Новый ключ",
    "key.btn_yes_regenerate": "✅ Да, заменить",
    "key.btn_yes_revoke": "✅ Да, отозвать",
    "key.btn_cancel": "✖️ Отмена",
    "key.confirm_regenerate": (
        "🔄 Создать новый ключ? Текущий ключ <code>{prefix}…</code> сразу перестанет работать."
    ),
    "key.confirm_revoke": (
        "🗑 Отозвать ключ <code>{prefix}…</code>? Он сразу перестанет работать; "
        "новый можно получить позже командой /key."
    ),
    "key.cancelled": "Ничего не изменилось: ваш ключ остался прежним.",
    "key.revoked": "🗑 Ключ <code>{prefix}…</code> отозван и больше не работает.",
    "key.stale": "Эта кнопка устарела: ваш ключ с тех пор изменился. Отправьте /key.",
    "key.no_key": "У вас ещё нет API-ключа. Отправьте /key, чтобы получить его.",
    "key.private_only": "🔒 Ради безопасности я выдаю API-ключи только в личном чате: {bot}",
    "key.unavailable": (
        "🛠 API-ключи временно недоступны: сейчас я не могу проверить подписку на канал. "
        "Попробуйте позже."
    ),
    "key.notice.off": (
        "⛔ Вы отписались от {channel}, поэтому ваш API-ключ отключён. "
        "Подпишитесь снова — и он снова заработает."
    ),
    "key.notice.on": "✅ С возвращением в {channel}! Ваш API-ключ снова работает.",
    "key.usage.none": "🔑 API-ключ: пока нет (/key)",
    "key.usage.active": "🔑 API-ключ: ✅ активен (<code>{prefix}…</code>)",
    "key.usage.inactive": "🔑 API-ключ: ⛔ не активен — {reason}",
}
