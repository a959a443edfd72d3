"""Loading and refreshing users on every update."""

from __future__ import annotations

from collections import OrderedDict

from bot.services import clock
from storage import users as users_repo
from storage.db import Database
from storage.users import UserRow

_Profile = tuple[str | None, str, str | None, str | None]


class UserService:
    """Upserts the sender of every update. A small cache of recently seen profiles lets an
    unchanged user skip the write; the row itself is always read fresh (bans, tiers)."""

    def __init__(self, db: Database, cache_size: int = 50_000) -> None:
        self.db = db
        self._seen: OrderedDict[int, _Profile] = OrderedDict()
        self._cache_size = cache_size

    async def touch(
        self,
        user_id: int,
        *,
        username: str | None,
        first_name: str,
        last_name: str | None,
        language_code: str | None,
    ) -> UserRow:
        profile: _Profile = (username, first_name, last_name, language_code)
        if self._seen.get(user_id) == profile:
            self._seen.move_to_end(user_id)
            row = await self.get(user_id)
            if row is not None and not row.blocked_bot:
                return row
        async with self.db.transaction() as conn:
            row = await users_repo.upsert(
                conn,
                user_id=user_id,
                username=username,
                first_name=first_name,
                last_name=last_name,
                language_code=language_code,
                now=clock.now(),
            )
        self._seen[user_id] = profile
        if len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)
        return row

    async def get(self, user_id: int) -> UserRow | None:
        row = await self.db.fetchone(
            "SELECT id, username, first_name, last_name, language_code, is_banned, "
            "blocked_bot, chat_model, image_settings, created_at FROM users WHERE id = ?",
            (user_id,),
        )
        return None if row is None else UserRow.from_row(row)
