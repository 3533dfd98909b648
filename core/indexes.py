"""`CoveringIndex`: an index with INCLUDE columns where the database has covering indexes (PostgreSQL), a plain
index elsewhere (SQLite). Django's own `Index(include=…)` works the same way but warns on SQLite (models.W040) on
every start, and the deployment checks must stay silent."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from django.db import models


class CoveringIndex(models.Index):
    def __init__(self, *args: Any, covering: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.covering = tuple(covering)

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if self.covering and schema_editor.connection.features.supports_covering_indexes:
            with_include = copy.copy(self)
            with_include.include = self.covering
            return models.Index.create_sql(with_include, model, schema_editor, using=using, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)

    def deconstruct(self) -> Any:
        _path, args, kwargs = super().deconstruct()
        if self.covering:
            kwargs["covering"] = self.covering
        return "core.indexes.CoveringIndex", args, kwargs
