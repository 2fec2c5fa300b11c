"""What the detector knows: name and place lists (loaded once) and curated clinical words."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


# The big lists are dicts (word -> True) rather than sets: a dict of strings is not tracked by
# the garbage collector, so a full collection does not walk 400,000 entries. Membership tests
# ("word in lex.given") read the same and cost the same.
WordSet = Mapping[str, bool]


@dataclass(frozen=True)
class Lexicon:
    """Lower-cased word lists; see data/README.md for where each comes from."""

    given: WordSet  # given names (SSA, Census, Faker locales)
    surnames: WordSet  # family names (Census 2010 and 1990, Faker locales)
    common: WordSet  # everyday English words (SCOWL / Debian wamerican)
    drugs: WordSet  # generic and brand drug names
    places: WordSet  # US cities, towns, counties; large world cities
    countries: WordSet
    medical: WordSet  # eponyms, organisms, devices, brands: capitalised but never a name
    medical_phrases: WordSet  # "austin flint", "johns hopkins"


def _read_list(name: str) -> dict[str, bool]:
    raw = gzip.decompress((DATA / name).read_bytes()).decode("utf-8")
    words = dict.fromkeys(raw.split("\n"), True)
    words.pop("", None)
    return words


def _read_medical() -> tuple[set[str], set[str]]:
    words: set[str] = set()
    phrases: set[str] = set()
    in_phrases = False
    for line in (DATA / "medical_terms.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#phrases"):
            in_phrases = True
            continue
        if not line.strip() or line.startswith("#"):
            continue
        if in_phrases:
            phrases.add(" ".join(line.casefold().split()))
            continue
        for word in line.split():
            word = word.casefold()
            words.add(word)
            if "-" in word:
                words.update(part for part in word.split("-") if len(part) > 2)
    return words, phrases


@cache
def lexicon() -> Lexicon:
    """Load the lists once per process (about a tenth of a second)."""
    medical, phrases = _read_medical()
    return Lexicon(
        given=_read_list("given_names.txt.gz"),
        surnames=_read_list("surnames.txt.gz"),
        common=_read_list("common_words.txt.gz"),
        drugs=_read_list("drugs.txt.gz"),
        places=_read_list("places.txt.gz"),
        countries=_read_list("countries.txt.gz"),
        medical=dict.fromkeys(medical | CLINICAL_CAPITALS, True),
        medical_phrases=dict.fromkeys(phrases, True),
    )


def words(text: str) -> frozenset[str]:
    """A set from a whitespace-separated literal."""
    return frozenset(text.casefold().split())


# Titles and honorifics: whatever capitalised word follows is a name.
TITLES = words(
    """mr mrs ms miss mx mister madam madame mme mlle dr doctor prof professor sr sra srta
    fr father rev reverend pastor rabbi imam sister sir dame lady lord capt captain sgt sergeant
    officer judge nurse aunt auntie uncle grandma grandpa granny nana papa gran cousin"""
)

# Kin and household: "her husband Tom", "son, Richard,".
RELATIONS = words(
    """husband wife spouse partner boyfriend girlfriend fiance fiancee fiancé fiancée son sons
    daughter daughters mother mom mum mommy mummy mama father dad daddy brother brothers sister
    sisters sibling siblings twin aunt uncle cousin niece nephew grandson granddaughter
    grandmother grandfather grandma grandpa granny grandchild grandkid stepson stepdaughter
    stepmother stepfather stepmom stepdad stepbrother stepsister child kid baby infant toddler
    newborn caregiver carer neighbour neighbor friend roommate flatmate housemate guardian
    relative landlord employer boss coworker co-worker classmate teacher coach pastor priest
    proxy surrogate sitter nanny ex ex-wife ex-husband widow widower in-law"""
)

# Words right before a name: "named", "pt", "patient".
NAME_CUES = words(
    """named called patient pt pt. client resident nicknamed aka a.k.a. surname forename
    mrs. mr. ms. dr."""
)

# Verbs that take a person as object in case talk: "admitted Shravya", "saw Alva today".
PERSON_VERBS = words(
    """admitted saw seen seeing met meet visited treated examined told asked discharged
    transferred consulted referred intubated following followed per thank thanks spoke
    called emailed texted paged messaged"""
)

# A capitalised word followed by one of these is an eponym, a score or a place-named term.
EPONYM_NOUNS = words(
    """sign signs syndrome syndromes disease diseases disorder palsy paralysis phenomenon
    effect test tests testing score scores scoring criteria criterion classification grade
    grading stage staging scale index equation formula calculation clearance crcl rule rules
    law laws triad tetrad pentad reflex reflexes maneuver manoeuvre procedure operation repair
    technique approach incision flap shunt filter valve catheter tube drain line lines stent
    graft protocol regimen method curve curves plot analysis correction regression estimator
    distribution ratio coefficient agar stain staining solution position view space pouch
    fascia ligament tendon gland glands area fissure foramen loop membrane layer tract duct
    canal node nodes nodule nodules body bodies cell cells granules bundle block fracture
    fractures ulcer ulcers tumor tumour tumors tumours lymphoma sarcoma carcinoma anemia
    anaemia purpura arteritis vasculitis encephalitis encephalopathy thyroiditis esophagus
    oesophagus angina hernia cyst cysts aneurysm anomaly malformation deformity contracture
    neuroma neuralgia dystrophy ataxia chorea dementia fever virus viruses infection
    hypothesis questionnaire inventory deficiency murmur sound sounds pulse respiration
    breathing spots lesions triangle ring sinus vein artery nerve muscle ridge crest
    protein proteinuria chromosome translocation pupil pupils nevus naevus sarcoidosis
    corpuscle corpuscles disc disk dysplasia variant variants method's criteria's model
    phenomena reaction susceptibility type trial study cohort group guidelines guideline
    clinic proceedings journal heart hospital classification's wort dance fire tremor
    splint cast traction frame brace collar boot sling tourniquet forceps retractor
    blade needle mask bag speculum stretcher lift bed hugger stand lamp"""
)

# Capitalised function words and clinical words that often start a sentence.
STOPWORDS = words(
    """the a an and or but nor so yet if then than that this these those there here what
    when where why how who whom whose which while whilst because since although though
    unless until after before during about above below over under into onto upon within
    without between among through throughout across against along around behind beyond
    beside besides despite except inside outside toward towards via per vs versus re
    is are was were be been being am do does did done has have had having can could
    should would will shall may might must ought not no yes any anyone anybody anything
    some someone somebody something every everyone everybody everything each either neither
    both all most many much more less few several other others another such same own
    i me my mine we us our ours you your yours he him his she her hers it its they them
    their theirs one ones also just only even still already again ever never always often
    sometimes usually really very quite too now then today tonight yesterday tomorrow
    ok okay hi hello hey dear thanks thank please sorry well oh anyway update edit
    christmas thanksgiving halloween easter hanukkah ramadan diwali juneteenth
    patient patients pt pts case cases question questions thoughts ideas help advice
    history exam labs imaging plan assessment impression hpi pmh psh meds allergies
    social family ros vitals physical diagnosis differential management treatment
    follow follow-up background presentation summary note notes comment comments
    admitted presented started stopped noted found seen saw given gave sent started
    new old young elderly male female man woman boy girl baby infant child adult teen
    teenager mother father son daughter wife husband
    monday tuesday wednesday thursday friday saturday sunday
    north south east west northern southern eastern western central upper lower left right
    english spanish french german italian chinese arabic hindi portuguese russian
    african american asian european hispanic latino latina caucasian white black
    christian muslim jewish catholic hindu buddhist
    covid covid-19 sars-cov-2 mrsa mssa vre esbl cre hiv hcv hbv cmv ebv hsv vzv rsv"""
)

# Given names that SCOWL also lists as lower-case words, but that in a post are nearly always
# somebody's name ("john", "maria" and "peter" are words too, rarely in clinical writing).
NAMES_NOT_WORDS = words(
    """john peter maria carol terry harry billy bobby jimmy randy roger victor martin earl
    heather bonnie tony sally mike ted ned nick jerry larry gary barry kenny danny johnny
    tommy eddie freddie joe jim tim pam kim jan ann anne annie ellen helen jean joan judy julie
    karen kate kathy kelly linda lisa lucy maggie marie martha nancy patty peggy polly sue
    susan wendy dick jack tom bob bill will mark frank ray dean glen don jake luke matt
    rick ricky sam ben dan ken ron phil steve dave andy louis lou max gus hank hal al"""
)

# Continents, regions and peoples: capitalised, never a patient's name, and no smaller than a
# state, so not a Safe Harbor place either.
REGIONS = words(
    """africa african asia asian europe european america american americas antarctica oceania
    australia australian arctic saharan sub-saharan appalachia appalachian midwest midwestern
    southwest southwestern northeast northeastern southeast southeastern northwest
    northwestern pacific atlantic caribbean mediterranean scandinavia scandinavian balkans
    siberia himalaya himalayas amazon andes alps sahara sahel latin latino latina hispanic
    caucasian arab arabic jewish ashkenazi sephardic native indigenous aboriginal inuit
    navajo hopi cherokee lakota amish mennonite hutterite jehovah jehovah's witness mormon
    christian catholic protestant baptist methodist muslim islamic hindu sikh buddhist
    english british irish scottish welsh french german italian spanish portuguese dutch
    swedish norwegian danish finnish polish russian ukrainian greek turkish persian iranian
    iraqi syrian lebanese egyptian moroccan nigerian ghanaian kenyan ethiopian somali
    sudanese indian pakistani bangladeshi nepali chinese japanese korean vietnamese thai
    filipino indonesian malaysian mexican cuban haitian dominican puerto rican brazilian
    argentine colombian venezuelan peruvian chilean canadian"""
)

# Capitalised clinical words that are in the surname lists but mean something else here.
CLINICAL_CAPITALS = words(
    """ward ward's bed bay unit floor icu er ed or pacu picu nicu micu sicu ccu cvicu stepdown
    telemetry tele rehab hospice clinic office urgent triage resus trauma cath lab echo
    doppler holter ekg ecg eeg emg ct mri pet spect cxr kub ultrasound us xr fluoro
    grade stage class type tier level phase day night week month year
    tab tabs cap caps pill pills patch drip push bolus infusion dose doses
    medicare medicaid obamacare tricare cobra hipaa epic cerner
    gram gram-positive gram-negative
    na k cl ca mg phos bun cr hb hgb hct plt wbc rbc inr ptt pt xa trab crcl hfpef hfref
    hfmref tsh ldl hdl alt ast alp ggt ldh bnp esr crp psa cea afp hcg ige igg igm iga
    staph strep pneumococcus meningococcus gonococcus enterococcus pseudomonas mycoplasma
    admit admitted discharge transfer consult intubate extubate diurese anticoagulate
    thoughts thanks update edit addendum followup"""
)

MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}

WEEKDAYS = words("monday tuesday wednesday thursday friday saturday sunday")

US_STATES = {
    "AL": "alabama",
    "AK": "alaska",
    "AZ": "arizona",
    "AR": "arkansas",
    "CA": "california",
    "CO": "colorado",
    "CT": "connecticut",
    "DE": "delaware",
    "DC": "district of columbia",
    "FL": "florida",
    "GA": "georgia",
    "HI": "hawaii",
    "ID": "idaho",
    "IL": "illinois",
    "IN": "indiana",
    "IA": "iowa",
    "KS": "kansas",
    "KY": "kentucky",
    "LA": "louisiana",
    "ME": "maine",
    "MD": "maryland",
    "MA": "massachusetts",
    "MI": "michigan",
    "MN": "minnesota",
    "MS": "mississippi",
    "MO": "missouri",
    "MT": "montana",
    "NE": "nebraska",
    "NV": "nevada",
    "NH": "new hampshire",
    "NJ": "new jersey",
    "NM": "new mexico",
    "NY": "new york",
    "NC": "north carolina",
    "ND": "north dakota",
    "OH": "ohio",
    "OK": "oklahoma",
    "OR": "oregon",
    "PA": "pennsylvania",
    "RI": "rhode island",
    "SC": "south carolina",
    "SD": "south dakota",
    "TN": "tennessee",
    "TX": "texas",
    "UT": "utah",
    "VT": "vermont",
    "VA": "virginia",
    "WA": "washington",
    "WV": "west virginia",
    "WI": "wisconsin",
    "WY": "wyoming",
    "PR": "puerto rico",
    "GU": "guam",
    "VI": "virgin islands",
}
STATE_NAMES = frozenset(US_STATES.values())

# USPS street suffixes (and the plurals Faker writes), as they follow a street name.
STREET_SUFFIXES = words(
    """alley alleys aly avenue avenues ave av bayou bend bluff bluffs bottom boulevard blvd
    branch bridge brdg brook brooks burg burgs bypass byp camp canyon cape causeway center
    centers ctr circle circles cir cliff cliffs club common commons corner corners course
    court courts ct cove coves creek crescent crest crossing crossroad crossroads curve dale
    dam divide drive drives dr estate estates expressway expy extension extensions fall
    falls ferry field fields flat flats ford fords forest forge forges fork forks fort
    freeway fwy garden gardens gateway glen glens green greens grove groves harbor harbors
    haven heights hts highway hwy hill hills hollow inlet island islands isle junction
    junctions key keys knoll knolls lake lakes land landing lane lanes ln light lights
    loaf lock locks lodge loop mall manor manors meadow meadows mews mill mills mission
    motorway mount mountain mountains neck orchard oval overpass park parks parkway
    parkways pkwy pass passage path pike pine pines place pl plain plains plaza plz point
    points port ports prairie radial ramp ranch rapid rapids rest ridge ridges river road
    roads rd route row rue run shoal shoals shore shores skyway spring springs spur spurs
    square squares sq station stravenue stream street streets st summit ter terrace
    throughway trace track trafficway trail trl trailer tunnel turnpike underpass union
    unions valley valleys via viaduct view views village villages ville vista walk walks
    wall way ways well wells"""
)
# Suffixes that name a street and nothing else, so no house number is needed.
STRONG_STREET_SUFFIXES = words(
    """street st. avenue ave ave. boulevard blvd blvd. road rd. lane ln. drive terrace
    parkway pkwy highway hwy"""
)

# Faker and real US town names: "East Jeremytown", "Gonzalezview", "Lake Justinland".
CITY_SUFFIXES = (
    "town",
    "ton",
    "ville",
    "view",
    "land",
    "burgh",
    "burg",
    "berg",
    "borough",
    "boro",
    "bury",
    "chester",
    "mouth",
    "port",
    "stad",
    "furt",
    "fort",
    "haven",
    "side",
    "shire",
    "field",
    "ford",
    "wood",
    "dale",
    "mont",
    "polis",
)
STRONG_CITY_SUFFIXES = (
    "town",
    "ville",
    "view",
    "burgh",
    "borough",
    "bury",
    "chester",
    "mouth",
    "stad",
    "furt",
    "haven",
    "shire",
    "polis",
)
CITY_PREFIXES = words("north south east west new lake port fort mount mt saint st. san santa")

# Literature, registry and guideline hosts that may be linked (the host or any subdomain).
ALLOWED_HOSTS = (
    "doi.org",
    "ncbi.nlm.nih.gov",
    "nih.gov",
    "clinicaltrials.gov",
    "who.int",
    "cdc.gov",
    "fda.gov",
    "ahrq.gov",
    "cms.gov",
    "hhs.gov",
    "cancer.gov",
    "uspreventiveservicestaskforce.org",
    "nice.org.uk",
    "sign.ac.uk",
    "gov.uk",
    "ema.europa.eu",
    "europepmc.org",
    "cochranelibrary.com",
    "nejm.org",
    "thelancet.com",
    "jamanetwork.com",
    "bmj.com",
    "nature.com",
    "sciencedirect.com",
    "springer.com",
    "wiley.com",
    "oup.com",
    "ahajournals.org",
    "jacc.org",
    "onlinejacc.org",
    "acc.org",
    "heart.org",
    "escardio.org",
    "idsociety.org",
    "thoracic.org",
    "atsjournals.org",
    "chestnet.org",
    "journal.chestnet.org",
    "kdigo.org",
    "diabetesjournals.org",
    "gastrojournal.org",
    "gastro.org",
    "aasld.org",
    "acog.org",
    "aap.org",
    "aafp.org",
    "acponline.org",
    "acpjournals.org",
    "annals.org",
    "nccn.org",
    "asco.org",
    "ascopubs.org",
    "hematology.org",
    "ashpublications.org",
    "rheumatology.org",
    "acrjournals.onlinelibrary.wiley.com",
    "aan.com",
    "neurology.org",
    "uptodate.com",
    "mdcalc.com",
    "medrxiv.org",
    "biorxiv.org",
    "arxiv.org",
    "plos.org",
    "frontiersin.org",
    "mdpi.com",
    "tandfonline.com",
    "karger.com",
    "thieme-connect.com",
    "lww.com",
    "sagepub.com",
    "cambridge.org",
    "biomedcentral.com",
    "cell.com",
    "elsevier.com",
    "jci.org",
    "cmaj.ca",
    "mja.com.au",
    "pubmed.gov",
    "isrctn.com",
    "clinicaltrialsregister.eu",
    "anzctr.org.au",
    "guidelines.gov",
    "guidelinecentral.com",
    "idsa.org",
    "ersnet.org",
    "ginasthma.org",
    "goldcopd.org",
    "kidney.org",
    "diabetes.org",
    "endocrine.org",
    "aace.com",
    "ashp.org",
    "ismp.org",
    "lactmed.nlm.nih.gov",
    "drugs.com",
    "medlineplus.gov",
    "radiopaedia.org",
    "litfl.com",
    "wikipedia.org",
)

# Hosts where a link points at a person rather than at a paper.
PERSONAL_HOSTS = (
    "facebook.com",
    "fb.com",
    "instagram.com",
    "linkedin.com",
    "twitter.com",
    "x.com",
    "tiktok.com",
    "youtube.com",
    "youtu.be",
    "gofundme.com",
    "caringbridge.org",
    "blogspot.com",
    "wordpress.com",
    "medium.com",
    "substack.com",
    "tumblr.com",
    "reddit.com",
    "snapchat.com",
    "pinterest.com",
    "legacy.com",
    "obituaries",
    "findagrave.com",
    "spokeo.com",
    "whitepages.com",
    "venmo.com",
    "paypal.me",
    "cash.app",
    "dropbox.com",
    "drive.google.com",
    "docs.google.com",
    "photos.google.com",
    "icloud.com",
    "imgur.com",
    "flickr.com",
    "vimeo.com",
)

# Codes that look like identifiers but name a trial, a paper, a test or a drug in development.
REFERENCE_PREFIXES = (
    "nct",
    "isrctn",
    "actrn",
    "chictr",
    "drks",
    "euctr",
    "jrct",
    "umin",
    "pmid",
    "pmc",
    "rs",
    "nm_",
    "np_",
    "hgnc",
    "omim",
    "loinc",
    "cpt",
    "snomed",
    "rxcui",
    "ndc",
    "hcpcs",
)
COMPOUND_PREFIXES = words(
    """ly azd bnt gsk mk abt pf bms jnj ro sar bi tak amg regn alxn arry gs vx ino mrna abbv
    ct cc cep cnto ds e incb jnj ldk lgx mdv mln nn pci rg sch sgn smt tmc unc vrt zd zk
    adz bay bil bil cdp cpg ctp dcc dnl ecc edp gdc inx ipi jzp kw lmb mbg mdx mgcd ntla
    ocu pd rx sb sct sno sym tas tdz urm ver wo xl"""
)

# Dotted initials that are not a person's: "U.S.", "M.D.", "e.g.".
INITIALS_NOT_NAMES = words(
    """u.s. u.k. u.n. e.u. m.d. d.o. r.n. n.p. p.a. a.m. p.m. e.r. o.r. i.v. i.m. s.c.
    p.o. p.r. q.d. b.i.d. t.i.d. q.i.d. q.h.s. p.r.n. n.b. e.g. i.e. b.s. m.s. b.a. m.a.
    d.c. l.a. n.y. d.d. r.o. s.p. h.o. c.o. f.u. w.u. s.o.b. c.p. a.f. m.i. c.t. p.e."""
)

# Species names after an abbreviated genus: "E. coli", "S. Aureus".
SPECIES = words(
    """aureus epidermidis lugdunensis saprophyticus pyogenes agalactiae pneumoniae viridans
    mutans bovis gallolyticus anginosus milleri faecalis faecium coli typhi paratyphi
    aeruginosa maltophilia baumannii cloacae aerogenes mirabilis vulgaris marcescens
    influenzae meningitidis gonorrhoeae catarrhalis pertussis pneumophila trachomatis
    psittaci difficile perfringens tetani botulinum septicum fragilis tuberculosis avium
    intracellulare kansasii abscessus chelonae fortuitum marinum leprae ulcerans pallidum
    burgdorferi interrogans rickettsii typhus burnetii henselae quintana melitensis
    tularensis pestis enterocolitica jejuni pylori cholerae vulnificus parahaemolyticus
    multocida canimorsus corrodens monocytogenes albicans glabrata auris krusei tropicalis
    parapsilosis fumigatus flavus niger neoformans gattii capsulatum dermatitidis immitis
    posadasii jirovecii falciparum vivax ovale malariae knowlesi gondii lamblia
    histolytica parvum cayetanensis vaginalis stercoralis lumbricoides vermicularis
    trichiura solium saginata granulosus mansoni haematobium japonicum acnes diphtheriae
    jeikeium striatum anthracis cereus subtilis cruzi brucei donovani"""
)
