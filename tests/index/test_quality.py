"""Matching quality on data/forum-corpus, murmur's matcher against the naive one (see index/evaluation.py)."""

from __future__ import annotations

import pytest

from index.evaluation import evaluate, load_corpus, load_personas
from conversations.importers import CORPUS_DIR


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_matching_quality_beats_the_naive_matcher(embedder):
    threads = load_corpus(CORPUS_DIR)
    site_personas, topic_personas = load_personas()
    assert len({p.site for p in site_personas}) == 6 and len(site_personas) == 12
    murmur, naive = evaluate(embedder, threads, site_personas, topic_personas)
    print(f"\nsite P@10 {murmur.site_precision:.3f} (naive {naive.site_precision:.3f}); distractors "
          f"{murmur.distractor_share:.3f} ({naive.distractor_share:.3f}); topic P@10 {murmur.topic_precision:.3f} "
          f"({naive.topic_precision:.3f}), nDCG@10 {murmur.topic_ndcg:.3f} ({naive.topic_ndcg:.3f}); thread->persona "
          f"first {murmur.thread_to_persona_first:.3f} ({naive.thread_to_persona_first:.3f})")
    assert murmur.site_precision >= 0.97
    assert murmur.distractor_share <= 0.02
    assert murmur.topic_precision >= naive.topic_precision + 0.1
    assert murmur.topic_ndcg > naive.topic_ndcg
    assert murmur.thread_to_persona_first >= 0.90
