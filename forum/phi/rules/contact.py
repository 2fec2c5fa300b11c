"""E-mail, web links, IP and MAC addresses, telephone and fax numbers; citations that pass."""

from __future__ import annotations

import re

from forum.phi.findings import Action, Finding, Kind
from forum.phi.knowledge import ALLOWED_HOSTS, PERSONAL_HOSTS
from forum.phi.rules.base import Scan, finding, gate_words

_EMAIL_AT = re.compile(r"[\w.+%-]*\w@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
SPELLED_EMAIL = re.compile(
    r"(?<![\w.])[\w.+-]+\s*(?:\[at\]|\(at\)|\{at\}| at )\s*[\w-]+\s*(?:\[dot\]|\(dot\)| dot )"
    r"\s*(?:com|org|net|edu|gov|us|io)\b",
    re.IGNORECASE,
)
_TLDS = (
    r"com|org|net|edu|gov|mil|int|io|co|us|uk|ca|au|de|fr|it|es|nl|in|info|biz|me|ly|be|tv|"
    r"health|care|app|blog|site|online|page|link|ai"
)
URL = re.compile(r"(?:https?|ftp)://[^\s<>\"'`]+|www\.[^\s<>\"'`]+", re.IGNORECASE)
# Bare domains ("gofundme.com/f/..."): found from their top-level domain, then widened.
_TLD = re.compile(rf"\.(?:{_TLDS})(?![\w@-])", re.IGNORECASE)
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_PATH_STOP = frozenset(" \t\n<>\"'`")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}"
    r"|(?:[0-9a-f]{1,4}:){1,6}(?::[0-9a-f]{1,4}){1,6}"
    r"|(?:[0-9a-f]{1,4}:){1,7}:|::(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4})(?![\w:])",
    re.IGNORECASE,
)
MAC = re.compile(r"(?<![\w:-])(?:[0-9a-f]{2}([:-]))(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}(?![\w:-])", re.I)
PHONE = re.compile(
    r"(?<![\w+/.-])"
    r"(?:(?:\+|00)1[\s.-]?|1[\s.-]|001[\s.-])?"
    r"(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?"
    r"(?![\w/-]|\.\d)",
    re.IGNORECASE,
)
INTERNATIONAL_PHONE = re.compile(
    r"(?<![\w+])\+(?:[2-9]\d{0,2})[\s.-]?(?:\(?\d{1,4}\)?[\s.-]?){2,5}\d{2,4}(?![\w/])"
)
SHORT_PHONE = re.compile(r"(?<![\w/.-])\d{3}-\d{4}(?![\w/-]|\.\d)")
_PHONE_CUE = re.compile(
    r"(?:phone|tel|telephone|cell|mobile|call(?:ed)?|text(?:ed)?|pager|page|reach|contact|"
    r"number|no\.|#|fax|ext)\W{0,3}(?:\w+\W{1,3}){0,3}$",
    re.IGNORECASE,
)
_FAX_CUE = re.compile(r"fax\W{0,3}(?:\w+\W{1,3}){0,3}$", re.IGNORECASE)

# Citations, registry entries and codes that must never be flagged: found first, they shield
# their span from every other rule. Each family is searched only when its gate word is present.
_DOI = re.compile(r"10\.\d{4,9}/[^\s\"<>]+")
_REFERENCES: list[tuple[frozenset[str], re.Pattern[str]]] = [
    (gate_words("doi"), _DOI),
    (
        gate_words("nct isrctn actrn chictr drks ctri jrct umin eudract"),
        re.compile(
            r"\b(?:NCT|ISRCTN|ACTRN|ChiCTR|DRKS|CTRI/|jRCT|UMIN|EudraCT\s*)[\w/-]*\d{4,}[\w/-]*",
            re.IGNORECASE,
        ),
    ),
    (
        gate_words("pmid pubmed pmc pmcid"),
        re.compile(
            r"\bPMID\s*:?\s*\d{4,9}\b|\bPubMed(?:\s+ID)?\s*:?\s*\d{4,9}\b"
            r"|\bPMCID?\s*:?\s*(?:PMC)?\d{4,9}\b|\bPMC\d{4,9}\b",
            re.IGNORECASE,
        ),
    ),
    (
        gate_words("icd cpt hcpcs loinc snomed rxnorm rxcui ndc drg"),
        re.compile(
            r"\b(?:ICD-?(?:9|10|11)(?:-CM|-PCS)?|CPT|HCPCS|LOINC|SNOMED(?:\s*CT)?|RxNorm|RxCUI|NDC|"
            r"DRG|MS-DRG)(?:\s+codes?)?\s*[:#]?\s*(?:[A-Z0-9][\w.-]*\d[\w.-]*(?:\s*(?:,|/|and|or)"
            r"\s*[A-Z0-9][\w.-]*\d[\w.-]*)*)",
            re.IGNORECASE,
        ),
    ),
    (
        gate_words("rs nm nr np xm xr xp omim arxiv medrxiv biorxiv isbn"),
        re.compile(
            r"\brs\d{3,12}\b|\b[NX][MRP]_\d{4,9}(?:\.\d+)?\b|\bOMIM\s*#?\s*\d{6}\b"
            r"|\b(?:arXiv|medRxiv|bioRxiv)\s*:?\s*[\d.]+\w*|\bISBN(?:-1[03])?\s*:?\s*[\d-]{10,17}X?\b",
            re.IGNORECASE,
        ),
    ),
]


