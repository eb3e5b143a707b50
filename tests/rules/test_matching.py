"""Customer keys: the domain key (registrable domain, no free mail), the name key
(normalised company name), fuzzy name scores and the tokens a candidate index uses."""

from __future__ import annotations

import socket
import string
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import matching
from rules.matching import (
    FREE_MAIL_DOMAINS,
    CustomerKeys,
    close_names,
    customer_keys,
    domain_key,
    name_key,
    name_score,
    name_tokens,
)

CLOSE = 85.0  # what these tests call a close pair of names
FAR = 60.0  # and what they call a pair that is not close


def full_width(text: str) -> str:
    """``text`` in full-width forms (as East Asian input methods type it), spaces kept."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


CYRILLIC_OOO_ROMASHKA = "\u041e\u041e\u041e \u0420\u043e\u043c\u0430\u0448\u043a\u0430"

# ---------------------------------------------------------------------------------------
# name_key
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("Acme, Inc.", "ACME Incorporated", id="inc-incorporated"),
        pytest.param("Société Générale SA", "societe generale", id="accents-and-sa"),
        pytest.param("NORTHWIND TRADERS INC.", "Northwind Traders", id="case-and-inc"),
        pytest.param("Acme Ltd", "Acme Limited", id="ltd-limited"),
        pytest.param("Acme LLC", "acme", id="llc"),
        pytest.param("Acme Corp.", "Acme Corporation", id="corp-corporation"),
        pytest.param("Acme Pty. Ltd.", "Acme", id="pty-ltd"),
        pytest.param("Müller GmbH & Co. KG", "Muller", id="gmbh-co-kg"),
        pytest.param("Acme Co Inc", "Acme", id="stacked-legal-forms"),
        pytest.param("Acme S A", "Acme S.A.", id="spaced-legal-form"),
        pytest.param("Acme (Ltd)", "Acme", id="bracketed-legal-form"),
        pytest.param("The Acme Company", "Acme", id="leading-the-and-company"),
        pytest.param("I.B.M. Corp", "IBM", id="initials"),
        pytest.param("H & M", "H&M", id="spaced-initials"),
        pytest.param("Straße AG", "STRASSE", id="sharp-s"),
        pytest.param(full_width("ACME Inc"), "acme", id="full-width"),
        pytest.param("Acme\u00adCorp", "AcmeCorp", id="soft-hyphen-vanishes"),
        pytest.param("\u200fAcme\u200f", "Acme", id="bidi-marks-vanish"),
        pytest.param("Acme\tTrading\n\x00Group", "acme trading group", id="controls-are-spaces"),
    ],
)  # fmt: skip
def test_spellings_of_one_name_share_a_key(a: str, b: str) -> None:
    """Spellings that differ in case, accents, punctuation or legal form give one key."""
    assert name_key(a) is not None
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        pytest.param("Acme, Inc.", "acme", id="acme"),
        pytest.param("Société Générale SA", "societe generale", id="societe-generale"),
        pytest.param("O'Brien Ltd", "obrien", id="apostrophe-vanishes"),
        pytest.param("McDonald\u2019s", "mcdonalds", id="curly-apostrophe-vanishes"),
        pytest.param("Procter & Gamble Co.", "procter gamble", id="ampersand-is-a-space"),
        pytest.param("Łódź Sp. z o.o.", "lodz", id="polish-letters-and-form"),
        pytest.param("Ærø Øl ApS", "aero ol", id="nordic-letters"),
        pytest.param(CYRILLIC_OOO_ROMASHKA, CYRILLIC_OOO_ROMASHKA.lower(), id="cyrillic-kept"),
        pytest.param("The Acme   Group", "acme group", id="whitespace-collapsed"),
        pytest.param("Corp", "corp", id="only-a-legal-form-is-kept"),
        pytest.param("GmbH & Co. KG", "gmbh co kg", id="only-legal-forms-are-kept"),
        pytest.param("The", "the", id="only-the-is-kept"),
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty"),
        pytest.param("   \t\n", None, id="blank"),
        pytest.param("...,;!?", None, id="only-punctuation"),
        pytest.param("'''", None, id="only-apostrophes"),
        pytest.param("\U0001f600\U0001f680", None, id="only-emoji"),
    ],
)  # fmt: skip
def test_name_key(name: str | None, key: str | None) -> None:
    """A name's key is folded, without legal forms, punctuation or a leading "the"."""
    assert name_key(name) == key


