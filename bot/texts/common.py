"""Texts of the foundation: start, help, usage, command menu, errors."""

EN = {
    # command menu (setMyCommands): "cmd.<name>"
    "cmd.start": "Start and main menu",
    "cmd.help": "All commands",
    "cmd.usage": "Your tier and what is left today",
    # start / help
    "start": (
        "👋 Hi, {name}!\n\n"
        "I put the VisionCraft AI services in this chat:\n"
        "• 💬 <b>chat</b> with an AI model — just write to me;\n"
        "• 🖼 send a <b>photo</b> and ask about it;\n"
        "• 📎 send a <b>document</b> (PDF, text, code) with a question in the caption;\n"
        "• 👥 in any chat, even one I am not in, write my @username and a question;\n"
        "• 🎨 <b>/image</b> and 🎞 <b>/gif</b> draw from your words;\n"
        "• 🔑 <b>/key</b> gives you a personal API key;\n"
        "• ⭐ <b>/premium</b> raises your limits.\n\n"
        "/help lists every command."
    ),
    "help.title": "<b>Commands</b>",
    "help.more": (
        "📎 Send a document (PDF with text, plain text, Markdown, CSV, JSON, code) with a "
        "question in the caption; without one I summarize it.\n"
        "👥 Guest mode: in any chat, even one I am not in, write my @username and a question."
    ),
    "help.admin_title": "<b>Admin commands</b>",
    "menu.help": "❓ Help",
    "menu.usage": "📊 Usage",
    # usage
    "usage.title": "<b>Your usage today</b> (resets at 00:00 UTC)",
    "usage.tier": "Tier: <b>{tier}</b>",
    "usage.tier_until": "Tier: <b>{tier}</b> until {expires} UTC",
    "usage.line": "{kind}: {used} / {limit} {bar}",
    "usage.line_unlimited": "{kind}: {used} / ∞",
    "tier.free": "Free",
    "tier.tier1": "Tier 1",
    "tier.tier2": "Tier 2",
    "kind.chat": "💬 Chat",
    "kind.image": "🎨 Images",
    "kind.gif": "🎞 GIFs",
    # errors
    "error.generic": "😔 Sorry, something went wrong on my side. Please try again in a minute.",
    "error.quota": (
        "⏳ You have used today's {kind} limit ({limit}). It resets in {reset}. /premium raises it."
    ),
    "error.rate": "🐢 Too many requests. Please wait {retry_in} s.",
    "error.banned": "🚫 Your access to this bot has been blocked.",
    "error.not_subscribed": "📢 Please subscribe to {channel} first.",
    "error.upstream": "😔 The AI service did not answer. Please try again.",
    "error.upstream_unavailable": "🛠 The AI service is temporarily unavailable. Please try later.",
    "error.upstream_busy": "⏳ The AI service is busy. Please try again in {retry_in} s.",
    "error.invalid_input": "⚠️ {detail}",
    "duration.hm": "{hours} h {minutes} min",
    "duration.m": "{minutes} min",
    # counted words: the forms separated by "|" (English: one|other), see Translator.plural
    "plural.days": "{n} day|{n} days",
    "plural.messages": "{n} message|{n} messages",
    "anonymous_admin": (
        "🙈 I can't tell who you are while you post as the group. "
        "Turn off “Remain anonymous” or write to me in a private chat."
    ),
}

RU = {
    "cmd.start": "Начало и главное меню",
    "cmd.help": "Все команды",
    "cmd.usage": "Ваш тариф и остаток на сегодня",
    "start": (
        "👋 Привет, {name}!\n\n"
        "Я открываю сервисы VisionCraft AI прямо в этом чате:\n"
        "• 💬 <b>чат</b> с ИИ-моделью — просто напишите мне;\n"
        "• 🖼 пришлите <b>фото</b> и спросите о нём;\n"
        "• 📎 пришлите <b>документ</b> (PDF, текст, код) с вопросом в подписи;\n"
        "• 👥 в любом чате, даже без меня, напишите мой @username и вопрос;\n"
        "• 🎨 <b>/image</b> и 🎞 <b>/gif</b> рисуют по вашему описанию;\n"
        "• 🔑 <b>/key</b> выдаёт личный API-ключ;\n"
        "• ⭐ <b>/premium</b> повышает лимиты.\n\n"
        "/help — список всех команд."
    ),
    "help.title": "<b>Команды</b>",
    "help.more": (
        "📎 Пришлите документ (PDF с текстом, текст, Markdown, CSV, JSON, код) с вопросом в "
        "подписи; без вопроса я его перескажу.\n"
        "👥 Гостевой режим: в любом чате, даже без меня, напишите мой @username и вопрос."
    ),
    "help.admin_title": "<b>Команды администратора</b>",
    "menu.help": "❓ Помощь",
    "menu.usage": "📊 Лимиты",
    "usage.title": "<b>Ваше использование сегодня</b> (сброс в 00:00 UTC)",
    "usage.tier": "Тариф: <b>{tier}</b>",
    "usage.tier_until": "Тариф: <b>{tier}</b> до {expires} UTC",
    "usage.line": "{kind}: {used} / {limit} {bar}",
    "usage.line_unlimited": "{kind}: {used} / ∞",
    "tier.free": "Бесплатный",
    "tier.tier1": "Tier 1",
    "tier.tier2": "Tier 2",
    "kind.chat": "💬 Чат",
    "kind.image": "🎨 Картинки",
    "kind.gif": "🎞 GIF",
    "error.generic": "😔 Извините, у меня что-то пошло не так. Попробуйте через минуту.",
    "error.quota": (
        "⏳ Дневной лимит «{kind}» исчерпан ({limit}). Он обновится через {reset}. "
        "/premium его повышает."
    ),
    "error.rate": "🐢 Слишком много запросов. Подождите {retry_in} с.",
    "error.banned": "🚫 Ваш доступ к боту заблокирован.",
    "error.not_subscribed": "📢 Сначала подпишитесь на {channel}.",
    "error.upstream": "😔 ИИ-сервис не ответил. Попробуйте ещё раз.",
    "error.upstream_unavailable": "🛠 ИИ-сервис временно недоступен. Попробуйте позже.",
    "error.upstream_busy": "⏳ ИИ-сервис перегружен. Попробуйте через {retry_in} с.",
    "error.invalid_input": "⚠️ {detail}",
    "duration.hm": "{hours} ч {minutes} мин",
    "duration.m": "{minutes} мин",
    # формы через "|": один|несколько|много (1 день, 2 дня, 5 дней), см. Translator.plural
    "plural.days": "{n} день|{n} дня|{n} дней",
    "plural.messages": "{n} сообщение|{n} сообщения|{n} сообщений",
    "anonymous_admin": (
        "🙈 Я не вижу, кто вы, пока вы пишете от имени группы. "
        "Отключите «Анонимность» или напишите мне в личный чат."
    ),
}
