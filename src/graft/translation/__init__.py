"""Translation: parallel-text readers, the built-in UI-translation memories, language codes, and BLEU / chrF."""
