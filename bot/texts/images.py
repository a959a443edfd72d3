"""Texts of /image, /gif, /settings and /cancel."""

EN = {
    "cmd.image": "Draw a picture: /image a fox in snow",
    "cmd.gif": "Make a GIF: /gif a cat playing with yarn",
    "cmd.settings": "Image defaults: model, sampler, size, steps",
    "cmd.cancel": "Stop a running generation",
    # usage
    "images.usage": (
        "🎨 <b>/image</b> draws a picture from your description.\n\n"
        "Example:\n<code>/image a red fox in snow, golden hour</code>\n\n"
        "Options (after the description, all optional):\n"
        "• <code>--model</code> name (list in /settings)\n"
        "• <code>--size</code> 768x1024, or square / portrait / landscape "
        "(64–1024, multiples of 8)\n"
        "• <code>--steps</code> 1–35 · <code>--cfg</code> 1–30\n"
        "• <code>--neg</code> what must not be in the picture\n"
        '• <code>--sampler</code> "Euler a" · <code>--lora</code> name:0.8 (up to 5)\n\n'
        "With options:\n"
        "<code>/image a fox in snow --size 768x1024 --steps 25 --neg blurry</code>\n\n"
        "Your defaults: /settings · stop a generation: /cancel"
    ),
    "gif.usage": (
        "🎞 <b>/gif</b> makes a short animation from your description.\n\n"
        "Example:\n<code>/gif a cat playing with a ball of yarn</code>\n\n"
        "It can take a few minutes; /cancel stops it."
    ),
    # results
    "images.caption": "🎨 <i>{prompt}</i>\n<code>{model}</code> · {width}×{height}",
    "images.caption_file": (
        "🎨 <i>{prompt}</i>\n<code>{model}</code> · {width}×{height}\n"
        "📎 Sent as a file: too large for a Telegram photo."
    ),
    "gif.caption": "🎞 <i>{prompt}</i>",
    "images.btn.again": "🔁 Again",
    "images.btn.original": "📄 Original",
    "images.queued": (
        "⏳ All generators are busy. You are number {position} in the queue; "
        "I will start as soon as a slot is free. /cancel leaves the queue."
    ),
    "images.again_started": "🔁 Generating again…",
    "images.original_caption": "📄 Original file",
    "images.expired": "⌛ This button has expired. Send the command again.",
    "images.original_expired": (
        "⌛ The original file is no longer stored. Tap 🔁 Again or send /image again."
    ),
    "images.not_yours": "🔒 This button belongs to another user.",
    "images.shutdown": (
        "🔄 The bot is restarting, so your request was stopped. "
        "Nothing was charged: please send it again in a minute."
    ),
    # /cancel
    "cancel.done": "⏹ Cancelled: {what}. Nothing was charged.",
    "cancel.nothing": "🤷 Nothing to cancel: you have no generation running or waiting.",
    "cancel.what.image": "image generation",
    "cancel.what.gif": "GIF generation",
    # errors
    "images.error.busy": (
        "⏳ You already have a generation running. Wait for it to finish, or /cancel it."
    ),
    "images.error.timeout": (
        "⌛ The image service did not finish within {minutes} min. "
        "Nothing was charged; please try again (fewer steps or a smaller size are faster)."
    ),
    "images.error.queue_timeout": (
        "⌛ The queue did not move for {minutes} min. Nothing was charged; please try later."
    ),
    "images.error.bad_output": (
        "😔 The image service sent back something that is not a picture. "
        "Nothing was charged; please try again."
    ),
    "images.error.rejected": (
        "😔 The image service refused these settings. Nothing was charged; "
        "try another model or sampler (/settings)."
    ),
    "images.error.catalogue": (
        "😔 The list of models is unavailable right now. Please try again in a minute."
    ),
    "images.unknown.model": "⚠️ Unknown model «{name}». Closest: {matches}. All models: /settings",
    "images.unknown.model_none": "⚠️ Unknown model «{name}». All models: /settings",
    "images.unknown.sampler": "⚠️ Unknown sampler «{name}». Closest: {matches}.",
    "images.unknown.sampler_none": "⚠️ Unknown sampler «{name}». All samplers: /settings",
    "images.unknown.lora": "⚠️ Unknown lora «{name}». Closest: {matches}.",
    "images.unknown.lora_none": "⚠️ Unknown lora «{name}».",
    # one line per bad value: the option and its allowed range
    "images.bad.prompt": "⚠️ The description is too long ({value} characters); at most 1000.",
    "images.bad.prompt_empty": (
        "⚠️ Write what to draw before the options, e.g. <code>/image a fox in snow --steps 25</code>"
    ),
    "images.bad.steps": "⚠️ --steps «{value}»: must be a whole number from 1 to 35.",
    "images.bad.cfg": "⚠️ --cfg «{value}»: must be a whole number from 1 to 30.",
    "images.bad.size": (
        "⚠️ --size «{value}»: must be WIDTHxHEIGHT, each 64–1024 and a multiple of 8 "
        "(or square, portrait, landscape)."
    ),
    "images.bad.width": "⚠️ --width «{value}»: must be 64–1024 and a multiple of 8.",
    "images.bad.height": "⚠️ --height «{value}»: must be 64–1024 and a multiple of 8.",
    "images.bad.neg": "⚠️ --neg is too long ({value} characters); at most 1000.",
    "images.bad.lora": "⚠️ --lora «{value}»: must be name or name:weight, weight from -2 to 2.",
    "images.bad.loras": "⚠️ Too many loras ({value}); at most 5.",
    "images.bad.model": "⚠️ --model needs a name (up to 100 characters). All models: /settings",
    "images.bad.sampler": '⚠️ --sampler needs a name (up to 100 characters), e.g. "Euler a".',
    "images.bad.option": (
        "⚠️ Unknown option --{value}. Options: --model, --size, --width, --height, "
        "--steps, --cfg, --neg, --sampler, --lora."
    ),
    "images.bad.settings_text": (
        "⚠️ /settings takes only options, e.g. <code>/settings --steps 25 --neg blurry</code>"
    ),
    # /settings
    "settings.title": (
        "⚙️ <b>Image settings</b>\n"
        "Model: <code>{model}</code>\n"
        "Sampler: {sampler}\n"
        "Size: {width}×{height}\n"
        "Steps: {steps} · CFG: {cfg}\n"
        "Negative prompt: {negative}\n"
        "LoRAs: {loras}\n\n"
        "These apply to every /image; options on the command line override them once. "
        "<code>/settings --cfg 9 --neg blurry</code> stores any option as a default."
    ),
    "settings.none": "—",
    "settings.auto": "auto",
    "settings.btn.model": "🧠 Model",
    "settings.btn.sampler": "🎛 Sampler",
    "settings.btn.size": "📐 Size",
    "settings.btn.steps": "🔢 Steps",
    "settings.btn.reset": "♻️ Reset",
    "settings.btn.close": "✖️ Close",
    "settings.btn.back": "⬅️ Back",
    "settings.size.square": "⬛ Square",
    "settings.size.portrait": "▯ Portrait",
    "settings.size.landscape": "▭ Landscape",
    "settings.pick_model": "🧠 Choose the default model (page {page} of {pages}):",
    "settings.pick_sampler": "🎛 Choose the default sampler (page {page} of {pages}):",
    "settings.pick_size": "📐 Choose the default size:",
    "settings.pick_steps": "🔢 Choose the number of steps (more: finer, slower):",
    "settings.saved": "✅ Saved",
    "settings.reset_done": "♻️ Back to the defaults",
    "settings.closed": "⚙️ Settings closed. /settings opens them again.",
    "settings.model_gone": "⚠️ That model is no longer available. Here is the current list.",
    "settings.sampler_gone": "⚠️ That sampler is no longer available. Here is the current list.",
    "settings.stale": "⚠️ This keyboard is out of date. Here are your current settings.",
    "settings.not_yours": "🔒 These are another user's settings. Send /settings for yours.",
}

