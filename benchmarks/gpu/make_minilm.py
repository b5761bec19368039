"""Rebuild ce-minilm-l6-arch (../shared/models/fixtures) where the fixture cannot be copied, e.g. a GPU machine that
only receives a 64 MiB working tree: the same code as the fixture's generator (fixtures/tools/gen.py: BERT, 6 layers,
hidden 384, 12 heads, FFN 1536, seed 6, classifier scaled on the reference pairs, torch.onnx opset 17), so with
PyTorch 2.11 and transformers 5.17 it is the same model. Prints whether the ONNX file's sha256 matches the fixture's.

Usage: python3 make_minilm.py STAGE OUTDIR   (STAGE holds vocab.txt, pairs.json and the fixture's small files)
"""
import hashlib, json, os, shutil, sys

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

STAGE, OUT = sys.argv[1], sys.argv[2]
FIXTURE_SHA256 = "8db6c5c0f42f7584f8577be178fd6536be9df9c83a1abb9ad5d17b2fe4ad8308"

tok_dir = os.path.join(OUT, "_tok")
os.makedirs(tok_dir, exist_ok=True)
shutil.copy(os.path.join(STAGE, "vocab.txt"), os.path.join(tok_dir, "vocab.txt"))
json.dump({"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "BertTokenizer"},
          open(os.path.join(tok_dir, "tokenizer_config.json"), "w"))
tok = AutoTokenizer.from_pretrained(tok_dir)
assert tok("hello world Berlin")["input_ids"] == [101, 7592, 2088, 4068, 102]

torch.manual_seed(6)
cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
                 max_position_embeddings=512, type_vocab_size=2, num_labels=1, hidden_act="gelu",
                 tie_word_embeddings=False, initializer_range=0.1)
cfg._attn_implementation = "eager"
model = BertForSequenceClassification(cfg).eval()
pairs = json.load(open(os.path.join(STAGE, "pairs.json")))["pairs"]
with torch.no_grad():
    logits = torch.cat([model(**tok([p[0]], [p[1]], truncation="longest_first", max_length=512, return_tensors="pt")).logits
                        for p in pairs])
    mean, std = logits.mean(dim=0), logits.std(dim=0).clamp_min(1e-6)
    k = 3.0 / std
    model.classifier.weight.mul_(k[:, None])
    model.classifier.bias.copy_((model.classifier.bias - mean) * k)

d = os.path.join(OUT, "ce-minilm-l6-arch")
os.makedirs(os.path.join(d, "onnx"), exist_ok=True)
for f in os.listdir(os.path.join(STAGE, "model")):
    shutil.copy(os.path.join(STAGE, "model", f), os.path.join(d, f))
enc = tok(["a query"], ["a document text"], return_tensors="pt")
names = ["input_ids", "attention_mask", "token_type_ids"]
dyn = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
dyn["logits"] = {0: "batch_size"}


class Wrap(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


path = os.path.join(d, "onnx", "model.onnx")
torch.onnx.export(Wrap(model), (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]), path,
                  input_names=names, output_names=["logits"], dynamic_axes=dyn, opset_version=17,
                  do_constant_folding=True, dynamo=False)
h = hashlib.sha256(open(path, "rb").read()).hexdigest()
print(json.dumps({"model": d, "sha256": h, "same_as_fixture": h == FIXTURE_SHA256, "torch": torch.__version__}))
