"""Trains the byte-level BPE tokenizers of the zoo (Hugging Face `tokenizers`).

    python training/train_tokenizer.py --bundle .devdata/bundle.tar.xz --vocab 4096 --out bpe4096.json

The tokenizer: digits split one by one (so numbers tokenize the same wherever they sit), then
GPT-2 style byte-level pre-tokenization and BPE; one special token, <|endoftext|> = id 0, which
the post-processor prepends to every encoding (it is BOS) and which ends every training document
and answer (it is EOS). No normalizer. Trained on the LM text plus the task prompts and targets
of the train split (so the task vocabulary gets its own merges).
"""
import argparse

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from data import group_key, jsonl, read_bundle

EOT = "<|endoftext|>"


def texts(bundle_path: str, max_mb: float):
    b = read_bundle(bundle_path)
    docs = [d["text"] for d in jsonl(b["corpus/train.jsonl"])]
    exs = jsonl(b["tasks/train.jsonl"])
    # task text: 2000 examples per task (needle: 50 per length; its haystacks are book text anyway)
    per = {}
    for e in exs:
        g = group_key(e)
        if per.get(g, 0) < (50 if e["task"] == "needle" else 2000):
            per[g] = per.get(g, 0) + 1
            yield e["prompt"] + e["target"]
    budget = int(max_mb * 1e6)
    for d in docs:  # an even slice of every book
        take = min(len(d), budget // max(1, len(docs)))
        for i in range(0, take, 8192):
            yield d[i:i + 8192]


def train(bundle_path: str, vocab: int, out: str, max_mb: float = 24.0) -> None:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts(bundle_path, max_mb), trainer=trainer)
    assert tok.token_to_id(EOT) == 0
    tok.post_processor = processors.TemplateProcessing(
        single=f"{EOT} $A", pair=f"{EOT} $A {EOT} $B", special_tokens=[(EOT, 0)])
    tok.save(out)
    probe = "Question: What is Kelt's favorite color?\nAnswer: 48213 apples."
    enc = tok.encode(probe)
    print(f"{out}: vocab {tok.get_vocab_size()}; {probe!r} -> {len(enc.ids)} tokens {enc.tokens}", flush=True)
    assert tok.decode(enc.ids) == probe, "decode(encode(x)) != x"


def main():
    ap = argparse.ArgumentParser(description="train a byte-level BPE tokenizer")
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-mb", type=float, default=24.0, help="MB of book text to train on")
    a = ap.parse_args()
    train(a.bundle, a.vocab, a.out, a.max_mb)


if __name__ == "__main__":
    main()