_SPELLED_GATES = gate_words("at dot")
_TLD_WORDS = gate_words("com org net edu gov io info biz mil ly uk au tv nl fr health")
_REFERENCE_WORDS = frozenset().union(*(gates for gates, _ in _REFERENCES))


def _url_matches(scan: Scan) -> list[tuple[int, int]]:
    """Trimmed spans of everything shaped like a link (computed once per scan)."""
    cached = scan.urls
    if cached is None:
        cached = []
        text = scan.text
        if "://" in text or "www." in scan.lower:
            cached = [_trim_url(text, m.start(), m.end()) for m in URL.finditer(text)]
        if scan.gated(_TLD_WORDS):
            for match in _TLD.finditer(text):
                start = match.start()
                while start > 0 and text[start - 1] in _DOMAIN_CHARS:
                    start -= 1
                if start == match.start() or (start and text[start - 1] in "@/_"):
                    continue  # no name before the dot, an e-mail, or part of a longer link
                if any(s <= start < e for s, e in cached):
                    continue
                end = match.end()
                if text[end : end + 1] == "/":
                    while end < len(text) and text[end] not in _PATH_STOP:
                        end += 1
                cached.append(_trim_url(text, start, end))
        scan.urls = cached
    return cached


def references(scan: Scan) -> list[tuple[int, int]]:
    """Spans of citations and codes that pass: DOIs, trial IDs, PMIDs, ICD/CPT/LOINC codes."""
    text = scan.text
    spans: list[tuple[int, int]] = []
    prefixes = {text[n.lead : n.start].lower() for n in scan.numbers if n.lead < n.start}
    if scan.gates.isdisjoint(_REFERENCE_WORDS) and prefixes.isdisjoint(_REFERENCE_WORDS):
        if "10." in text:  # the usual case: no gate word, so only a DOI can be there
            spans += [m.span() for m in _DOI.finditer(text)]
    else:
        for gates, pattern in _REFERENCES:
            if (
                scan.gated(gates)
                or not prefixes.isdisjoint(gates)
                or (pattern is _DOI and "10." in text)
            ):
                spans += [m.span() for m in pattern.finditer(text)]
    for start, end in _url_matches(scan):
        if _host_allowed(_host(text[start:end])):
            spans.append((start, end))
    return spans


def _trim_url(text: str, start: int, end: int) -> tuple[int, int]:
    while end > start and text[end - 1] in ".,;:!?'\"\u00bb\u201d\u2019":
        end -= 1
    if (
        end > start
        and text[end - 1] == ")"
        and text.count("(", start, end) < text.count(")", start, end)
    ):
        end -= 1
    return start, end


_SCHEME = re.compile(r"^(?:https?|ftp)://", re.IGNORECASE)
_HOST_END = re.compile(r"[/?#:]")


def _host(url: str) -> str:
    host = _SCHEME.sub("", url)
    host = _HOST_END.split(host, maxsplit=1)[0].casefold()
    return host.removeprefix("www.")


_ALLOWED_HOSTS = frozenset(ALLOWED_HOSTS)
_PERSONAL_HOSTS = frozenset(PERSONAL_HOSTS)


def _host_in(host: str, hosts: frozenset[str]) -> bool:
    """Whether host is one of hosts or a subdomain of one (each parent tried by set lookup)."""
    while True:
        if host in hosts:
            return True
        dot = host.find(".")
        if dot < 0:
            return False
        host = host[dot + 1 :]