def test_differently_named_companies_keep_different_keys() -> None:
    """Normalising does not merge names that differ in a word."""
    assert name_key("Acme Holdings Ltd") == "acme holdings"
    assert name_key("Acme Holdings Ltd") != name_key("Acme Ltd")
    assert name_key("Northwind Traders") != name_key("Northwest Traders")


def test_a_long_name_is_cut_to_the_column_width() -> None:
    """A key is at most 255 characters, and cutting leaves no trailing space."""
    key = name_key("word " * 100 + "Inc.")
    assert key is not None
    assert len(key) <= 255
    assert key == key.strip()
    assert name_key(key) == key


# ---------------------------------------------------------------------------------------
# domain_key
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key"),
    [
        pytest.param("acme.com", "acme.com", id="domain"),
        pytest.param("www.acme.com", "acme.com", id="www"),
        pytest.param("acme.com/contact", "acme.com", id="path"),
        pytest.param("jane@acme.com", "acme.com", id="email"),
        pytest.param("mailto:jane@acme.com", "acme.com", id="mailto"),
        pytest.param("Jane Doe <jane@acme.com>", "acme.com", id="named-address"),
        pytest.param("ACME.COM.", "acme.com", id="upper-case-root-dot"),
        pytest.param("http://acme.com:8080", "acme.com", id="port"),
        pytest.param("https://user:pw@www.acme.com:443/p?q=1#f", "acme.com", id="full-url"),
        pytest.param("  'acme.com', ", "acme.com", id="wrapped-in-quotes"),
        pytest.param("https://shop.acme.co.uk/x", "acme.co.uk", id="public-suffix-co-uk"),
        pytest.param("mail.eu.acme.com.au", "acme.com.au", id="public-suffix-com-au"),
        pytest.param("acme.github.io", "acme.github.io", id="private-suffix-is-a-suffix"),
        pytest.param(full_width("acme.com"), "acme.com", id="full-width"),
        pytest.param("münchen.de", "xn--mnchen-3ya.de", id="unicode-in-ascii-form"),
        pytest.param("XN--MNCHEN-3YA.DE", "xn--mnchen-3ya.de", id="punycode"),
        pytest.param("https://acme.com/" + "x" * 2000, "acme.com", id="long-url-uncached"),
    ],
)  # fmt: skip
def test_domain_key(value: str, key: str) -> None:
    """A domain, URL or e-mail address gives its registrable domain, lower-case ASCII."""
    assert domain_key(value) == key


def test_registrable_domains_under_different_suffixes_differ() -> None:
    """``acme.co.uk`` and ``acme.com`` are two keys: the suffix is part of the domain."""
    assert domain_key("acme.co.uk") == "acme.co.uk"
    assert domain_key("acme.com") == "acme.com"
    assert domain_key("acme.co.uk") != domain_key("acme.com")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("j.doe@gmail.com", id="gmail"),
        pytest.param("jane@googlemail.com", id="googlemail"),
        pytest.param("jane@yahoo.co.uk", id="yahoo-co-uk"),
        pytest.param("jane@yahoo.com", id="yahoo"),
        pytest.param("jane@gmx.de", id="gmx-de"),
        pytest.param("jane@gmx.at", id="gmx-at"),
        pytest.param("jane@hotmail.fr", id="hotmail-fr"),
        pytest.param("jane@outlook.com", id="outlook"),
        pytest.param("jane@live.co.uk", id="live-co-uk"),
        pytest.param("jane@yandex.ru", id="yandex"),
        pytest.param("jane@icloud.com", id="icloud"),
        pytest.param("jane@proton.me", id="proton"),
        pytest.param("jane@web.de", id="web-de"),
        pytest.param("jane@qq.com", id="qq"),
        pytest.param("https://mail.yahoo.co.jp/", id="free-mail-url"),
    ],
)  # fmt: skip
def test_free_mail_gives_no_domain_key(value: str) -> None:
    """A free-mail address names no customer, so it has no domain key."""
    assert domain_key(value) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("192.168.0.1", id="ipv4"),
        pytest.param("http://10.0.0.1:8080/x", id="ipv4-url"),
        pytest.param("http://[::1]:80/", id="ipv6"),
        pytest.param("localhost", id="localhost"),
        pytest.param("com", id="bare-suffix"),
        pytest.param("co.uk", id="bare-two-label-suffix"),
        pytest.param("github.io", id="bare-private-suffix"),
        pytest.param("www.blogspot.com", id="www-of-a-suffix"),
        pytest.param("acme", id="bare-word"),
        pytest.param("jane@", id="empty-host"),
        pytest.param("garbage !!", id="garbage"),
        pytest.param("acme.com\x00", id="nul-in-host"),
        pytest.param("\U0001f600.com", id="emoji-label"),
        pytest.param("-acme-.com", id="hyphen-at-label-edge"),
    ],
)  # fmt: skip
def test_values_without_a_registrable_domain_give_none(value: str | None) -> None:
    """A value that names no registrable domain has no domain key."""
    assert domain_key(value) is None


