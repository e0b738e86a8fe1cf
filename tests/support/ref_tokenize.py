"""Reference token ids from transformers' slow (pure Python) BERT tokenizer, for tests/tokenizer_parity.rs.

Reads JSON {"vocab": path, "max_len": n, "titles": [...]} on stdin, writes a JSON list of id lists on stdout.
In transformers 5 the pure-Python tokenizer is `BertTokenizerLegacy` (`BertTokenizer` is backed by the Rust
`tokenizers` library, so it could not check ours independently). Special-token strings inside a title are
split like any text, as the original ERNIE tokenizer does: a title cannot inject [SEP]. (transformers 5's
`split_special_tokens=True` does not reach `BertTokenizerLegacy._tokenize`, hence the explicit calls below.)
"""
import json
import sys

from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy


def main():
    request = json.load(sys.stdin)
    tokenizer = BertTokenizerLegacy(request["vocab"], do_lower_case=True, tokenize_chinese_chars=True)
    max_tokens = request["max_len"] - tokenizer.num_special_tokens_to_add()
    ids = []
    for title in request["titles"]:
        pieces = tokenizer._tokenize(title, split_special_tokens=True)
        ids.append(tokenizer.build_inputs_with_special_tokens(tokenizer.convert_tokens_to_ids(pieces)[:max_tokens]))
    json.dump(ids, sys.stdout)


if __name__ == "__main__":
    main()
