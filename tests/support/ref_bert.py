"""Reference hidden states from HF transformers' BertModel, for trainer/tests/encoder_parity.rs.

Reads JSON {"model_dir": dir, "ids": [[...]], "mask": [[...]], "hidden_acts": ["gelu", ...]} on stdin and writes
{"<act>": last_hidden_state as nested lists [B][L][H], ...} on stdout: the same weights run once per activation
(the config's `hidden_act` overridden), so relu (ERNIE 1.0) and the tanh GELU are checked too. Offline only.
"""
import json
import sys

import torch
from transformers import BertModel


def main():
    request = json.load(sys.stdin)
    ids = torch.tensor(request["ids"], dtype=torch.long)
    mask = torch.tensor(request["mask"], dtype=torch.long)
    hidden = {}
    for act in request["hidden_acts"]:
        model = BertModel.from_pretrained(
            request["model_dir"], hidden_act=act, add_pooling_layer=False, attn_implementation="eager"
        ).eval()
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        hidden[act] = out.last_hidden_state.tolist()
    json.dump(hidden, sys.stdout)


if __name__ == "__main__":
    main()
