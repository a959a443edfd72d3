"""Texts of documents as questions and of guest mode."""

EN = {
    "doc.summarize": "Summarize this file briefly.",
    "doc.too_big": (
        "📎 This file is too big for me (Telegram lets bots download up to 20 MB). "
        "Please send a smaller one. Nothing was charged."
    ),
    "doc.download_failed": (
        "📎 I could not download this file. Please send it again. Nothing was charged."
    ),
    "doc.unsupported": (
        "📎 I can read PDFs with text, and text files: plain text, Markdown, CSV, JSON and "
        "source code. This file is none of those. Nothing was charged."
    ),
    "doc.encrypted": (
        "🔒 This PDF is protected by a password, so I cannot read it. Send a copy without "
        "the password. Nothing was charged."
    ),
    "doc.no_text": (
        "🖨 This PDF has no text layer (it looks like a scan), so there is nothing for me to "
        "read. Send a PDF with text, or photos of the pages. Nothing was charged."
    ),
    "doc.unreadable": (
        "📎 I could not read this PDF: it is damaged or too complex. Nothing was charged."
    ),
    "doc.empty": "📎 This file has no text in it. Nothing was charged.",
    "doc.partial_pages": ("✂️ The file is long: I read only its first {read} of {total} pages."),
    "doc.partial_chars": "✂️ The file is long: I read only its first {percent}%.",
    "guest.title": "Answer from the AI",
    "guest.usage": "💬 Write your question right after my @username, in the same message.",
    "guest.failed": "😔 The AI service did not finish the answer. Please ask again.",
    "guest.cut": "… (the answer is longer: continue in our private chat)",
    "guest.continue": "💬 Continue in a private chat",
}

RU = {
    "doc.summarize": "Кратко перескажи этот файл.",
    "doc.too_big": (
        "📎 Этот файл слишком большой (Telegram позволяет ботам скачивать до 20 МБ). "
        "Пришлите поменьше. Запрос не списан."
    ),
    "doc.download_failed": ("📎 Не удалось скачать файл. Пришлите его ещё раз. Запрос не списан."),
    "doc.unsupported": (
        "📎 Я читаю PDF с текстом и текстовые файлы: обычный текст, Markdown, CSV, JSON и "
        "исходный код. Этот файл не из них. Запрос не списан."
    ),
    "doc.encrypted": (
        "🔒 Этот PDF защищён паролем, я не могу его прочитать. Пришлите копию без пароля. "
        "Запрос не списан."
    ),
    "doc.no_text": (
        "🖨 В этом PDF нет текстового слоя (похоже на скан), читать нечего. Пришлите PDF с "
        "текстом или фото страниц. Запрос не списан."
    ),
    "doc.unreadable": (
        "📎 Не удалось прочитать этот PDF: он повреждён или слишком сложен. Запрос не списан."
    ),
    "doc.empty": "📎 В этом файле нет текста. Запрос не списан.",
    "doc.partial_pages": ("✂️ Файл длинный: я прочитал только первые {read} из {total} страниц."),
    "doc.partial_chars": "✂️ Файл длинный: я прочитал только первые {percent}%.",
    "guest.title": "Ответ ИИ",
    "guest.usage": "💬 Напишите вопрос сразу после моего @username, в том же сообщении.",
    "guest.failed": "😔 ИИ-сервис не закончил ответ. Спросите ещё раз.",
    "guest.cut": "… (ответ длиннее: продолжим в личном чате)",
    "guest.continue": "💬 Продолжить в личном чате",
}
