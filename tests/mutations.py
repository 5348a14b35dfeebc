"""The mutation sweep: break one property of the method at a time, run the tests meant to catch it, put the code back.

    python tests/mutations.py ["NAME" ...]      # every mutation, or the named ones; one line each: which tests failed

A property no test catches is a test missing. The last sweep's lines are in docs/TESTING.md. Not collected by pytest
(it edits the source while it runs: run it alone, on a clean checkout).
"""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
MUTATIONS = [
    ("STMP: trimmed and truncated swapped", "src/skelemix/mixing.py",
     "return pooled[..., 0], pooled[..., 1]", "return pooled[..., 1], pooled[..., 0]", "tests/test_mixing.py tests/test_losses.py"),
    ("p positive with its own key, not the partner's", "src/skelemix/methods/skelemixclr.py",
     "loss_p = info_nce(p, k[partner],", "loss_p = info_nce(p, k,", "tests/test_losses.py"),
    ("no extra negative g for p", "src/skelemix/methods/skelemixclr.py",
     "extra_negative=g.detach(),", "extra_negative=None,", "tests/test_losses.py"),
    ("the other side not detached", "src/skelemix/methods/skelemixclr.py",
     "extra_negative=p.detach(), excluded=excluded)", "extra_negative=p, excluded=excluded)", "tests/test_losses.py"),
    ("mix loss not halved", "src/skelemix/methods/skelemixclr.py",
     "loss = (loss_p + loss_g) / 2", "loss = loss_p + loss_g", "tests/test_losses.py"),
    ("momentum towards the key side's complement", "src/skelemix/methods/moco.py",
     "key_param.lerp_(query_param.detach(), 1 - momentum)", "key_param.lerp_(query_param.detach(), momentum)", "tests/test_moco.py"),
    ("momentum update before the SGD step", "src/skelemix/methods/skeletonclr.py",
     "            optimizer.step()\n            owners", "            self.update_key_side()\n            optimizer.step()\n            owners", "tests/test_moco.py"),
    ("queue keys written in reverse", "src/skelemix/methods/moco.py",
     "self.keys[slots] = keys.detach()[-size:].to(self.keys.dtype)", "self.keys[slots] = keys.detach()[-size:].flip(0).to(self.keys.dtype)", "tests/test_moco.py tests/test_distributed.py"),
    ("InfoNCE temperature ignored", "src/skelemix/methods/moco.py",
     "logits = torch.cat(logits, dim=1) / temperature", "logits = torch.cat(logits, dim=1)", "tests/test_losses.py"),
    ("own keys not excluded from p's negatives by partner", "src/skelemix/methods/skelemixclr.py",
     "excluded=None if excluded is None else excluded[partner])", "excluded=excluded)", "tests/test_mixing.py"),
    ("bone stream from children instead of parents", "src/skelemix/data/streams.py",
     "bone = x - x[:, :, :, parents]", "bone = x[:, :, :, parents] - x", "tests/test_encoder.py"),
    ("live window: a joint not filled from where it was seen before the window", "src/skelemix/data/recordings.py",
     "            if earlier:\n                times, values", "            if False:\n                times, values", "tests/test_stream.py"),
    ("a stopped epoch resumed from its start", "src/skelemix/data/loading.py",
     "and 0 < self.batches_done < len(self):", "and 0 > self.batches_done:", "tests/test_resume.py::test_a_run_stopped_by_ctrl_c_mid_epoch_resumes_on_the_same_batches"),
    ("cv: a fold's own clips in its probe's training data", "src/skelemix/evaluation/cross_validation.py",
     "linear_probe(features[~held], labels[~held], features[held]", "linear_probe(features, labels, features[held]", "tests/test_evaluation.py"),
    ("the resumed iterator's seed draw kept", "src/skelemix/data/loading.py",
     "        torch.set_rng_state(state)\n        return iterator", "        return iterator", "tests/test_resume.py::test_a_run_stopped_by_ctrl_c_mid_epoch_resumes_on_the_same_batches"),
    ("the DDP all-reduce on the first term", "src/skelemix/methods/skeletonclr.py",
     "backward(term, index == self.loss_term_count - 1)", "backward(term, index == 0)", "tests/test_losses.py"),
]
only = sys.argv[1:]
for name, path, old, new, tests in MUTATIONS:
    if only and name not in only:
        continue
    file = ROOT / path
    text = file.read_text()
    assert text.count(old) >= 1, (name, old)
    file.write_text(text.replace(old, new, 1))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests.split()],
                           cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        failed = [l.split(" ")[1] for l in r.stdout.splitlines() if l.startswith("FAILED")]
        print(f"{name}: {'CAUGHT by ' + ', '.join(failed) if failed else 'NOT CAUGHT'}", flush=True)
    finally:
        file.write_text(text)
