"""Chinese function words: jieba keeps them as words, but they match everything and name nothing.

One list for the follow-up rewrite (which carries the words that name a thread's subject) and for
quoting (which weighs the question's content words a sentence covers).
"""

from __future__ import annotations

_CJK_FUNCTION_TEXT = """
    的 了 是 在 有 和 与 及 或 吗 呢 吧 啊 么 几 哪 谁
    什么 哪些 哪个 哪里 哪儿 哪年 哪一年 哪一个 多少 几个 几年 几位 如何 怎么 怎样 怎么样 为什么 为何
    是否 是不是 有没有 可以 能 会 要 能否 需要 应该 请问 一下 分别 主要 时候 以及
    我 你 您 他 她 它 这 那 我们 你们 他们 她们 它们 这个 那个 这些 那些
    之后 之前 下一个 上一个
"""
CJK_FUNCTION_WORDS: frozenset[str] = frozenset(_CJK_FUNCTION_TEXT.split())
