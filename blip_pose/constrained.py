"""Grammar-constrained decoding: a ``LogitsProcessor`` that lets BLIP write only captions its format can parse.

At each step only the tokens that keep the caption valid are allowed, so ``parse_rate`` is 1.0 by construction,
even for an untrained model:

* ``text`` / ``simple_text``: the joint names in MPII order, ``:``, a whole number in ``0..width``, ``,``, a whole
  number in ``0..height``, then the next joint, and EOS after the last one;
* ``normalized_text`` / ``normalized_simple_text``: the same with ``0.ddd`` numbers;
* ``loc_text``: 32 ``<locN>`` tokens (x then y per joint), then EOS.

A caption is a sequence of slots. A *token slot* takes one id from a set (the loc tokens). A *word slot* takes one
WordPiece word from a set of strings (a joint name, ``:``, a number): its first piece is a word-initial token and
the rest are ``##`` pieces, and the pieces must be the ones the tokenizer's greedy longest-match would produce. That
keeps generated captions identical to tokenized references (the model is trained on those) and bounds their length,
so ``max_new_tokens`` (:attr:`CaptionGrammar.max_new_tokens`) always leaves room for EOS. It works with any BERT-style
WordPiece tokenizer: the presets' caption vocabulary and BLIP's BERT-uncased one alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import LOC_BINS, LOC_TOKENS, caption_column

_CONTINUATION = "##"
_DONE = (-1, ())  # after EOS: only padding follows
_INVALID = (-2, ())  # a prefix the grammar never allows (e.g. written without the processor): stop at once


@dataclass(frozen=True)
class _WordSlot:
    """The token sequences of its words (each word's greedy WordPiece split) as a trie: prefix -> next ids."""

    next_ids: dict[tuple[int, ...], frozenset[int]]
    complete: frozenset[tuple[int, ...]]  # prefixes that spell a whole word
    longest: int


@dataclass(frozen=True)
class _TokenSlot:
    ids: tuple[int, ...]


class CaptionGrammar(LogitsProcessor):
    """Allows only tokens that continue a valid caption of ``column`` for a ``width`` x ``height`` processed image.

    Args:
        tokenizer: a WordPiece tokenizer (``##`` continuations); ``loc_text`` needs the loc tokens added
            (:func:`blip_pose.loc_tokens.add_loc_tokens`).
        column: a coordinate column of :data:`~blip_pose.pose_format.CAPTION_COLUMNS`.
        width, height: the processed image (pixel numbers range over ``0..width`` and ``0..height``).
        simple_joints: the joints of ``simple`` columns: the model's own subset, as its ``preprocessing.json``
            records it (:class:`~blip_pose.geometry.Preprocessing`), never assumed.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        column: str,
        width: int,
        height: int,
        simple_joints: tuple[str, ...] = MPII16.default_simple_joints,
    ) -> None:
        entry = caption_column(column)
        self.eos_id = int(tokenizer.sep_token_id)
        self.pad_id = int(tokenizer.pad_token_id)
        special = set(tokenizer.all_special_tokens)
        vocab = tokenizer.get_vocab()
        self._first = {t: i for t, i in vocab.items() if not t.startswith(_CONTINUATION) and t not in special}
        self._cont = {t[len(_CONTINUATION) :]: i for t, i in vocab.items() if t.startswith(_CONTINUATION)}
        self._first_text = {i: t for t, i in self._first.items()}
        self._cont_text = {i: t for t, i in self._cont.items()}
        self._tries: dict[frozenset[str], _WordSlot] = {}
        word_slot = self._word_slot
        unit = entry.format.unit
        if entry.format.name == "loc":
            ids = cast("list[int]", tokenizer.convert_tokens_to_ids(list(LOC_TOKENS)))
            if tokenizer.unk_token_id in ids:
                raise ValueError("loc_text captions need the <locN> tokens: call blip_pose.loc_tokens.add_loc_tokens")
            slots: list[_WordSlot | _TokenSlot] = [_TokenSlot(tuple(ids[:LOC_BINS]))] * 32
        else:
            self._check_wordpiece(tokenizer)
            if unit == "pixel":
                xs, ys = [word_slot({str(v) for v in range(n + 1)}) for n in (width, height)]
                numbers = [[xs], [ys]]
            else:  # fraction: "0" "." "ddd" (values in [0, 0.999])
                digits = [word_slot({"0"}), word_slot({"."}), word_slot({f"{v:03d}" for v in range(1000)})]
                numbers = [digits, digits]
            slots = []
            for j in MPII16.ids(simple_joints if entry.simple else None):
                parts = MPII16.captions[j].replace("_", " _ ").split()
                slots += [word_slot({p}) for p in parts] + [word_slot({":"})]
                slots += numbers[0] + [word_slot({","})] + numbers[1]
        self.slots = slots
        self._masks: dict[tuple, tuple[torch.Tensor, frozenset[int]]] = {}
        self._states: dict[tuple[int, ...], tuple] = {}
        self._start = 0
        self._last_length = 0
        #: The longest valid caption in tokens, plus EOS: a ``max_new_tokens`` that never cuts a caption short.
        self.max_new_tokens = sum(1 if isinstance(s, _TokenSlot) else s.longest for s in slots) + 1

    @classmethod
    def for_sizes(
        cls,
        tokenizer: PreTrainedTokenizerBase,
        column: str,
        sizes: np.ndarray,
        simple_joints: tuple[str, ...] = MPII16.default_simple_joints,
    ) -> CaptionGrammar:
        """The grammar for images of ``sizes`` (N, 2) width, height: numbers range over the largest."""
        width, height = (int(np.ceil(v)) for v in np.asarray(sizes, dtype=np.float64).max(axis=0))
        return cls(tokenizer, column, width, height, simple_joints)

    # --- vocabulary ----------------------------------------------------------------------------------------------

    def _check_wordpiece(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """The tokenizer must split a caption into one word per word slot (BERT-style pre-tokenization)."""
        example = "rankl:12,34 upper_neck:5,6"
        tokens = tokenizer.tokenize(example)
        words = sum(not t.startswith(_CONTINUATION) for t in tokens)
        if "".join(t.removeprefix(_CONTINUATION) for t in tokens) != example.replace(" ", "") or words != 12:
            raise ValueError(
                f"constrained decoding needs a WordPiece tokenizer that splits punctuation ({example!r} -> {tokens}); "
                "turn it off with --constrained_decoding false"
            )

    def _greedy(self, word: str) -> list[str] | None:
        """The tokenizer's greedy longest-match split of ``word`` (None when a piece is missing)."""
        pieces, start = [], 0
        while start < len(word):
            table = self._first if start == 0 else self._cont
            end = next((e for e in range(len(word), start, -1) if word[start:e] in table), None)
            if end is None:
                return None
            pieces.append(word[start:end])
            start = end
        return pieces

    def _word_slot(self, words: set[str]) -> _WordSlot:
        """A slot taking one of ``words``, each written as the tokenizer's greedy split (one trie per word set)."""
        key = frozenset(words)
        if key not in self._tries:
            splits = {w: self._greedy(w) for w in key}
            missing = sorted(w for w, pieces in splits.items() if pieces is None)
            if missing:
                raise ValueError(f"the tokenizer cannot write caption words {missing[:3]}")
            next_ids: dict[tuple[int, ...], set[int]] = {}
            complete = set()
            for pieces in splits.values():
                assert pieces is not None
                ids = tuple(self._first[p] if n == 0 else self._cont[p] for n, p in enumerate(pieces))
                for n in range(len(ids)):
                    next_ids.setdefault(ids[:n], set()).add(ids[n])
                complete.add(ids)
            longest = max(len(p) for p in splits.values() if p is not None)
            frozen = {prefix: frozenset(ids) for prefix, ids in next_ids.items()}
            self._tries[key] = _WordSlot(frozen, frozenset(complete), longest)
        return self._tries[key]

    # --- states: (slot index, ids of the slot's word so far) -------------------------------------------------------

    def _first_ids(self, k: int) -> frozenset[int]:
        """Tokens that may start slot ``k`` (EOS after the last slot)."""
        if k == len(self.slots):
            return frozenset((self.eos_id,))
        slot = self.slots[k]
        return frozenset(slot.ids) if isinstance(slot, _TokenSlot) else slot.next_ids[()]

    def _allowed(self, state: tuple) -> tuple[torch.Tensor, frozenset[int]]:
        cached = self._masks.get(state)
        if cached is not None:
            return cached
        k, word = state
        if state == _DONE:
            ids = frozenset((self.pad_id,))
        elif state == _INVALID:
            ids = frozenset((self.eos_id,))
        elif not word:
            ids = self._first_ids(k)
        else:
            slot = self.slots[k]
            assert isinstance(slot, _WordSlot)
            ids = slot.next_ids.get(word, frozenset())
            if word in slot.complete:
                ids = ids | self._first_ids(k + 1)
        cached = self._masks[state] = (torch.tensor(sorted(ids), dtype=torch.long), ids)
        return cached

    def _advance(self, state: tuple, token: int) -> tuple:
        if state in (_DONE, _INVALID) or token not in self._allowed(state)[1]:
            return _DONE if state == _DONE or token == self.eos_id else _INVALID
        if token == self.eos_id:
            return _DONE
        k, word = state
        slot = self.slots[k]
        if isinstance(slot, _TokenSlot):
            return (k + 1, ())
        if token in slot.next_ids.get(word, ()):  # the word goes on (a word's pieces never start the next slot)
            return (k, (*word, token))
        return self._advance((k + 1, ()), token)  # the word is complete and the next slot starts

    # --- LogitsProcessor -------------------------------------------------------------------------------------------

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        length = input_ids.shape[1]
        if length <= self._last_length or not self._states:  # a new generate call
            self._states = {(): (0, ())}
            self._start = length
        self._last_length = length
        rows = input_ids[:, self._start :].tolist()
        row_ids, col_ids = [], []
        for r, row in enumerate(rows):
            state = self._state(tuple(row))
            allowed = self._allowed(state)[0]
            row_ids.append(torch.full((len(allowed),), r, dtype=torch.long))
            col_ids.append(allowed)
        keep = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
        keep[torch.cat(row_ids).to(scores.device), torch.cat(col_ids).to(scores.device)] = True
        return cast("torch.FloatTensor", scores.masked_fill(~keep, float("-inf")))

    def _state(self, prefix: tuple[int, ...]) -> tuple:
        state = self._states.get(prefix)
        if state is None:
            state = self._states[prefix] = self._advance(self._state(prefix[:-1]), prefix[-1])
        return state