def test_free_mail_domains_are_registrable_domains() -> None:
    """Every listed free-mail domain is a registrable domain as written, not covered by a
    family, and gives no key."""
    for domain in sorted(FREE_MAIL_DOMAINS):
        parts = matching._extractor()(domain)
        assert f"{parts.domain}.{parts.suffix}" == domain, domain
        assert parts.domain not in matching._FREE_MAIL_FAMILIES, domain
        assert domain_key(f"someone@{domain}") is None, domain


def test_the_extractor_uses_only_the_bundled_snapshot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fresh extractor opens no socket and writes no cache, whatever the environment
    asks for, and still splits ``shop.acme.co.uk`` by the public suffix list."""
    attempts: list[tuple[Any, ...]] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)  # recorded, as tldextract would swallow the error
        raise OSError("network use in a test of rules.matching")

    for name in ("socket", "create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setenv("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "https://publicsuffix.org/list/x")
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    matching._extractor.cache_clear()
    matching._domain_key_cached.cache_clear()
    try:
        parts = matching._extractor()("shop.acme.co.uk")
        assert (parts.subdomain, parts.domain, parts.suffix) == ("shop", "acme", "co.uk")
        assert domain_key("https://shop.acme.co.uk/x") == "acme.co.uk"
    finally:
        matching._extractor.cache_clear()
        matching._domain_key_cached.cache_clear()
    assert attempts == []
    assert list(tmp_path.rglob("*")) == []


# ---------------------------------------------------------------------------------------
# Hostile input
# ---------------------------------------------------------------------------------------

HOSTILE = [
    pytest.param("\x00", id="nul"),
    pytest.param("Acme\x00 Inc", id="nul-inside"),
    pytest.param("\x01\x02\x1b[31mAcme\x7f", id="control-chars"),
    pytest.param("Acme\r\n\u0085\u2028Inc", id="line-breaks"),
    pytest.param("A" * 10_000, id="10kB"),
    pytest.param("Acme " * 2_000 + "Inc.", id="10kB-words"),
    pytest.param("a@" * 5_000 + "acme.com", id="10kB-at-signs"),
    pytest.param("http://" + "a." * 5_000 + "com", id="10kB-host"),
    pytest.param("\"'`\u2018\u2019\u201c\u201d", id="quotes"),
    pytest.param("x' OR 1=1 --", id="sql-or"),
    pytest.param("Robert'); DROP TABLE Account;--", id="sql-drop"),
    pytest.param("SELECT Id FROM Opportunity WHERE Name LIKE '%'", id="soql"),
    pytest.param("\U0001f600 Acme \U0001f680 Inc", id="emoji"),
    pytest.param("\U0001f468\u200d\U0001f469\u200d\U0001f467", id="emoji-zwj-sequence"),
    pytest.param('\u05e9\u05dc\u05d5\u05dd \u05d1\u05e2"\u05de', id="hebrew"),
    pytest.param("\u202eAcme\u202c \u0634\u0631\u0643\u0629", id="rtl-override-arabic"),
    pytest.param("\ud800 Acme \udfff", id="lone-surrogates"),
    pytest.param("\ufeffAcme\ufffd", id="bom-replacement-char"),
    pytest.param("e\u0301\u0301\u0301", id="stacked-combining-marks"),
    pytest.param("\u0301", id="lone-combining-mark"),
    pytest.param("\ue000\U000f0000", id="private-use"),
    pytest.param("jane@acme.com@evil.example", id="two-at-signs"),
    pytest.param("http://acme.com\\@evil.example/", id="backslash-url"),
    pytest.param("%00acme.com", id="percent-encoding"),
    pytest.param("acme.com\u0000.evil.example", id="nul-in-hostname"),
]


def _assert_clean(key: str | None) -> None:
    """``key`` is None or a stripped string of at most 255 characters without controls."""
    if key is None:
        return
    assert isinstance(key, str)
    assert 0 < len(key) <= 255
    assert key == key.strip()
    assert not any(unicodedata.category(ch)[0] == "C" for ch in key), repr(key)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_input_gives_a_clean_key_or_none(value: str) -> None:
    """Hostile text never raises; what it gives holds no control character and fits."""
    keys = customer_keys(value, value)
    _assert_clean(keys.name)
    _assert_clean(keys.domain)
    if keys.name is not None:
        assert name_key(keys.name) == keys.name
    if keys.domain is not None:
        assert keys.domain.isascii()
        assert domain_key(keys.domain) == keys.domain


@given(st.text(max_size=400))
def test_any_text_gives_a_clean_key_or_none(value: str) -> None:
    """Any text at all gives clean keys or None."""
    _assert_clean(name_key(value))
    _assert_clean(domain_key(value))


# ---------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------

NAME_WORDS = st.sampled_from(
    ["Acme", "Northwind", "Traders", "the", "The", "a", "B", "&", "and", "Co.", "Co", "Inc.",
     "Inc", "Ltd", "GmbH", "KG", "S.A.", "S", "A", "sa", "AG", "plc", "Corp.,", "-", "(Ltd)",
     "O'Brien", "Société", "Générale", "\u00df", "UK", "1", "2"]
)  # fmt: skip
NAMES = st.one_of(
    st.text(max_size=300),
    st.lists(NAME_WORDS, max_size=12).map(" ".join),
    st.lists(NAME_WORDS, min_size=50, max_size=80).map(" ".join),  # cut at 255
)


@given(NAMES)
def test_a_name_key_is_its_own_key(name: str) -> None:
    """``name_key`` is idempotent: a key normalises to itself."""
    key = name_key(name)
    if key is not None:
        assert name_key(key) == key


@given(st.text(alphabet=string.ascii_letters + " ", max_size=60))
def test_name_key_ignores_case(name: str) -> None:
    """Upper and lower case spellings of a name share its key."""
    assert name_key(name.upper()) == name_key(name.lower())


ACCENTED = [("é", "e"), ("È", "E"), ("à", "a"), ("Â", "A"), ("ü", "u"), ("Ö", "O"),
            ("ñ", "n"), ("ç", "c"), ("å", "a"), ("ø", "o"), ("ł", "l"), ("ğ", "g"),
            ("ş", "s"), ("\u0131", "i"), ("ž", "z"), ("ő", "o"), ("ß", "ss"), (" ", " "),
            ("m", "m"), ("r", "r"), ("t", "t")]  # fmt: skip


@given(st.lists(st.sampled_from(ACCENTED), max_size=30))
def test_name_key_ignores_accents(letters: list[tuple[str, str]]) -> None:
    """A name with accented letters has the key of its unaccented spelling."""
    accented = "".join(pair[0] for pair in letters)
    plain = "".join(pair[1] for pair in letters)
    assert name_key(accented) == name_key(plain)


SIMPLE_DOMAINS = st.from_regex(r"[a-z]{3,10}\.(com|co\.uk|de)", fullmatch=True)


@given(SIMPLE_DOMAINS)
def test_www_and_addresses_give_the_domains_key(domain: str) -> None:
    """``www.`` and ``someone@`` in front of a domain do not change its key."""
    key = domain_key(domain)
    assert key in (domain, None)  # None for a free-mail domain
    assert domain_key(f"www.{domain}") == key
    assert domain_key(f"someone@{domain}") == key
    assert domain_key(f"https://www.{domain}/about?x=1") == key


NAME_KEYS = (
    st.text(alphabet=string.ascii_lowercase + "  ", min_size=1, max_size=40)
    .map(name_key)
    .filter(lambda key: key is not None)
)


@given(NAME_KEYS, NAME_KEYS)
def test_name_score_is_a_symmetric_percentage(a: str, b: str) -> None:
    """A key scores 100 against itself; scores are symmetric and between 0 and 100."""
    assert name_score(a, a) == 100.0
    assert name_score(a, b) == name_score(b, a)
    assert 0.0 <= name_score(a, b) <= 100.0


# ---------------------------------------------------------------------------------------
# name_score and name_tokens
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "close"),
    [
        pytest.param("acme", "acme holdings", True, id="qualifier-added"),
        pytest.param("northwind traders", "northwind trader", True, id="plural"),
        pytest.param("johnson johnson", "johnson and johnson", True, id="and-added"),
        pytest.param("widgets acme", "acme widgets", True, id="word-order"),
        pytest.param("acme", "apex", False, id="different-short-names"),
        pytest.param("northwind traders", "contoso pharmaceuticals", False, id="unrelated"),
        pytest.param("ab", "abbott laboratories", False, id="short-key-inside-long"),
    ],
)  # fmt: skip
def test_name_score_says_which_names_are_close(a: str, b: str, close: bool) -> None:
    """Close names score at least 85, names that are not close at most 60."""
    score = name_score(a, b)
    assert score >= CLOSE if close else score <= FAR


def test_name_score_ranks_the_closer_name_first() -> None:
    """A name with a qualifier added ranks above a different name of the same length."""
    assert name_score("acme", "acme holdings") > name_score("acme", "apex")
    assert name_score("northwind traders", "northwind trader") > name_score(
        "northwind traders", "northwest traders"
    )
    assert name_score("acme", "acme") > name_score("acme", "acme holdings")


def test_name_score_of_an_empty_key_is_zero() -> None:
    """An empty string is not a key and matches nothing, itself included."""
    assert name_score("", "") == 0.0
    assert name_score("acme", "") == 0.0


@pytest.mark.parametrize(
    ("key", "tokens"),
    [
        pytest.param("northwind traders", ("northwind", "traders"), id="words"),
        pytest.param("acme b acme holdings", ("acme", "holdings"), id="distinct-long-enough"),
        pytest.param("zeta alpha", ("zeta", "alpha"), id="order-kept"),
        pytest.param("x", (), id="only-short"),
        pytest.param("", (), id="empty"),
    ],
)  # fmt: skip
def test_name_tokens(key: str, tokens: tuple[str, ...]) -> None:
    """A key's index tokens are its distinct words of two or more characters, in order."""
    assert name_tokens(key) == tokens


