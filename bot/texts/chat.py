"""Texts of chat, photos and the model picker."""

EN = {
    "cmd.chat": "Ask the AI (or just write to me)",
    "cmd.new": "Forget the conversation and start over",
    "cmd.model": "Choose the chat model",
    "chat.usage": (
        "💬 Write <code>/chat</code> followed by your question, for example:\n"
        "<code>/chat what is a black hole?</code>\n\n"
        "In a private chat you can simply write to me; in a group, mention me or reply to "
        "my message. Send a photo and I will tell you what is in it, or a document (PDF, "
        "text, code) with a question."
    ),
    "chat.new_done": "🧹 Done: I have forgotten our conversation. Let's start over!",
    "chat.new_done_group": "🧹 Done: I have forgotten this group's conversation.",
    "chat.failed": "😔 The AI service did not finish the answer. Press the button to try again.",
    "chat.retry_button": "🔄 Try again",
    "chat.retry_expired": "This button has expired. Please send your message again.",
    "chat.retry_not_yours": "This button belongs to another person's question.",
    "chat.stopped": "⏹ Stopped.",
    "chat.thinking": "Thinking",
    "cmd.persona": "Choose who answers in this conversation",
    "cmd.history": "Your conversations; export one as a file",
    "chat.new_topic": "💬 A new conversation: ask your first question here.",
    "chat.new_topic_name": "New chat",
    "persona.title": "🎭 Persona of this conversation: <b>{current}</b>\nChoose another:",
    "persona.chosen": "✅ This conversation now answers as <b>{persona}</b>.",
    "persona.gone": "This persona is no longer offered.",
    "history.title": "🗂 Your conversations (newest first):",
    "history.row": "{number}. <b>{name}</b> · {when} · {messages}",
    "history.empty": "🗂 No conversations yet: just write to me.",
    "history.main": "Main chat",
    "history.export_button": "⬇️ {number}",
    "history.gone": "This conversation is gone.",
    "history.caption": "🗂 {name}: {messages}",
    "chat.busy": ("⏳ I am still answering your previous messages. Please wait until I finish."),
    "chat.describe_image": "Describe this image.",
    "chat.photo_too_big": (
        "🖼 This image is too big for me (Telegram lets bots download up to 20 MB). "
        "Please send a smaller one."
    ),
    "chat.photo_download_failed": "🖼 I could not download this image. Please send it again.",
    "chat.unsupported_file": (
        "🖼 This file is not a JPG, PNG or WebP image, so I cannot look at it."
    ),
    "chat.unsupported": "I understand text and photos. Write your question or send a picture.",
    "chat.unknown_command": "🤷 I don't know this command. /help lists them all.",
    "model.title": "🤖 <b>Chat model</b>\nNow: <code>{current}</code>\n\nChoose one:",
    "model.chosen": "✅ Chat model: <code>{model}</code> ({provider})",
    "model.gone": "This model is no longer offered. Here is the current list.",
    "model.prev": "◀️ Back",
    "model.next": "More ▶️",
}

RU = {
    "cmd.chat": "Спросить ИИ (или просто напишите мне)",
    "cmd.new": "Забыть разговор и начать заново",
    "cmd.model": "Выбрать модель для чата",
    "chat.usage": (
        "💬 Напишите <code>/chat</code> и ваш вопрос, например:\n"
        "<code>/chat что такое чёрная дыра?</code>\n\n"
        "В личном чате можно просто писать мне; в группе упомяните меня или ответьте на моё "
        "сообщение. Пришлите фото, и я расскажу, что на нём, или документ (PDF, текст, "
        "код) с вопросом."
    ),
    "chat.new_done": "🧹 Готово: я забыл наш разговор. Начнём заново!",
    "chat.new_done_group": "🧹 Готово: я забыл разговор этой группы.",
    "chat.failed": "😔 ИИ-сервис не закончил ответ. Нажмите кнопку, чтобы попробовать ещё раз.",
    "chat.retry_button": "🔄 Ещё раз",
    "chat.retry_expired": "Эта кнопка устарела. Пожалуйста, отправьте сообщение заново.",
    "chat.retry_not_yours": "Эта кнопка относится к чужому вопросу.",
    "chat.stopped": "⏹ Остановлено.",
    "chat.thinking": "Размышляю",
    "cmd.persona": "Выбрать, кто отвечает в этом разговоре",
    "cmd.history": "Ваши разговоры; выгрузка в файл",
    "chat.new_topic": "💬 Новый разговор: задайте здесь первый вопрос.",
    "chat.new_topic_name": "Новый чат",
    "persona.title": "🎭 Роль в этом разговоре: <b>{current}</b>\nВыберите другую:",
    "persona.chosen": "✅ Теперь в этом разговоре отвечает <b>{persona}</b>.",
    "persona.gone": "Эта роль больше не предлагается.",
    "history.title": "🗂 Ваши разговоры (сначала новые):",
    "history.row": "{number}. <b>{name}</b> · {when} · {messages}",
    "history.empty": "🗂 Разговоров пока нет: просто напишите мне.",
    "history.main": "Основной чат",
    "history.export_button": "⬇️ {number}",
    "history.gone": "Этого разговора больше нет.",
    "history.caption": "🗂 {name}: {messages}",
    "chat.busy": "⏳ Я ещё отвечаю на ваши прошлые сообщения. Подождите, пока я закончу.",
    "chat.describe_image": "Опиши это изображение.",
    "chat.photo_too_big": (
        "🖼 Это изображение слишком большое (Telegram позволяет ботам скачивать до 20 МБ). "
        "Пришлите поменьше."
    ),
    "chat.photo_download_failed": "🖼 Не удалось скачать изображение. Пришлите его ещё раз.",
    "chat.unsupported_file": (
        "🖼 Этот файл не изображение JPG, PNG или WebP, я не могу его посмотреть."
    ),
    "chat.unsupported": "Я понимаю текст и фото. Напишите вопрос или пришлите картинку.",
    "chat.unknown_command": "🤷 Такой команды я не знаю. /help покажет все команды.",
    "model.title": "🤖 <b>Модель для чата</b>\nСейчас: <code>{current}</code>\n\nВыберите:",
    "model.chosen": "✅ Модель для чата: <code>{model}</code> ({provider})",
    "model.gone": "Эта модель больше не предлагается. Вот актуальный список.",
    "model.prev": "◀️ Назад",
    "model.next": "Ещё ▶️",
}
