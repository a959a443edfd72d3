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
    # monthly subscriptions
    "premium.button_subscribe": "🔁 Subscribe to {tier} — {amount} ⭐ a month",
    "premium.button_subscribe_link": "Subscribe — {amount} ⭐ a month",
    "premium.button_cancel_renewal": "Stop auto-renewal",
    "premium.button_resume_renewal": "🔁 Resume auto-renewal",
    "premium.sub_rules": (
        "🔁 A subscription renews itself every 30 days until you stop it here or in Telegram; "
        "stopping it keeps the tier until the end of the paid period. Subscribing to Tier 2 "
        "stops the Tier 1 renewal, and the Tier 1 time left is converted as above."
    ),
    "premium.sub_offer": (
        "🔁 <b>{tier} every month</b> for {amount} ⭐, renewed automatically. "
        "You can stop the renewal any time in /premium.\nTap the button to subscribe."
    ),
    "premium.sub_invoice_title": "{tier}, monthly",
    "premium.sub_invoice_description": (
        "{tier} every 30 days: {chat} chat, {image} image and {gif} GIF requests a day. "
        "Renews automatically; stop it any time in /premium."
    ),
    "premium.sub_invoice_label": "{tier}, 30 days",
    "premium.sub_already": "Your {tier} subscription renews already. See /premium.",
    "premium.sub_nothing": "There is no renewal to change now. Open /premium for your plan.",
    "premium.sub_link_failed": "Could not make the subscription link now. Please try again later.",
    "premium.sub_change_failed": (
        "Telegram did not accept the change now. Please try again later, or manage the "
        "subscription in Telegram's settings."
    ),
    "premium.sub_renews": "🔁 Renews on {date} UTC for {amount} ⭐.",
    "premium.sub_canceled_ends": "⏹ Auto-renewal is off: ends on {date} UTC.",
    "premium.sub_failed_ends": "⚠️ The renewal payment did not go through: ends on {date} UTC.",
    "premium.sub_canceled": (
        "⏹ Auto-renewal of {tier} is off. Your tier stays until {date} UTC; nothing more "
        "will be charged."
    ),
    "premium.sub_resumed": "🔁 Auto-renewal of {tier} is back on: next renewal on {date} UTC.",
    "premium.sub_failed": (
        "⚠️ Telegram could not renew your {tier} subscription ({amount} ⭐). Your tier stays "
        "until {expires} UTC. To keep it, top up your Stars (Telegram will try again) or "
        "open /premium."
    ),
    "premium.receipt_plan": (
        "🔁 Your monthly {tier} renews on {date} UTC; stop it any time in /premium."
    ),
    "premium.pc_subscribed": (
        "You already have a subscription to this tier or a higher one. See /premium."
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
    "premium.button_subscribe": "🔁 Подписка на {tier} — {amount} ⭐ в месяц",
    "premium.button_subscribe_link": "Подписаться — {amount} ⭐ в месяц",
    "premium.button_cancel_renewal": "Отключить автопродление",
    "premium.button_resume_renewal": "🔁 Включить автопродление",
    "premium.sub_rules": (
        "🔁 Подписка продлевается сама каждые 30 дней, пока вы не отключите её здесь или в "
        "Telegram; после отключения тариф действует до конца оплаченного периода. Подписка "
        "на Tier 2 отключает продление Tier 1, а остаток Tier 1 пересчитывается, как выше."
    ),
    "premium.sub_offer": (
        "🔁 <b>{tier} каждый месяц</b> за {amount} ⭐ с автопродлением. "
        "Отключить продление можно в любой момент в /premium.\nНажмите кнопку, чтобы подписаться."
    ),
    "premium.sub_invoice_title": "{tier}, ежемесячно",
    "premium.sub_invoice_description": (
        "{tier} каждые 30 дней: {chat} запросов к чату, {image} картинок и {gif} GIF в день. "
        "Продлевается автоматически; отключить можно в /premium."
    ),
    "premium.sub_invoice_label": "{tier}, 30 дней",
    "premium.sub_already": "Ваша подписка на {tier} уже продлевается. Подробности — в /premium.",
    "premium.sub_nothing": "Сейчас нечего менять в продлении. Ваш тариф — в /premium.",
    "premium.sub_link_failed": "Не удалось создать ссылку на подписку. Попробуйте позже.",
    "premium.sub_change_failed": (
        "Telegram сейчас не принял изменение. Попробуйте позже или измените подписку в "
        "настройках Telegram."
    ),
    "premium.sub_renews": "🔁 Продлится {date} UTC за {amount} ⭐.",
    "premium.sub_canceled_ends": "⏹ Автопродление отключено: закончится {date} UTC.",
    "premium.sub_failed_ends": "⚠️ Оплата продления не прошла: закончится {date} UTC.",
    "premium.sub_canceled": (
        "⏹ Автопродление {tier} отключено. Тариф действует до {date} UTC; больше ничего "
        "списано не будет."
    ),
    "premium.sub_resumed": "🔁 Автопродление {tier} снова включено: следующее — {date} UTC.",
    "premium.sub_failed": (
        "⚠️ Telegram не смог продлить вашу подписку на {tier} ({amount} ⭐). Тариф действует "
        "до {expires} UTC. Чтобы сохранить его, пополните звёзды (Telegram попробует снова) "
        "или откройте /premium."
    ),
    "premium.receipt_plan": (
        "🔁 Ежемесячный {tier} продлится {date} UTC; отключить можно в любой момент в /premium."
    ),
    "premium.pc_subscribed": (
        "У вас уже есть подписка на этот или более высокий тариф. См. /premium."
    ),
    "usage.key": "🔑 API-ключ: {status}",
    "usage.key_none": "нет (/key)",
    "usage.key_active": "активен",
    "usage.key_inactive": "не активен",
    "duration.dh": "{days} д {hours} ч",
}