# ---------------------------------------------------------------------------------------
# customer_keys
# ---------------------------------------------------------------------------------------


def test_customer_keys_holds_both_keys() -> None:
    """``customer_keys`` is the name key and the domain key of its arguments."""
    assert customer_keys("Acme, Inc.", "https://www.acme.com/") == CustomerKeys(
        name="acme", domain="acme.com"
    )
    assert customer_keys("Jane Doe", "jane@gmail.com") == CustomerKeys(name="jane doe", domain=None)
    assert customer_keys(None, None) == CustomerKeys(name=None, domain=None)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="abcdeklmnorst ", min_size=1, max_size=20),
    st.lists(st.text(alphabet="abcdeklmnorst ", min_size=0, max_size=20), max_size=30),
    st.integers(0, 100),
)
def test_close_names_scores_as_name_score_does(
    key: str, candidates: list[str], threshold: int
) -> None:
    """The batch scorer finds exactly the candidates name_score puts at or above the
    threshold, with the same scores."""
    expected = {
        i: name_score(key, c) for i, c in enumerate(candidates)
        if c and name_score(key, c) >= threshold
    }  # fmt: skip
    found = dict(close_names(key, candidates, threshold))
    assert found.keys() == expected.keys()
    for index, score in found.items():
        assert score == pytest.approx(expected[index])
