"""Customer keys: how to tell whether two deal registrations (or a registration and a
mirrored CRM deal) are about the same customer.

Two keys, from strong to weak:

* the **domain key** (:func:`domain_key`) is the registrable domain ("eTLD+1") of the
  customer's website, URL or e-mail address: ``https://shop.acme.co.uk/x`` and
  ``jane@acme.co.uk`` both give ``acme.co.uk``. It is public-suffix aware (from
  tldextract's bundled Public Suffix List snapshot, never the network), lower-case ASCII
  (internationalised names in their ``xn--`` form, so both spellings meet), and ``None``
  for a value that names no registrable domain (an IP address, ``localhost``, a bare
  word) or names a free-mail provider (``gmail.com``, ``yahoo.co.uk``): an address
  there says nothing about the customer.
* the **name key** (:func:`name_key`) is the company name normalised so that spellings
  of one name meet: accents and case folded, legal forms dropped (cleanco's maintained
  list: ``Inc``, ``GmbH & Co. KG``, ``SA``...), punctuation and a leading "the" dropped,
  whitespace collapsed: ``Acme, Inc.`` and ``ACME Incorporated`` both give ``acme``.
  Names that are not equal can still be close: :func:`name_score` scores two name keys,
  :func:`name_tokens` gives the words a fuzzy-candidate index is built from.

Both keys are pure functions of their input, cached (they run once per mirrored deal),
never raise on hostile text, hold no control characters and are at most 255 characters
(the store's column width). This module imports nothing of partnersync.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import tldextract
from cleanco import prepare_default_terms  # type: ignore[import-untyped]  # no stubs
from rapidfuzz import fuzz, process

__all__ = [
    "FREE_MAIL_DOMAINS",
    "CustomerKeys",
    "close_names",
    "customer_keys",
    "domain_key",
    "name_key",
    "name_score",
    "name_tokens",
]

_KEY_MAX_LENGTH = 255
"""The longest key the store holds (its column width)."""

_CACHE_SIZE = 65536
# Inputs longer than this are computed without the cache, so the cache's memory stays
# bounded (an lru_cache holds its arguments) whatever the CRM sends.
_CACHED_INPUT_MAX = 512
# A company name is cut to this many characters before it is normalised: no real name
# is longer, and it bounds the work a hostile 10 kB "name" can cause.
_NAME_INPUT_MAX = 1024

# ---------------------------------------------------------------------------------------
# Free mail
# ---------------------------------------------------------------------------------------

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # Google, Microsoft, Apple, Yahoo/AOL, Zoho (families of these are below)
        "gmail.com",
        "googlemail.com",
        "msn.com",
        "windowslive.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "ymail.com",
        "rocketmail.com",
        "aim.com",
        "zoho.com",
        "zohomail.com",
        # privacy and paid-personal mail
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "tutanota.com",
        "tutanota.de",
        "tutamail.com",
        "tuta.io",
        "fastmail.com",
        "fastmail.fm",
        "hey.com",
        "hushmail.com",
        "mailbox.org",
        "posteo.de",
        "posteo.net",
        # general webmail
        "mail.com",
        "email.com",
        "lycos.com",
        "inbox.com",
        # German-speaking, French, Italian, Central/Eastern European
        "web.de",
        "t-online.de",
        "freenet.de",
        "arcor.de",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "virgilio.it",
        "alice.it",
        "seznam.cz",
        "centrum.cz",
        "wp.pl",
        "o2.pl",
        "onet.pl",
        "interia.pl",
        "abv.bg",
        # Russian
        "mail.ru",
        "inbox.ru",
        "list.ru",
        "bk.ru",
        "rambler.ru",
        "ya.ru",
        # Chinese, Korean, Indian
        "qq.com",
        "foxmail.com",
        "163.com",
        "126.com",
        "yeah.net",
        "sina.com",
        "sina.cn",
        "sohu.com",
        "aliyun.com",
        "139.com",
        "naver.com",
        "daum.net",
        "hanmail.net",
        "rediffmail.com",
        # Brazilian
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        # consumer ISP mailboxes whose company runs its business on another domain
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "bellsouth.net",
        "cox.net",
        "charter.net",
        "earthlink.net",
        "optonline.net",
        "juno.com",
        "btinternet.com",
        "ntlworld.com",
        "blueyonder.co.uk",
        "talktalk.net",
        "sympatico.ca",
        "telus.net",
        "bigpond.com",
        "bigpond.net.au",
        "optusnet.com.au",
    }
)
"""Registrable domains of free-mail providers: an address there names no customer.

