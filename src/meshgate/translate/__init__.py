"""Pure translation: ResourceBundle (+ options) → neutral IR (`ir.Config`) and diagnostics.

Never raises on user input: a bad object is dropped with a diagnostic and the rest translates.
"""

from meshgate.resources.bundle import ResourceBundle
from meshgate.translate.options import IngressMode, TranslateOptions
from meshgate.translate.pipeline import translate_bundle
from meshgate.translate.result import Translation

__all__ = ["IngressMode", "TranslateOptions", "Translation", "translate"]


def translate(bundle: ResourceBundle, options: TranslateOptions | None = None) -> Translation:
    return translate_bundle(bundle, options or TranslateOptions())
