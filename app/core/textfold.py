"""Text folded for search: the one definition both engines' job searches use (the key stored
in wp_records.file_key and the folded search compared with it)."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """'Exportación MARZO' -> 'exportacion marzo': accents removed (NFKD, combining marks
    dropped), then case-folded ('ß' -> 'ss')."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped.casefold())
