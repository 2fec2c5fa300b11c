"""querylang: what a member types becomes a ParsedQuery of core.words() tokens, with medical
synonyms added both ways, and no input raises."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forum.search.core import Clause, ParsedQuery, Phrase, Term, words
from forum.search.querylang import (
    MAX_CHARS,
    MAX_CLAUSES,
    NOTHING_TYPED,
    ONLY_EXCLUDED,
    ONLY_OPERATORS,
    SHORTENED,
    SYNONYMS_FILE,
    TOO_MANY_CLAUSES,
    SynonymError,
    load_synonyms,
    parse,
    problem,
    synonyms,
)

COMMON_WORDS = Path(__file__).resolve().parents[2] / "forum/phi/data/common_words.txt.gz"


def query(text: str) -> ParsedQuery:
    parsed = parse(text)
    assert parsed.error is None, parsed.error
    return parsed.query


def typed(group: tuple[Clause, ...]) -> Clause:
    """The clause the member typed: synonyms come after it."""
    return group[0]


def phrase(text: str) -> Phrase:
    return Phrase(tuple(words(text)))


# --- syntax ------------------------------------------------------------------------------------


def test_words_are_all_required() -> None:
    assert query("warfarin bleeding") == ParsedQuery(
        groups=((Term("warfarin"),), (Term("bleeding"),))
    )


def test_words_are_lower_cased_tokens() -> None:
    assert query("Warfarin, BLEEDING!") == query("warfarin bleeding")


@pytest.mark.parametrize("text", ['"pleural effusion"', "“pleural effusion”", '"pleural effusion”'])
def test_quotes_make_a_phrase(text: str) -> None:
    assert query(text).groups == ((phrase("pleural effusion"),),)


def test_a_quoted_single_word_is_a_word() -> None:
    assert query('"warfarin"').groups == ((Term("warfarin"),),)


def test_a_star_makes_a_prefix_without_synonyms() -> None:
    assert query("cardio* echo*").groups == (
        (Term("cardio", prefix=True),),
        (Term("echo", prefix=True),),
    )


def test_a_prefix_of_one_letter_is_a_plain_word() -> None:
    assert query("c* warfarin").groups == ((Term("c"),), (Term("warfarin"),))


def test_a_star_inside_a_hyphenated_word_is_ignored() -> None:
    assert query("pleural-eff*").groups == ((phrase("pleural eff"),),)


@pytest.mark.parametrize("text", ["warfarin OR heparin", "warfarin | heparin", "warfarin|heparin"])
def test_or_joins_alternatives(text: str) -> None:
    assert query(text).groups == ((Term("warfarin"), Term("heparin")),)


def test_or_joins_only_its_neighbours() -> None:
    assert query("bleeding warfarin OR heparin OR apixaban").groups == (
        (Term("bleeding"),),
        (Term("warfarin"), Term("heparin"), Term("apixaban")),
    )


def test_lower_case_or_is_a_word() -> None:
    assert query("warfarin or heparin").groups == (
        (Term("warfarin"),),
        (Term("or"),),
        (Term("heparin"),),
    )


def test_dangling_and_doubled_ors_are_ignored() -> None:
    assert query("OR warfarin OR OR | heparin OR").groups == ((Term("warfarin"), Term("heparin")),)


def test_upper_case_and_is_accepted_and_ignored() -> None:
    assert query("warfarin AND heparin") == query("warfarin heparin")


def test_minus_excludes_a_word_and_a_phrase() -> None:
    parsed = query('warfarin -smoking -"pleural effusion"')
    assert parsed.groups == ((Term("warfarin"),),)
    assert parsed.excluded == (Term("smoking"), phrase("pleural effusion"))


def test_not_excludes_the_next_clause() -> None:
    assert query("warfarin NOT smoking") == query("warfarin -smoking")


def test_a_minus_followed_by_a_space_excludes_nothing() -> None:
    assert query("warfarin - smoking") == query("warfarin smoking")


def test_an_excluded_clause_does_not_take_part_in_or() -> None:
    parsed = query("warfarin OR -smoking heparin")
    assert parsed.groups == ((Term("warfarin"),), (Term("heparin"),))
    assert parsed.excluded == (Term("smoking"),)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("covid-19", ("covid", "19")),
        ("140/90", ("140", "90")),
        ("Crohn's", ("crohn", "s")),
        ("β-blocker", ("β", "blocker")),
    ],
)
def test_words_split_like_the_index_does(text: str, tokens: tuple[str, ...]) -> None:
    assert typed(query(text).groups[0]) == Phrase(tokens)


# --- synonyms ----------------------------------------------------------------------------------


def test_an_abbreviation_finds_its_long_forms() -> None:
    (group,) = query("MI").groups
    assert typed(group) == Term("mi")
    assert phrase("myocardial infarction") in group
    assert phrase("heart attack") in group


def test_a_long_form_finds_its_abbreviation() -> None:
    (group,) = query('"myocardial infarction"').groups
    assert typed(group) == phrase("myocardial infarction")
    assert Term("mi") in group
    assert phrase("heart attack") in group


def test_unquoted_words_of_a_synonym_become_its_phrase() -> None:
    assert query("myocardial infarction troponin").groups == (
        query('"myocardial infarction"').groups[0],
        (Term("troponin"),),
    )


def test_the_longest_synonym_wins() -> None:
    (group,) = query("congestive heart failure").groups
    assert typed(group) == phrase("congestive heart failure")
    assert Term("chf") in group


def test_words_inside_a_longer_query_still_form_synonyms() -> None:
    groups = query("troponin chronic obstructive pulmonary disease exacerbation").groups
    assert [typed(group) for group in groups] == [
        Term("troponin"),
        phrase("chronic obstructive pulmonary disease"),
        Term("exacerbation"),
    ]
    assert Term("copd") in groups[1]


def test_a_synonym_written_with_a_hyphen_is_found() -> None:
    (group,) = query("non-small cell lung cancer").groups
    assert Term("nsclc") in group


@pytest.mark.parametrize(
    "text", ['"myocardial" infarction', "myocardial -infarction", "myocardial* infarction"]
)
def test_quotes_exclusions_and_prefixes_break_a_synonym_run(text: str) -> None:
    assert all(Term("mi") not in group for group in query(text).groups)


def test_or_takes_a_multi_word_synonym_as_one_alternative() -> None:
    (group,) = query("MI OR heart attack").groups
    assert group == query("MI").groups[0]


def test_or_alternatives_each_bring_their_synonyms() -> None:
    (group,) = query("HTN OR DM").groups
    assert Term("hypertension") in group
    assert phrase("diabetes mellitus") in group


def test_excluded_clauses_expand_too() -> None:
    parsed = parse("troponin -MI")
    assert phrase("myocardial infarction") in parsed.query.excluded
    assert phrase("heart attack") in parsed.query.excluded


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("anaemia", "anemia"),
        ("oedema", "edema"),
        ("haemorrhage", "hemorrhage"),
        ("paediatric", "pediatric"),
        ("oesophagus", "esophagus"),
        ("paracetamol", "acetaminophen"),
    ],
)
def test_spellings_find_each_other(british: str, american: str) -> None:
    assert Term(american) in query(british).groups[0]
    assert Term(british) in query(american).groups[0]


def test_synonyms_are_not_repeated_in_a_group() -> None:
    (group,) = query('MI OR "heart attack" OR "myocardial infarction"').groups
    assert len(group) == len(set(group))


def test_a_phrase_unknown_to_the_table_gets_no_alternatives() -> None:
    assert query('"pleural effusion"').groups == ((phrase("pleural effusion"),),)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"pleural effusion', ((phrase("pleural effusion"),),)),
        ('warfarin "', ((Term("warfarin"),),)),
        (
            'warfarin "heparin" "pleural',
            ((Term("warfarin"),), (Term("heparin"),), (Term("pleural"),)),
        ),
    ],
)
def test_an_unclosed_quote_quotes_the_rest(text: str, expected: tuple) -> None:
    assert query(text).groups == expected


@pytest.mark.parametrize(
    "text", ["OR", "|", "-", "*", '""', "“”", ' - * OR | "" ', "---", "AND", "NOT"]
)
def test_operators_alone_search_nothing(text: str) -> None:
    parsed = parse(text)
    assert parsed.query.empty
    assert parsed.error == ONLY_OPERATORS
    assert parsed.error.startswith(NOTHING_TYPED.rstrip("."))


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\n\t", "\u200b"])
def test_nothing_typed(text: str) -> None:
    parsed = parse(text)
    assert parsed.query.empty
    assert parsed.error == NOTHING_TYPED


@pytest.mark.parametrize("text", ["-smoking", '-"heart failure" NOT warfarin', "-MI -PE"])
def test_only_exclusions_is_empty_with_its_own_message(text: str) -> None:
    parsed = parse(text)
    assert parsed.query.empty
    assert parsed.query.excluded
    assert parsed.error == ONLY_EXCLUDED


def test_common_short_words_are_searchable() -> None:
    assert query("the of and").groups == ((Term("the"),), (Term("of"),), (Term("and"),))


def test_control_characters_are_removed() -> None:
    assert query("warfarin\x00bleeding\x07 hepa\u200brin\r\n") == query("warfarin bleeding heparin")


def test_long_text_is_shortened_at_a_word_boundary_with_a_notice() -> None:
    text = " ".join(f"w{number:04d}" for number in range(400))  # 2,399 characters
    parsed = parse(text)
    assert parsed.error is None
    assert SHORTENED in parsed.notices
    assert f"{MAX_CHARS} characters" in SHORTENED
    kept = [typed(group) for group in parsed.query.groups]
    assert kept == [Term(f"w{number:04d}") for number in range(MAX_CLAUSES)]


def test_text_shortened_mid_word_drops_the_partial_word() -> None:
    text = "a" * (MAX_CHARS - 3) + " warfarin"
    parsed = parse(text)
    assert SHORTENED in parsed.notices
    assert parsed.query.groups == ((Term("a" * (MAX_CHARS - 3)),),)


def test_only_the_first_clauses_are_used_with_a_notice() -> None:
    parsed = parse(" ".join(f"w{number}" for number in range(MAX_CLAUSES + 6)))
    assert len(parsed.query.groups) == MAX_CLAUSES
    assert parsed.notices == (TOO_MANY_CLAUSES,)
    assert parsed.error is None


def test_a_short_query_has_no_notices() -> None:
    assert parse("warfarin bleeding").notices == ()


def test_a_huge_text_is_cut_before_it_is_read() -> None:
    parsed = parse('"MI OR -x* ' * 200_000)
    assert SHORTENED in parsed.notices
    assert len(parsed.query.groups) <= MAX_CLAUSES


def test_problem_reads_a_parsed_query() -> None:
    assert problem("MI", ParsedQuery(groups=((Term("mi"),),))) is None
    assert problem("", ParsedQuery()) == NOTHING_TYPED
    assert problem("OR", ParsedQuery()) == ONLY_OPERATORS
    assert problem("-mi", ParsedQuery(excluded=(Term("mi"),))) == ONLY_EXCLUDED


def all_clauses(parsed: ParsedQuery) -> list[Clause]:
    return [clause for group in parsed.groups for clause in group] + list(parsed.excluded)


# Operators, quotes and synonym words mixed with arbitrary text (controls, surrogates, emoji).
PIECES = ['"', "“", "”", "-", "*", "|", " ", "OR ", "NOT ", "MI ", "heart ", "attack", "/", "a*"]
QUERY_TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=40).map(
    "".join
)


@settings(max_examples=300, deadline=None)
@given(QUERY_TEXT)
def test_any_text_parses_into_index_tokens(text: str) -> None:
    parsed = parse(text)
    assert (parsed.error is None) == (not parsed.query.empty)
    for clause in all_clauses(parsed.query):
        if isinstance(clause, Term):
            assert words(clause.text) == [clause.text]
            assert not clause.prefix or len(clause.text) >= 2
        else:
            assert len(clause.words) >= 2
            assert all(words(word) == [word] for word in clause.words)
            assert words(" ".join(clause.words)) == list(clause.words)


def test_every_produced_token_is_its_own_word_for_synonyms_too() -> None:
    for text in ["MI", "covid-19 140/90", "GLP-1 RA", "TMP-SMX", "V/Q scan", "β-blocker"]:
        for clause in all_clauses(query(text)):
            tokens = (clause.text,) if isinstance(clause, Term) else clause.words
            assert words(" ".join(tokens)) == list(tokens)


# --- the synonym table -------------------------------------------------------------------------


def test_the_table_is_large_and_valid() -> None:
    table = load_synonyms(SYNONYMS_FILE)
    assert len(table.sets) >= 200
    entries = [entry for entries in table.sets for entry in entries]
    assert len(entries) == len(set(entries)) == len(table.index)
    for entry in entries:
        assert words(" ".join(entry)) == list(entry)


def test_every_line_of_the_file_is_a_set_or_a_comment() -> None:
    lines = SYNONYMS_FILE.read_text(encoding="utf-8").splitlines()
    sets = [line for line in lines if line and not line.startswith("#")]
    assert len(sets) == len(synonyms().sets)
    assert all("\t" in line and line == line.strip() for line in sets)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("MI", "heart attack"),
        ("HTN", "hypertension"),
        ("AF", "atrial fibrillation"),
        ("afib", "AF"),
        ("DM", "diabetes mellitus"),
        ("CHF", "heart failure"),
        ("congestive heart failure", "heart failure"),
        ("PE", "pulmonary embolism"),
        ("DVT", "deep vein thrombosis"),
        ("COPD", "chronic obstructive pulmonary disease"),
        ("CKD", "chronic kidney disease"),
        ("GERD", "gastroesophageal reflux disease"),
        ("UTI", "urinary tract infection"),
        ("SOB", "dyspnea"),
        ("dyspnoea", "shortness of breath"),
        ("ACEi", "ACE inhibitor"),
        ("ARB", "angiotensin receptor blocker"),
        ("SGLT2i", "SGLT2 inhibitor"),
        ("NSAID", "non-steroidal anti-inflammatory drug"),
        ("PPI", "proton pump inhibitor"),
        ("DOAC", "direct oral anticoagulant"),
        ("CBC", "FBC"),
        ("BMP", "basic metabolic panel"),
        ("LFT", "liver function tests"),
        ("ECG", "EKG"),
        ("CT", "computed tomography"),
        ("MRI", "magnetic resonance imaging"),
        ("CXR", "chest x-ray"),
        ("TTE", "transthoracic echocardiogram"),
        ("TEE", "transoesophageal echocardiogram"),
        ("ABG", "arterial blood gas"),
        ("INR", "international normalized ratio"),
        ("PTT", "aPTT"),
        ("BNP", "brain natriuretic peptide"),
        ("HbA1c", "A1c"),
    ],
)
def test_the_table_knows_common_clinical_synonyms(first: str, second: str) -> None:
    table = synonyms()
    assert tuple(words(second)) in table.alternatives(tuple(words(first)))


@pytest.mark.parametrize(
    "ambiguous",
    # PT: physical therapy, prothrombin time, patient; MS: multiple sclerosis, mitral stenosis,
    # morphine; ED: emergency department, erectile dysfunction; PCP: primary care physician,
    # Pneumocystis pneumonia; CVA: stroke, costovertebral angle; the rest are English words.
    ["PT", "MS", "ED", "PCP", "CVA", "RA", "ASD", "PD", "ALS", "OR", "ALL", "AS", "IV", "US"],
)
def test_ambiguous_abbreviations_are_left_out(ambiguous: str) -> None:
    assert tuple(words(ambiguous)) not in synonyms().index


# Abbreviations that are also English words, kept because their clinical meaning dominates in a
# physicians' forum. A new one must be added here on purpose.
ACCEPTED_ENGLISH_ABBREVIATIONS = {
    "mi", "cad", "tee", "sob", "bun", "mash", "alt", "pres", "prom", "lama", "ct",
}  # fmt: skip


def test_abbreviations_that_are_english_words_are_deliberate() -> None:
    common = set(gzip.decompress(COMMON_WORDS.read_bytes()).decode("utf-8").split("\n"))
    clashes = set()
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        for entry in line.split("\t"):
            tokens = words(entry)
            if len(tokens) == 1 and entry != entry.lower() and tokens[0] in common:
                clashes.add(tokens[0])
    assert clashes == ACCEPTED_ENGLISH_ABBREVIATIONS


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("MI\tmyocardial infarction\t\n", "empty entry"),
        ("MI\t--\n", "empty entry"),
        ("MI\n", "at least two entries"),
        ("MI\tmyocardial infarction\tMyocardial-Infarction\n", "appears twice"),
        ("MI\tmyocardial infarction\nheart attack\tmi\n", "already on line 3"),
    ],
)
def test_a_bad_table_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "synonyms.tsv"
    path.write_text("# a comment\n\n" + content, encoding="utf-8")
    with pytest.raises(SynonymError, match=message):
        load_synonyms(path)


def test_a_good_small_table_loads(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.tsv"
    path.write_text("# sets\nMI\tmyocardial infarction\nanaemia\tanemia\n", encoding="utf-8")
    table = load_synonyms(path)
    assert table.alternatives(("mi",)) == (("myocardial", "infarction"),)
    assert table.alternatives(("anemia",)) == (("anaemia",),)
    assert table.alternatives(("troponin",)) == ()
    assert table.longest == 2
