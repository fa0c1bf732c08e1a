"""Answer and retrieval quality on every kind of question, against a BM25 peer, in one run (`make bench`).

- `cases`: the question sets (handbook types, domainrag-dev, CMRC 2018, our off-topic and cross-language
  questions) and the corpora they are asked against;
- `rule`: the measuring rule (8,000 characters of context, evidence spans, MRR@10, recall@5);
- `peer`: the BM25 peer (bm25s, 512/50-token chunks, stemmed English or jieba Chinese);
- `indexes`: Lore's indexes for a corpus, reused while their inputs are unchanged, over one embedding cache;
- `thread`: follow-ups asked the way a Slack thread asks them (history, then the rewrite);
- `retrieval` and `answers`: the two measures; `report`: their tables; `suite`: one run of all of it;
- `sweep`: the same retrieval measure over variants of the settings (how the defaults were chosen).
"""