The providers that hand out the same name under many suffixes (``hotmail.*``,
``yahoo.*``, ``gmx.*``...) are matched by name instead and are not listed here."""

# Matched against the registrable domain's own label (tldextract's ``domain``), whatever
# its public suffix: yahoo.co.uk, gmx.at, hotmail.fr, outlook.de, yandex.kz...
_FREE_MAIL_FAMILIES = frozenset({"aol", "gmx", "hotmail", "live", "outlook", "yahoo", "yandex"})

# ---------------------------------------------------------------------------------------
# Domain key
# ---------------------------------------------------------------------------------------

_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ANGLE_ADDRESS = re.compile(r"<([^<>]*)>")
_WRAPPING = " \t\r\n\"'<>()[],;"


@cache
def _extractor() -> tldextract.TLDExtract:
    """The one extractor, built on first use: tldextract's bundled PSL snapshot only.

    ``suffix_list_urls=()`` means no URL is ever fetched (and the environment's
    ``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS`` is not read), ``cache_dir=None`` disables
    the disk cache (nothing is read or written), so the snapshot is the only source.
    PSL private domains count as suffixes: ``acme.github.io`` and ``beta.github.io``
    are two customers, not one ``github.io``.
    """
    return tldextract.TLDExtract(
        suffix_list_urls=(),
        cache_dir=None,
        fallback_to_snapshot=True,
        include_psl_private_domains=True,
    )


def _ascii_domain(domain: str) -> str | None:
    """``domain`` (lower-case, dotted) as ASCII LDH labels, ``xn--`` for unicode ones."""
    if not domain.isascii():
        if not all(ch.isalnum() or ch in ".-" for ch in domain):
            return None
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = domain.split(".")
    if len(domain) > 253 or not all(_LDH_LABEL.fullmatch(label) for label in labels):
        return None
    return domain


def _domain_key(value: str) -> str | None:
    """The uncached :func:`domain_key`."""
    text = value.strip(_WRAPPING)
    if "<" in text:  # "Jane Doe <jane@acme.com>"
        angle = _ANGLE_ADDRESS.search(text)
        text = angle.group(1).strip(_WRAPPING) if angle else text
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # full-width letters and dots
    parts = _extractor()(text.lower())
    if not parts.domain or not parts.suffix or parts.domain == "www":
        return None
    key = _ascii_domain(f"{parts.domain}.{parts.suffix}")
    if key is None or key in FREE_MAIL_DOMAINS or key.partition(".")[0] in _FREE_MAIL_FAMILIES:
        return None
    return key


_domain_key_cached = lru_cache(maxsize=_CACHE_SIZE)(_domain_key)


def domain_key(value: str | None) -> str | None:
    """The registrable domain of a domain, URL or e-mail address, lower-case ASCII; None
    when there is none or it is a free-mail provider's. The strong customer key."""
    if not value:
        return None
    if len(value) > _CACHED_INPUT_MAX:
        return _domain_key(value)
    return _domain_key_cached(value)


# ---------------------------------------------------------------------------------------
# Name key
# ---------------------------------------------------------------------------------------

# Apostrophes vanish (O'Brien -> obrien, McDonald's -> mcdonalds) rather than split words.
_APOSTROPHES = dict.fromkeys(map(ord, "'\u2018\u2019\u201b\u02bc\u00b4`\u2032\uff07"))
# ASCII control characters (NUL included) become spaces.
_ASCII_CONTROLS = {code: " " for code in (*range(32), 127)}
# Latin letters that NFKD does not decompose, after case folding.
_LETTERS = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ħ": "h",
     "\u0131": "i", "ŧ": "t"}  # \u0131 is the dotless i
)  # fmt: skip
# How cleanco compares a token with its legal forms: without ".", "," and "-", and here
# also without the brackets or other punctuation around it ("(Ltd)", "Inc.)").
_FORM_INNER = dict.fromkeys(map(ord, ".,-"))
_FORM_EDGES = re.compile(r"^[^\w&]+|[^\w&]+$")
_NON_WORD = re.compile(r"[\W_]+")


def _fold(text: str) -> str:
    """Case- and accent-fold ``text``; controls and separators become spaces, format
    characters (bidi marks, zero-width joiners, soft hyphens) and apostrophes vanish."""
    text = text.translate(_APOSTROPHES)
    if text.isascii():
        return text.translate(_ASCII_CONTROLS).lower()
    for _ in range(2):  # a second round for what case folding produced (rarely needed)
        kept: list[str] = []
        for ch in unicodedata.normalize("NFKD", text):
            category = unicodedata.category(ch)
            if category[0] == "M" or category == "Cf":
                continue
            kept.append(" " if category[0] in "CZ" else ch)
        text = "".join(kept).casefold().translate(_LETTERS).translate(_APOSTROPHES)
        if text.isascii() or unicodedata.is_normalized("NFKD", text):
            break
    return text


def _form(token: str) -> str:
    """The form a folded token is compared with legal forms in."""
    return _FORM_EDGES.sub("", token.translate(_FORM_INNER))


def _legal_forms() -> tuple[frozenset[tuple[str, ...]], int]:
    """cleanco's legal forms (its maintained list), in :func:`_form` token tuples, and
    the most tokens one has."""
    forms = set()
    for _, parts in prepare_default_terms():
        tokens = tuple(_form(token) for token in _fold(" ".join(parts)).split())
        if tokens and all(tokens):
            forms.add(tokens)
    return frozenset(forms), max(map(len, forms))


