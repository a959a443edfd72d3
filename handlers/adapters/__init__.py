"""Telegram adapters: what connects aiogram to the Telegram-free services in ``bot.services``
(the Bot API session, answer streaming, the webhook endpoint, the payment journal)."""
