"""Texts of premium tiers, payments, the trial, reminders and the key line of /usage.

Pre-checkout reasons (``premium.pc_*``) are shown by Telegram as plain text: no HTML there.
"""

EN = {
    "cmd.premium": "Premium tiers and the free trial",
    # /premium
    "premium.title": "⭐ <b>Premium</b>",
    "premium.tier_line": "<b>{name}</b> — {price}\n{limits}",
    "premium.price_free": "free",
    "premium.price_stars": "{amount} ⭐ / {days} days",
    "premium.limits": "💬 {chat} · 🎨 {image} · 🎞 {gif} a day · {rate} requests a minute",
    "premium.unlimited": "unlimited",
    "premium.trial_line": (
        "🎁 <b>Trial</b> — {hours} hours of Tier 1 for free, once every {cooldown}."
    ),
    "premium.current": "Your tier: <b>{tier}</b>",
    "premium.current_until": "Your tier: <b>{tier}</b> until {expires} UTC",
    "premium.rules": (
        "Buying the tier you have extends it. Tier 2 bought during a paid Tier 1 starts now, "
        "and the Tier 1 time left is turned into Tier 2 time at the price ratio."
    ),
    "premium.trial_next": "🎁 The free trial is available again on {date} UTC.",
    "premium.trial_for_free_only": "🎁 The free trial is for the Free tier.",
    "premium.button_buy": "Buy {tier} — {amount} ⭐",
    "premium.button_extend": "Extend {tier} — {amount} ⭐",
    "premium.button_trial": "🎁 Try Tier 1 free for 24 h",
    "premium.button": "⭐ Premium",
    # invoice
    "premium.invoice_title": "{tier} for {days} days",
    "premium.invoice_description": (
        "{tier} for {days} days: {chat} chat, {image} image and {gif} GIF requests a day. "
        "Buying the tier you have extends it."
    ),
    "premium.invoice_label": "{tier}, {days} days",
    "premium.lower_tier": "You have {current} now; {tier} can be bought after it ends.",
    "premium.unknown_tier": "This button is out of date. Open /premium for the current tiers.",
    # pre-checkout (plain text)
    "premium.pc_invalid": "This invoice is not valid any more. Please open /premium and buy again.",
    "premium.pc_paid": "This invoice has already been paid. Open /premium to see your tier.",
    "premium.pc_price_changed": (
        "The price has changed since this invoice was made. Please open /premium for a new one."
    ),
    "premium.pc_lower_tier": (
        "You already have a higher tier. You can buy this one after it ends."
    ),
    "premium.pc_busy": "The bot is busy right now. Please try again in a minute.",
    # successful payment
    "premium.receipt": (
        "✅ <b>Payment received</b> — thank you!\n"
        "{tier} is active until {expires} UTC.\n"
        "Paid: {amount} ⭐ for {days} days of {bought}.\n"
        "Receipt: <code>{charge_id}</code>"
    ),
    "premium.receipt_bonus": "Includes {bonus} converted from the time left on your previous tier.",
    "premium.receipt_converted": "It was added to your {tier} at the price ratio ({bonus}).",
    "premium.unmatched": (
        "⚠️ Your payment of {amount} ⭐ arrived, but I could not match it to an order, so "
        "nothing was credited. The administrator has been told and will refund it.\n"
        "Reference: <code>{charge_id}</code>"
    ),
    "premium.payment_refunded": (
        "This payment (<code>{charge_id}</code>) has been refunded, so it gives no tier."
    ),
    # trial
    "premium.trial_started": "🎁 Your free Tier 1 trial is on until {expires} UTC. Enjoy!",
    "premium.trial_wait": "🎁 The free trial can be taken again on {date} UTC.",
    "premium.trial_have_tier": "🎁 You already have {tier}; the trial is for the Free tier.",
    # reminder
    "premium.reminder": (
        "⏰ Your {tier} ends on {expires} UTC (in {left}). Open /premium to extend it."
    ),
    # /usage key line
    "usage.key": "🔑 API key: {status}",
    "usage.key_none": "none (/key)",
    "usage.key_active": "active",
    "usage.key_inactive": "inactive",
    "duration.dh": "{days} d {hours} h",
}