def _host_allowed(host: str) -> bool:
    return _host_in(host, _ALLOWED_HOSTS)


def _host_personal(host: str, url: str) -> bool:
    if _host_in(host, _PERSONAL_HOSTS):
        return True
    return "obituar" in url.casefold()


def emails(scan: Scan) -> list[Finding]:
    """E-mail addresses, also when spelled out ("jo at example dot com")."""
    text = scan.text
    found = []
    at = text.find("@")
    while at != -1:
        match = _EMAIL_AT.search(text, max(0, at - 64), at + 256)
        if match and match.start() <= at < match.end():
            start = match.start()
            while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._+%-"):
                start -= 1  # the window may have cut the local part short
            found.append(finding(start, match.end(), Kind.EMAIL))
            at = text.find("@", match.end())
        else:
            at = text.find("@", at + 1)
    if scan.gates >= _SPELLED_GATES:  # both words
        found += [finding(m.start(), m.end(), Kind.EMAIL) for m in SPELLED_EMAIL.finditer(text)]
    return found


_LINK_START = re.compile(r"(?:https?|ftp)://|www\.", re.IGNORECASE)
_LINK_SHAPE = re.compile(
    r"/|\.(?:com|org|net|io|us|health|care|site|blog|page|me)\b", re.IGNORECASE
)


def urls(scan: Scan) -> list[Finding]:
    """Links other than to literature, registries and guidelines."""
    text = scan.text
    found = []
    for start, end in _url_matches(scan):
        url = text[start:end]
        host = _host(url)
        if _host_allowed(host) or "@" in url:
            continue
        if not _LINK_START.match(url) and not _LINK_SHAPE.search(url):
            continue  # "e.g" or "vs.in" are not links
        if _host_personal(host, url):
            found.append(
                finding(
                    start,
                    end,
                    Kind.URL,
                    reason="A link to a personal page (social media, fundraiser, blog) "
                    "identifies the patient or family.",
                )
            )
        else:
            found.append(finding(start, end, Kind.URL, Action.REVIEW))
    return found


_IPV6_HINT = re.compile(r"[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:")
_IPV6_LETTERS = re.compile(r"[a-f]|::", re.IGNORECASE)
_MAC_HINT = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}\1[0-9A-Fa-f]{2}\1")


def ips(scan: Scan) -> list[Finding]:
    """IPv4, IPv6 and MAC addresses."""
    text = scan.text
    found = []
    for num in scan.numbers:
        if num.text.count(".") >= 3:
            match = IPV4.match(text, num.start)
            if match:
                found.append(finding(match.start(), match.end(), Kind.IP))
    if "::" in text or (text.count(":") >= 3 and _IPV6_HINT.search(text)):
        for match in IPV6.finditer(text):
            if match.group().count(":") >= 2 and _IPV6_LETTERS.search(match.group()):
                found.append(finding(match.start(), match.end(), Kind.IP))
    if (text.count(":") >= 5 or text.count("-") >= 5) and _MAC_HINT.search(text):
        found += [
            finding(
                m.start(),
                m.end(),
                Kind.DEVICE,
                reason="A hardware (MAC) address can be traced to a person's device.",
            )
            for m in MAC.finditer(text)
        ]
    return found


def phones(scan: Scan) -> list[Finding]:
    """Telephone and fax numbers in US and international formats."""
    text = scan.text
    found = []
    reached = -1
    for num in scan.numbers:
        if num.start < reached:
            continue
        begin = num.start
        if begin and text[begin - 1] in "+(":
            begin -= 1
        match = PHONE.match(text, begin)
        if match is None and text[begin] == "+":
            match = INTERNATIONAL_PHONE.match(text, begin)
            if match and sum(c.isdecimal() for c in match.group()) < 8:
                match = None
        if match is None and len(num.text) == 8 and num.text[3] == "-":
            match = SHORT_PHONE.match(text, num.start)
            if match and not _PHONE_CUE.search(text, max(0, match.start() - 40), match.start()):
                match = None
        if match:
            found.append(_phone(text, match.start(), match.end()))
            reached = match.end()
    return found


def _phone(text: str, start: int, end: int) -> Finding:
    if _FAX_CUE.search(text, max(0, start - 30), start):
        return finding(start, end, Kind.FAX)
    return finding(start, end, Kind.PHONE)