RU = {
    "cmd.image": "Нарисовать картинку: /image лиса в снегу",
    "cmd.gif": "Сделать GIF: /gif кот играет с клубком",
    "cmd.settings": "Настройки картинок: модель, сэмплер, размер, шаги",
    "cmd.cancel": "Остановить текущую генерацию",
    "images.usage": (
        "🎨 <b>/image</b> рисует картинку по вашему описанию.\n\n"
        "Пример:\n<code>/image рыжая лиса в снегу, закат</code>\n\n"
        "Параметры (после описания, все необязательные):\n"
        "• <code>--model</code> название (список в /settings)\n"
        "• <code>--size</code> 768x1024, или square / portrait / landscape "
        "(64–1024, кратно 8)\n"
        "• <code>--steps</code> 1–35 · <code>--cfg</code> 1–30\n"
        "• <code>--neg</code> чего не должно быть на картинке\n"
        '• <code>--sampler</code> "Euler a" · <code>--lora</code> имя:0.8 (до 5)\n\n'
        "С параметрами:\n"
        "<code>/image лиса в снегу --size 768x1024 --steps 25 --neg blurry</code>\n\n"
        "Ваши настройки: /settings · остановить генерацию: /cancel"
    ),
    "gif.usage": (
        "🎞 <b>/gif</b> делает короткую анимацию по вашему описанию.\n\n"
        "Пример:\n<code>/gif кот играет с клубком</code>\n\n"
        "Это может занять несколько минут; /cancel останавливает."
    ),
    "images.caption": "🎨 <i>{prompt}</i>\n<code>{model}</code> · {width}×{height}",
    "images.caption_file": (
        "🎨 <i>{prompt}</i>\n<code>{model}</code> · {width}×{height}\n"
        "📎 Отправлено файлом: слишком большое для фото в Telegram."
    ),
    "gif.caption": "🎞 <i>{prompt}</i>",
    "images.btn.again": "🔁 Ещё раз",
    "images.btn.original": "📄 Оригинал",
    "images.queued": (
        "⏳ Все генераторы заняты. Вы {position}-й в очереди; "
        "начну, как только освободится место. /cancel — выйти из очереди."
    ),
    "images.again_started": "🔁 Генерирую ещё раз…",
    "images.original_caption": "📄 Оригинальный файл",
    "images.expired": "⌛ Эта кнопка устарела. Отправьте команду ещё раз.",
    "images.original_expired": (
        "⌛ Оригинал больше не хранится. Нажмите 🔁 Ещё раз или отправьте /image снова."
    ),
    "images.not_yours": "🔒 Эта кнопка принадлежит другому пользователю.",
    "images.shutdown": (
        "🔄 Бот перезапускается, поэтому запрос остановлен. "
        "Лимит не списан: отправьте запрос ещё раз через минуту."
    ),
    "cancel.done": "⏹ Отменено: {what}. Лимит не списан.",
    "cancel.nothing": "🤷 Нечего отменять: у вас нет идущей или ожидающей генерации.",
    "cancel.what.image": "генерация картинки",
    "cancel.what.gif": "генерация GIF",
    "images.error.busy": (
        "⏳ У вас уже идёт генерация. Дождитесь её окончания или отмените: /cancel."
    ),
    "images.error.timeout": (
        "⌛ Сервис картинок не успел за {minutes} мин. Лимит не списан; "
        "попробуйте ещё раз (меньше шагов или размер — быстрее)."
    ),
    "images.error.queue_timeout": (
        "⌛ Очередь не двигалась {minutes} мин. Лимит не списан; попробуйте позже."
    ),
    "images.error.bad_output": (
        "😔 Сервис картинок прислал не картинку. Лимит не списан; попробуйте ещё раз."
    ),
    "images.error.rejected": (
        "😔 Сервис картинок не принял эти настройки. Лимит не списан; "
        "попробуйте другую модель или сэмплер (/settings)."
    ),
    "images.error.catalogue": ("😔 Список моделей сейчас недоступен. Попробуйте через минуту."),
    "images.unknown.model": (
        "⚠️ Неизвестная модель «{name}». Похожие: {matches}. Все модели: /settings"
    ),
    "images.unknown.model_none": "⚠️ Неизвестная модель «{name}». Все модели: /settings",
    "images.unknown.sampler": "⚠️ Неизвестный сэмплер «{name}». Похожие: {matches}.",
    "images.unknown.sampler_none": "⚠️ Неизвестный сэмплер «{name}». Все сэмплеры: /settings",
    "images.unknown.lora": "⚠️ Неизвестная lora «{name}». Похожие: {matches}.",
    "images.unknown.lora_none": "⚠️ Неизвестная lora «{name}».",
    "images.bad.prompt": "⚠️ Описание слишком длинное ({value} символов); не больше 1000.",
    "images.bad.prompt_empty": (
        "⚠️ Напишите, что нарисовать, перед параметрами, например: "
        "<code>/image лиса в снегу --steps 25</code>"
    ),
    "images.bad.steps": "⚠️ --steps «{value}»: нужно целое число от 1 до 35.",
    "images.bad.cfg": "⚠️ --cfg «{value}»: нужно целое число от 1 до 30.",
    "images.bad.size": (
        "⚠️ --size «{value}»: нужно ШИРИНАxВЫСОТА, каждое 64–1024 и кратно 8 "
        "(или square, portrait, landscape)."
    ),
    "images.bad.width": "⚠️ --width «{value}»: нужно 64–1024, кратно 8.",
    "images.bad.height": "⚠️ --height «{value}»: нужно 64–1024, кратно 8.",
    "images.bad.neg": "⚠️ --neg слишком длинный ({value} символов); не больше 1000.",
    "images.bad.lora": "⚠️ --lora «{value}»: нужно имя или имя:вес, вес от -2 до 2.",
    "images.bad.loras": "⚠️ Слишком много lora ({value}); не больше 5.",
    "images.bad.model": "⚠️ Для --model нужно название (до 100 символов). Все модели: /settings",
    "images.bad.sampler": '⚠️ Для --sampler нужно название (до 100 символов), например "Euler a".',
    "images.bad.option": (
        "⚠️ Неизвестный параметр --{value}. Параметры: --model, --size, --width, --height, "
        "--steps, --cfg, --neg, --sampler, --lora."
    ),
    "images.bad.settings_text": (
        "⚠️ /settings принимает только параметры, например "
        "<code>/settings --steps 25 --neg blurry</code>"
    ),
    "settings.title": (
        "⚙️ <b>Настройки картинок</b>\n"
        "Модель: <code>{model}</code>\n"
        "Сэмплер: {sampler}\n"
        "Размер: {width}×{height}\n"
        "Шаги: {steps} · CFG: {cfg}\n"
        "Негативный промпт: {negative}\n"
        "LoRA: {loras}\n\n"
        "Применяются к каждой /image; параметры в команде меняют их на один раз. "
        "<code>/settings --cfg 9 --neg blurry</code> сохраняет любой параметр по умолчанию."
    ),
    "settings.none": "—",
    "settings.auto": "авто",
    "settings.btn.model": "🧠 Модель",
    "settings.btn.sampler": "🎛 Сэмплер",
    "settings.btn.size": "📐 Размер",
    "settings.btn.steps": "🔢 Шаги",
    "settings.btn.reset": "♻️ Сбросить",
    "settings.btn.close": "✖️ Закрыть",
    "settings.btn.back": "⬅️ Назад",
    "settings.size.square": "⬛ Квадрат",
    "settings.size.portrait": "▯ Портрет",
    "settings.size.landscape": "▭ Пейзаж",
    "settings.pick_model": "🧠 Выберите модель по умолчанию (страница {page} из {pages}):",
    "settings.pick_sampler": "🎛 Выберите сэмплер по умолчанию (страница {page} из {pages}):",
    "settings.pick_size": "📐 Выберите размер по умолчанию:",
    "settings.pick_steps": "🔢 Выберите число шагов (больше — детальнее, но дольше):",
    "settings.saved": "✅ Сохранено",
    "settings.reset_done": "♻️ Настройки сброшены",
    "settings.closed": "⚙️ Настройки закрыты. /settings откроет их снова.",
    "settings.model_gone": "⚠️ Эта модель больше недоступна. Вот актуальный список.",
    "settings.sampler_gone": "⚠️ Этот сэмплер больше недоступен. Вот актуальный список.",
    "settings.stale": "⚠️ Эта клавиатура устарела. Вот ваши текущие настройки.",
    "settings.not_yours": "🔒 Это настройки другого пользователя. Отправьте /settings для своих.",
}