RU = {
    "cmd.premium": "Премиум-тарифы и бесплатный пробный период",
    "premium.title": "⭐ <b>Премиум</b>",
    "premium.tier_line": "<b>{name}</b> — {price}\n{limits}",
    "premium.price_free": "бесплатно",
    "premium.price_stars": "{amount} ⭐ / {days} дней",
    "premium.limits": "💬 {chat} · 🎨 {image} · 🎞 {gif} в день · {rate} запросов в минуту",
    "premium.unlimited": "без ограничений",
    "premium.trial_line": (
        "🎁 <b>Пробный период</b> — {hours} часа Tier 1 бесплатно, раз в {cooldown}."
    ),
    "premium.current": "Ваш тариф: <b>{tier}</b>",
    "premium.current_until": "Ваш тариф: <b>{tier}</b> до {expires} UTC",
    "premium.rules": (
        "Покупка текущего тарифа продлевает его. Tier 2, купленный во время оплаченного "
        "Tier 1, начинается сразу, а оставшееся время Tier 1 пересчитывается в Tier 2 "
        "по соотношению цен."
    ),
    "premium.trial_next": "🎁 Пробный период снова будет доступен {date} UTC.",
    "premium.trial_for_free_only": "🎁 Пробный период — для бесплатного тарифа.",
    "premium.button_buy": "Купить {tier} — {amount} ⭐",
    "premium.button_extend": "Продлить {tier} — {amount} ⭐",
    "premium.button_trial": "🎁 Tier 1 бесплатно на 24 ч",
    "premium.button": "⭐ Премиум",
    "premium.invoice_title": "{tier} на {days} дней",
    "premium.invoice_description": (
        "{tier} на {days} дней: {chat} запросов к чату, {image} картинок и {gif} GIF в день. "
        "Покупка текущего тарифа продлевает его."
    ),
    "premium.invoice_label": "{tier}, {days} дней",
    "premium.lower_tier": "Сейчас у вас {current}; {tier} можно купить, когда он закончится.",
    "premium.unknown_tier": "Эта кнопка устарела. Актуальные тарифы — в /premium.",
    "premium.pc_invalid": (
        "Этот счёт больше не действует. Откройте /premium и оформите покупку снова."
    ),
    "premium.pc_paid": "Этот счёт уже оплачен. Ваш тариф — в /premium.",
    "premium.pc_price_changed": (
        "Цена изменилась после выставления счёта. Откройте /premium, чтобы получить новый."
    ),
    "premium.pc_lower_tier": (
        "У вас уже есть тариф выше. Этот можно будет купить, когда он закончится."
    ),
    "premium.pc_busy": "Бот сейчас перегружен. Попробуйте через минуту.",
    "premium.receipt": (
        "✅ <b>Оплата получена</b> — спасибо!\n"
        "{tier} действует до {expires} UTC.\n"
        "Оплачено: {amount} ⭐ за {days} дней {bought}.\n"
        "Квитанция: <code>{charge_id}</code>"
    ),
    "premium.receipt_bonus": "Включая {bonus}, пересчитанные из остатка прежнего тарифа.",
    "premium.receipt_converted": "Оплата добавлена к вашему {tier} по соотношению цен ({bonus}).",
    "premium.unmatched": (
        "⚠️ Ваш платёж на {amount} ⭐ получен, но я не смог сопоставить его с заказом, поэтому "
        "ничего не начислено. Администратор уведомлён и вернёт оплату.\n"
        "Номер: <code>{charge_id}</code>"
    ),
    "premium.payment_refunded": (
        "Этот платёж (<code>{charge_id}</code>) возвращён, поэтому тариф по нему не действует."
    ),
    "premium.trial_started": (
        "🎁 Бесплатный пробный Tier 1 действует до {expires} UTC. Приятной работы!"
    ),
    "premium.trial_wait": "🎁 Пробный период снова можно взять {date} UTC.",
    "premium.trial_have_tier": "🎁 У вас уже есть {tier}; пробный период — для бесплатного тарифа.",
    "premium.reminder": (
        "⏰ Ваш {tier} заканчивается {expires} UTC (через {left}). Продлить — в /premium."
    ),
    "usage.key": "🔑 API-ключ: {status}",
    "usage.key_none": "нет (/key)",
    "usage.key_active": "активен",
    "usage.key_inactive": "не активен",
    "duration.dh": "{days} д {hours} ч",
}
