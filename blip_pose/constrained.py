"""Grammar-constrained decoding: a ``LogitsProcessor`` that lets a captioner write only captions its format can parse.

At each step only the tokens that keep the caption valid are allowed, so ``parse_rate`` is 1.0 by construction,
even for an untrained model:

* ``text`` / ``simple_text``: the joint names in MPII order, ``:``, a whole number in ``0..width``, ``,``, a whole
  number in ``0..height``, then the next joint, and EOS after the last one;
* ``normalized_text`` / ``normalized_simple_text``: the same with ``0.ddd`` numbers;
* ``loc_text``: 32 loc tokens (x then y per joint: the model's, ``loc=``, by default the added ``<locN>``), then EOS.

A caption is a sequence of slots. A *token slot* takes one id from a set (the loc tokens). A *word slot* takes one
word from a set of strings (a joint name, ``:``, a number), written as the ids the tokenizer itself gives that word
in a caption: the word is tokenized after the word that precedes it, and the ids past the preceding word's are the
word's (nothing assumed of the vocabulary: no ``##`` prefix, no particular end token). The tokenizer must write
each caption word as tokens of its own (the preceding word's ids are a prefix, and a whole example caption is its
words' ids in a row; the space before a joint name is part of the name's word, so a tokenizer that writes spaces as
tokens, SentencePiece-style, works too), as BERT's WordPiece does (it splits punctuation): then generated captions
are identical to tokenized references (the model is trained on those) and their length is bounded, so ``max_new_tokens``
(:attr:`CaptionGrammar.max_new_tokens`) always leaves room for the end token (the tokenizer's SEP, else its EOS).
The presets' caption vocabulary and BLIP's BERT-uncased one alike pass. Joint names, their order and the number of
loc tokens come from the keypoint set (:class:`~blip_pose.keypoints.KeypointSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.pose_format import DEFAULT_LOC_VOCABULARY, LocVocabulary, caption_column

#: What constrained decoding needs of a tokenizer, in the errors that refuse one.
_NEEDS = (
    "constrained decoding needs a tokenizer that writes each caption word as its own tokens "
    "(a WordPiece tokenizer that splits punctuation)"
)
#: A caption whose tokens are checked against its words' (a joint name with ``_``, numbers after ``:`` and ``,``).
_EXAMPLE = (("rankl", ":", "12", ",", "34"), ("upper", "_", "neck", ":", "5", ",", "6"))
_DONE = (-1, ())  # after EOS: only padding follows
_INVALID = (-2, ())  # a prefix the grammar never allows (e.g. written without the processor): stop at once
_MAX_MASKS = 1024  # (vocab,) bool masks kept per grammar (~30 MB with BERT's vocabulary)


@dataclass(frozen=True)
class _WordSlot:
    """The token sequences of its words (as the tokenizer writes them in a caption) as a trie: prefix -> next ids."""

    next_ids: dict[tuple[int, ...], frozenset[int]]
    complete: frozenset[tuple[int, ...]]  # prefixes that spell a whole word
    longest: int


@dataclass(frozen=True)
class _TokenSlot:
    ids: tuple[int, ...]


class CaptionGrammar(LogitsProcessor):
    """Allows only tokens that continue a valid caption of ``column`` for a ``width`` x ``height`` processed image.

    Args:
        tokenizer: one that writes each caption word as its own tokens (see the module docstring); ``loc_text``
            needs the loc tokens added (:func:`blip_pose.loc_tokens.add_loc_tokens`).
        column: a coordinate column of :data:`~blip_pose.pose_format.CAPTION_COLUMNS`.
        width, height: the processed image (pixel numbers range over ``0..width`` and ``0..height``).
        simple_joints: the joints of ``simple`` columns: the model's own subset, as its ``preprocessing.json``
            records it (:class:`~blip_pose.geometry.Preprocessing`), never assumed (None: the spec's default).
        spec: the keypoint set the captions are written for (joint names and order, ``2 * K`` loc tokens).
        eos_token_id: the token that ends a caption (default: the tokenizer's SEP, else its EOS).
        loc: the loc tokens of ``loc_text`` captions (the model family's
            :meth:`~blip_pose.models.CaptionerFamily.loc_vocabulary`).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        column: str,
        width: int,
        height: int,
        simple_joints: tuple[str, ...] | None = None,
        *,
        spec: KeypointSpec = DEFAULT_SPEC,
        eos_token_id: int | None = None,
        loc: LocVocabulary = DEFAULT_LOC_VOCABULARY,
    ) -> None:
        entry = caption_column(column)
        end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        self.eos_id = int(end if eos_token_id is None else eos_token_id)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id)
        self._tokenizer = tokenizer
        self._tries: dict[tuple[str, frozenset[str]], _WordSlot] = {}
        word_slot = self._word_slot
        unit = entry.format.unit
        if entry.format.name == "loc":
            ids = cast("list[int]", tokenizer.convert_tokens_to_ids(list(loc.tokens)))
            if tokenizer.unk_token_id in ids or None in ids:
                raise ValueError(
                    f"loc_text captions need the {loc.token(0)} tokens: call blip_pose.loc_tokens.add_loc_tokens"
                )
            slots: list[_WordSlot | _TokenSlot] = [_TokenSlot(tuple(ids))] * (2 * spec.num_keypoints)
        else:
            self._check_words()
            if unit == "pixel":
                xs, ys = (
                    word_slot(":", {str(v) for v in range(width + 1)}),
                    word_slot(",", {str(v) for v in range(height + 1)}),
                )
                numbers, last = [[xs], [ys]], "0"
            else:  # fraction: "0" "." "ddd" (values in [0, 0.999])
                fractions = {f"{v:03d}" for v in range(1000)}
                numbers = [[word_slot(sep, {"0"}), word_slot("0", {"."}), word_slot(".", fractions)] for sep in ":,"]
                last = "000"
            slots, before, space = [], "", ""
            subset = spec.default_simple_joints if simple_joints is None else simple_joints
            for j in spec.ids(subset if entry.simple else None):
                parts = spec.captions[j].replace("_", " _ ").split()
                for part in parts:
                    slots.append(word_slot(before, {space + part}))
                    before, space = part, ""
                slots += [word_slot(before, {":"}), *numbers[0], word_slot(last, {","}), *numbers[1]]
                before, space = last, " "  # the space between joints: the next name's word starts with it
        self.slots = slots
        self._masks: dict[tuple, tuple[torch.Tensor, frozenset[int]]] = {}
        self._states: dict[tuple[int, ...], tuple] = {}
        self._blocked_masks: dict[tuple, torch.Tensor] = {}
        self._subsets: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
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
        simple_joints: tuple[str, ...] | None = None,
        *,
        spec: KeypointSpec = DEFAULT_SPEC,
        eos_token_id: int | None = None,
        loc: LocVocabulary = DEFAULT_LOC_VOCABULARY,
    ) -> CaptionGrammar:
        """The grammar for images of ``sizes`` (N, 2) width, height: numbers range over the largest."""
        width, height = (int(np.ceil(v)) for v in np.asarray(sizes, dtype=np.float64).max(axis=0))
        return cls(tokenizer, column, width, height, simple_joints, spec=spec, eos_token_id=eos_token_id, loc=loc)

    # --- vocabulary: asked of the tokenizer -------------------------------------------------------------------------

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return self._tokenizer(texts, add_special_tokens=False)["input_ids"]

    def _in_context(self, before: str, words: list[str]) -> dict[str, tuple[int, ...]]:
        """Each word's ids as the tokenizer writes it right after ``before`` (the previous caption word, with the
        caption's own spacing); a tokenizer that merges the two words across their boundary is refused."""
        (prefix,) = self._encode([before])
        written = {}
        for word, ids in zip(words, self._encode([before + word for word in words])):
            if ids[: len(prefix)] != prefix:
                raise ValueError(
                    f"{_NEEDS}: {before!r} + {word!r} -> {ids}; turn it off with --constrained_decoding false"
                )
            written[word] = tuple(ids[len(prefix) :])
        return written

    def _check_words(self) -> None:
        """An example caption must be its words' ids in a row (BERT-style pre-tokenization)."""
        for words in _EXAMPLE:
            caption = "".join(words)
            joined = [i for before, word in zip(("", *words), words) for i in self._in_context(before, [word])[word]]
            (ids,) = self._encode([caption])
            if ids != joined:
                tokens = self._tokenizer.convert_ids_to_tokens(ids)
                raise ValueError(f"{_NEEDS} ({caption!r} -> {tokens}); turn it off with --constrained_decoding false")

    def _word_slot(self, before: str, words: set[str]) -> _WordSlot:
        """A slot taking one of ``words`` after the word ``before``, each written as the tokenizer writes it there
        (one trie per context and word set)."""
        key = (before, frozenset(words))
        if key not in self._tries:
            splits = self._in_context(before, sorted(words))
            unk = self._tokenizer.unk_token_id
            missing = sorted(w for w, ids in splits.items() if not ids or unk in ids)
            if missing:
                raise ValueError(f"the tokenizer cannot write caption words {missing[:3]}")
            next_ids: dict[tuple[int, ...], set[int]] = {}
            for ids in splits.values():
                for n in range(len(ids)):
                    next_ids.setdefault(ids[:n], set()).add(ids[n])
            longest = max(len(ids) for ids in splits.values())
            frozen = {prefix: frozenset(ids) for prefix, ids in next_ids.items()}
            self._tries[key] = _WordSlot(frozen, frozenset(splits.values()), longest)
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
        return self.mask_scores(self.row_states(input_ids), scores)

    def row_states(self, input_ids: torch.Tensor) -> list[tuple]:
        """Each row's grammar state after ``input_ids`` (B, T); call once per decoding step (a shorter or equally
        long ``input_ids`` than the last call's starts a new ``generate`` call)."""
        length = input_ids.shape[1]
        if length <= self._last_length or not self._states:  # a new generate call
            self._states = {(): (0, ())}
            self._start = length
        self._last_length = length
        return [self._state(tuple(row)) for row in input_ids[:, self._start :].tolist()]

    def forced_tokens(self, states: list[tuple]) -> list[int] | None:
        """The one token each row may take next when every row has exactly one (a joint name, ``:``, ``,``, EOS,
        padding); None otherwise. Greedy decoding takes it without the output layer: no score can change it."""
        forced: list[int] = []
        for state in states:
            ids = self._allowed(state)[1]
            if len(ids) != 1:
                return None
            forced.extend(ids)
        return forced

    def allowed_ids(self, states: list[tuple], device: torch.device | None = None) -> torch.Tensor:
        """The tokens any of the rows' ``states`` allows, ascending (K,): the only output-layer scores a greedy
        step needs, every other token being -inf once masked (a few hundred number tokens of a 30k vocabulary)."""
        return self._subset(states, device)[0]

    def mask_scores(
        self, states: list[tuple], scores: torch.Tensor, columns: torch.Tensor | None = None
    ) -> torch.FloatTensor:
        """``scores`` (B, vocab) with every token the rows' ``states`` forbid set to -inf (one masked fill; each
        state's (vocab,) mask is built once); with ``columns`` = :meth:`allowed_ids` of the same ``states``,
        ``scores`` (B, K) are those tokens' scores."""
        if columns is None:
            blocked = torch.stack([self._blocked(state, scores.shape[-1], scores.device) for state in states])
        else:
            ids, blocked = self._subset(states, columns.device)
            if ids.shape != columns.shape:
                raise ValueError(f"columns must be allowed_ids(states) ({ids.shape[0]} ids), got {columns.shape[0]}")
        return cast("torch.FloatTensor", scores.masked_fill(blocked, float("-inf")))

    def _subset(self, states: list[tuple], device: torch.device | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(:meth:`allowed_ids` (K,), which of them each row forbids (B, K)), built once per combination of
        states: a batch's rows mostly share theirs, so a decoding step is a dictionary look-up."""
        key = (tuple(states), device)
        subset = self._subsets.get(key)
        if subset is None:
            if len(self._subsets) >= _MAX_MASKS:
                self._subsets.clear()
            ids = torch.tensor(sorted(frozenset().union(*(self._allowed(state)[1] for state in states))))
            ids = ids.to(device) if device is not None else ids
            allowed = [torch.isin(ids, self._allowed(state)[0].to(ids.device)) for state in states]
            subset = self._subsets[key] = (ids, ~torch.stack(allowed))
        return subset

    def _blocked(self, state: tuple, vocab: int, device: torch.device) -> torch.Tensor:
        key = (state, vocab, device)
        blocked = self._blocked_masks.get(key)
        if blocked is None:
            if len(self._blocked_masks) >= _MAX_MASKS:  # bounded: number slots of a fraction grammar are many
                self._blocked_masks.clear()
            blocked = torch.ones(vocab, dtype=torch.bool, device=device)
            blocked[self._allowed(state)[0].to(device)] = False
            self._blocked_masks[key] = blocked
        return blocked

    def _state(self, prefix: tuple[int, ...]) -> tuple:
        state = self._states.get(prefix)
        if state is None:
            state = self._states[prefix] = self._advance(self._state(prefix[:-1]), prefix[-1])
        return state
