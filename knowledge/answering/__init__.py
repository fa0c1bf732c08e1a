"""Answering: pack the retrieved sources, ask the LLM (or extract sentences), keep only valid citations.

Entry point: `Answerer` (see `answerer.py`); the rest are its parts, each usable on its own.
"""

from knowledge.answering.answerer import Answerer, AnswerEvent, Delta, Final
from knowledge.answering.llm import ChatClient, LLMError

__all__ = ["AnswerEvent", "Answerer", "ChatClient", "Delta", "Final", "LLMError"]