_LEGAL_FORMS, _LEGAL_FORM_MAX_TOKENS = _legal_forms()


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    """``tokens`` without the legal forms they end in (all of them: ``Acme Co Inc``);
    unchanged when nothing but legal forms would remain (``Corp``, ``GmbH & Co. KG``)."""
    pairs = [(token, form) for token in tokens if (form := _form(token))]  # "-" etc. go
    words = [token for token, _ in pairs]
    forms = [form for _, form in pairs]
    end = len(forms)
    while end:
        for size in range(min(_LEGAL_FORM_MAX_TOKENS, end), 0, -1):
            if tuple(forms[end - size : end]) in _LEGAL_FORMS:
                end -= size
                break
        else:
            break
    return words[:end] if end else words


def _merge_initials(words: list[str]) -> list[str]:
    """Runs of one-character words joined into one: ``I.B.M.`` gives ``ibm`` as ``IBM``
    does, ``H&M`` and ``H & M`` give ``hm``."""
    merged: list[str] = []
    run = ""
    for word in words:
        if len(word) == 1:
            run += word
            continue
        if run:
            merged.append(run)
            run = ""
        merged.append(word)
    if run:
        merged.append(run)
    return merged


def _normalise_once(name: str) -> str:
    """One round of name normalisation; :func:`name_key` repeats it to a fixed point.

    Legal forms are stripped while the text still has its punctuation (``S.A.``,
    ``Co.,``, ``GmbH & Co. KG`` are forms only with it), then punctuation goes.
    """
    tokens = _strip_legal_forms(_fold(name).split())
    words = _merge_initials(_NON_WORD.sub(" ", " ".join(tokens)).split())
    if len(words) > 1 and words[0] == "the":
        del words[0]
    return " ".join(words)[:_KEY_MAX_LENGTH].rstrip()


def _name_key(name: str) -> str | None:
    """The uncached :func:`name_key`."""
    # Repeat to a fixed point, so a key is its own key: a round can expose a legal form
    # ("Acme S A" -> "acme sa") or cut one out of a long name at 255 characters.
    key = name[:_NAME_INPUT_MAX]
    for _ in range(16):
        again = _normalise_once(key)
        if again == key:
            break
        key = again
    return key or None


_name_key_cached = lru_cache(maxsize=_CACHE_SIZE)(_name_key)


def name_key(name: str | None) -> str | None:
    """A company name normalised so spellings of one name meet (``Acme, Inc.`` and
    ``ACME Incorporated`` give ``acme``); None when nothing is left. The weak key."""
    if not name:
        return None
    if len(name) > _CACHED_INPUT_MAX:
        return _name_key(name)
    return _name_key_cached(name)


def name_score(a: str, b: str) -> float:
    """How alike two name keys are, 0 (nothing alike) to 100 (equal); 0 if one is empty.

    ``WRatio``, not ``token_sort_ratio``: a key contained in the other (``acme`` and
    ``acme holdings``, the same customer named with and without a qualifier) scores 90
    with ``WRatio`` but 47 with ``token_sort_ratio``; both give ``northwind traders``
    vs ``northwind trader`` 97 and ``acme`` vs ``apex`` 50. ``WRatio`` scales the
    containment score down when lengths differ a lot (``ab`` in ``abbott
    laboratories``: 60), which keeps very short keys from matching everything.
    """
    if not a or not b:
        return 0.0
    if a == b:
        return 100.0
    if b < a:  # one order, so the score is symmetric by construction
        a, b = b, a
    return float(fuzz.WRatio(a, b, processor=None))


def close_names(key: str, candidates: Sequence[str], threshold: float) -> list[tuple[int, float]]:
    """(index, score) of each candidate name key scoring at least ``threshold`` against
    ``key``: :func:`name_score`, for many candidates in one call (rapidfuzz's C loop)."""
    if not key or not candidates:
        return []
    found = process.extract(
        key, candidates, scorer=fuzz.WRatio, processor=None, limit=None, score_cutoff=threshold
    )
    return [
        (index, 100.0 if choice == key else float(score))
        for choice, score, index in found
        if choice
    ]


def name_tokens(key: str) -> tuple[str, ...]:
    """The distinct words of a name key, in order, that a fuzzy-candidate index is built
    from; words shorter than two characters say too little and are left out."""
    return tuple(dict.fromkeys(word for word in key.split() if len(word) >= 2))


@dataclass(frozen=True, slots=True)
class CustomerKeys:
    """The keys a registration or a mirrored deal is matched on: its customer's name key
    (weak) and domain key (strong); either may be None."""

    name: str | None
    domain: str | None


def customer_keys(name: str | None, domain: str | None) -> CustomerKeys:
    """The customer keys of a company name and a domain, URL or e-mail address."""
    return CustomerKeys(name=name_key(name), domain=domain_key(domain))
