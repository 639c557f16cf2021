"""A minimal, valid evidence folder written by the tests, made of real, sourced rows.

Every row is a copy of a row of the bundled evidence (named above it; its ``source_url``, ``locator`` and
``as_printed`` say where each number was read); long free-text notes are left out. Each broken-folder
test starts from this and changes one thing, so the expected problem list is exactly one item, and
``tests/evidence/test_evidence_loader.py`` checks that these rows are still the bundled ones.
"""

from __future__ import annotations

import csv
from pathlib import Path

from hipacu.evidence import COLUMNS

#: evidence/studies.csv, Usichenko2005
STUDY = {'study_id': 'Usichenko2005',
 'label': 'Usichenko 2005',
 'citation': 'Usichenko TI, Dinse M, Hermsen M, Witstruck T, Pavlovic D, Lehmann C. Auricular acupuncture for pain '
             'relief after total hip arthroplasty - a randomized controlled study. Pain 2005;114(3):320-327.',
 'year': '2005',
 'design': 'rct',
 'condition': 'post_arthroplasty',
 'comparison': 'sham',
 'intervention': 'auricular',
 'co_intervention_arms': 'both',
 'sessions': '1',
 'data_status': 'usable',
 'rob_randomisation': 'some_concerns',
 'rob_deviations': 'low',
 'rob_missing': 'some_concerns',
 'rob_measurement': 'low',
 'rob_reporting': 'some_concerns',
 'rob_overall': 'some_concerns',
 'rob_source': 'own_judgement',
 'rob_source_url': 'https://myronnoodleman.com/article/auricular-acupuncture-for-pain-relief-after-total-hip-arthroplasty-a-randomized-controlled-study',
 'source_url': 'https://myronnoodleman.com/article/auricular-acupuncture-for-pain-relief-after-total-hip-arthroplasty-a-randomized-controlled-study',
 'locator': 'abstract'}
#: evidence/studies.csv, White2012
CONTRAST_STUDY = {'study_id': 'White2012',
 'label': 'White 2012',
 'citation': 'White P, Bishop FL, Prescott P, Scott C, Little P, Lewith G. Practice, practitioner, or placebo? A '
             'multifactorial, mixed-methods randomized controlled trial of acupuncture. Pain 2012;153(2):455-462.',
 'year': '2012',
 'doi': '10.1016/j.pain.2011.11.007',
 'pmid': '22169359',
 'design': 'rct',
 'condition': 'mixed_hip_knee_oa',
 'comparison': 'sham',
 'intervention': 'manual',
 'co_intervention_arms': 'both',
 'sessions': '8',
 'weeks': '4',
 'minutes_per_session': '30',
 'data_status': 'usable',
 'n_randomised': '221',
 'rob_randomisation': 'some_concerns',
 'rob_deviations': 'low',
 'rob_missing': 'low',
 'rob_measurement': 'low',
 'rob_reporting': 'some_concerns',
 'rob_overall': 'some_concerns',
 'rob_source': 'own_judgement',
 'rob_source_url': 'https://pmc.ncbi.nlm.nih.gov/articles/PMC5984198/table/table-wrap23',
 'source_url': 'http://47.251.13.51:8081/22169359',
 'locator': 'Abstract (PubMed mirror); design details Cochrane table-wrap23'}
#: evidence/studies.csv, Manheimer2010
REVIEW = {'study_id': 'Manheimer2010',
 'label': 'Manheimer 2010 (Cochrane)',
 'citation': 'Manheimer E, Cheng K, Linde K, Lao L, Yoo J, Wieland S, van der Windt DAWM, Berman BM, Bouter LM. '
             'Acupuncture for peripheral joint osteoarthritis. Cochrane Database of Systematic Reviews 2010, Issue '
             '1. Art. No.: CD001977.',
 'year': '2010',
 'doi': '10.1002/14651858.CD001977.pub2',
 'pmid': '20091527',
 'design': 'systematic_review',
 'condition': 'mixed_hip_knee_oa',
 'comparison': 'multiple',
 'intervention': 'mixed',
 'data_status': 'usable',
 'n_randomised': '3498',
 'rob_randomisation': 'not_assessed',
 'rob_deviations': 'not_assessed',
 'rob_missing': 'not_assessed',
 'rob_measurement': 'not_assessed',
 'rob_reporting': 'not_assessed',
 'rob_overall': 'not_assessed',
 'rob_source': 'not_applicable',
 'source_url': 'https://cochranelibrary.com/es/cdsr/doi/10.1002/14651858.CD001977.pub2/full/ta',
 'locator': 'Abstract, Main results'}
#: evidence/studies.csv, Zhao2011
SAFETY_STUDY = {'study_id': 'Zhao2011',
 'label': 'Zhao 2011',
 'citation': 'Zhao L, Zhang FW, Li Y, Wu X, Zheng H, Cheng LH, Liang FR. Adverse events associated with '
             'acupuncture: three multicentre randomized controlled trials of 1968 cases in China. Trials '
             '2011;12:87.',
 'year': '2011',
 'doi': '10.1186/1745-6215-12-87',
 'pmid': '21435214',
 'design': 'prospective_cohort',
 'condition': 'mixed_conditions',
 'comparison': 'none',
 'intervention': 'mixed',
 'data_status': 'usable',
 'n_randomised': '1968',
 'rob_randomisation': 'not_applicable',
 'rob_deviations': 'not_applicable',
 'rob_missing': 'not_applicable',
 'rob_measurement': 'not_applicable',
 'rob_reporting': 'not_applicable',
 'rob_overall': 'some_concerns',
 'rob_selection': 'some_concerns',
 'rob_ascertainment': 'low',
 'rob_followup': 'not_assessed',
 'rob_source': 'own_judgement',
 'rob_source_url': 'https://pmc.ncbi.nlm.nih.gov/articles/PMC3072923',
 'source_url': 'https://pmc.ncbi.nlm.nih.gov/articles/PMC3072923',
 'locator': 'abstract'}
#: evidence/outcomes.csv, Usichenko2005.opioid.h36
OUTCOME = {'outcome_id': 'Usichenko2005.opioid.h36',
 'study_id': 'Usichenko2005',
 'outcome': 'opioid_use',
 'measure': 'piritramide via PCA (mg, 0-36 h)',
 'lower_is_better': 'true',
 'timepoint_label': 'during 36 h after surgery',
 'timepoint_weeks': '0.2143',
 'comparison': 'sham',
 'arm1': 'auricular acupuncture + PCA',
 'arm2': 'sham auricular acupuncture + PCA',
 'form': 'arm',
 'value_type': 'final',
 'population': 'completers',
 'n1': '29',
 'n2': '25',
 'mean1': '37',
 'sd1': '18',
 'mean2': '54',
 'sd2': '21',
 'as_printed': '37±18 vs. 54±21mg; mean±SD; P=0.004; 29 AA and 25 controls completed',
 'source_url': 'https://myronnoodleman.com/article/auricular-acupuncture-for-pain-relief-after-total-hip-arthroplasty-a-randomized-controlled-study',
 'locator': 'abstract'}
#: evidence/outcomes.csv, White2012.vas.w5.streitberger
CONTRAST = {'outcome_id': 'White2012.vas.w5.streitberger',
 'study_id': 'White2012',
 'outcome': 'pain',
 'measure': 'VAS pain (mm)',
 'scale_min': '0',
 'scale_max': '100',
 'lower_is_better': 'true',
 'timepoint_label': '1 week posttreatment',
 'timepoint_weeks': '5',
 'comparison': 'sham',
 'arm1': 'real acupuncture',
 'arm2': 'Streitberger placebo (non-penetrating) needle',
 'form': 'contrast',
 'value_type': 'final',
 'population': 'not_reported',
 'estimate': '-2.7',
 'ci_low': '-9.0',
 'ci_high': '3.6',
 'ci_level': '0.95',
 'contrast_measure': 'MD',
 'as_printed': 'mean difference -2.7 mm, 95% confidence intervals -9.0 to 3.6; P=.40',
 'source_url': 'http://47.251.13.51:8081/22169359',
 'locator': 'Abstract'}
#: evidence/safety.csv, Zhao2011.serious
SAFETY = {'safety_id': 'Zhao2011.serious',
 'study_id': 'Zhao2011',
 'category': 'serious',
 'event': 'serious adverse events',
 'events': '0',
 'denominator': '1968',
 'denominator_unit': 'patients',
 'as_printed': 'We did not observe the occurrence of serious adverse events',
 'source_url': 'https://pmc.ncbi.nlm.nih.gov/articles/PMC3072923',
 'locator': 'abstract'}
#: evidence/reviews.csv, Manheimer2010.pain.sham.short
REVIEW_RESULT = {'review_result_id': 'Manheimer2010.pain.sham.short',
 'study_id': 'Manheimer2010',
 'analysis_id': 'sham_opioid',
 'outcome': 'pain',
 'comparison': 'sham',
 'condition': 'mixed_hip_knee_oa',
 'timepoint_label': 'short term',
 'k': '9',
 'participants': '1835',
 'measure': 'SMD',
 'estimate': '-0.28',
 'ci_low': '-0.45',
 'ci_high': '-0.11',
 'certainty': 'not_reported',
 'as_printed': 'standardized mean difference -0.28, 95% confidence interval -0.45 to -0.11; 0.9 point greater '
               'improvement than sham on 20 point scale; absolute percent change 4.59%; relative percent change '
               '10.32%; 9 trials; 1835 participants',
 'source_url': 'https://cochranelibrary.com/es/cdsr/doi/10.1002/14651858.CD001977.pub2/full/ta',
 'locator': 'Abstract, Main results'}
#: evidence/claims.csv, C6
CLAIM = {'claim_id': 'C6',
 'claim': 'Acupuncture may help as an add-on for short-term pain control after total hip replacement',
 'wording': 'has shown potential as an adjunct',
 'implied_certainty': 'low',
 'kind': 'effect',
 'direction': 'present',
 'analyses': 'sham_opioid',
 'article_locator': 'Clinical Evidence section paragraph 3'}

ANALYSES = '''
[[analysis]]
id = "sham_opioid"
title = "Real vs sham auricular acupuncture after hip arthroplasty, opioid use"
claims = ["C6"]
table = "outcomes"
rows = ["Usichenko2005.opioid.h36"]
measure = "SMD"
outcome_label = "Postoperative opioid consumption (36 h)"
population = "Adults after total hip arthroplasty"
intervention = "Auricular acupuncture"
comparator = "Sham auricular acupuncture"
mid = 0.5
mid_source = "Norman GR, Sloan JA, Wyrwich KW. Med Care 2003;41:582-592, abstract: minimally important differences are close to half a standard deviation; https://journals.lww.com/lww-medicalcare/Fulltext/2003/05000/Interpretation_of_Changes_in_Health_related.4.aspx"
'''

TABLES = {
    "studies.csv": [STUDY, CONTRAST_STUDY, REVIEW, SAFETY_STUDY],
    "outcomes.csv": [OUTCOME, CONTRAST],
    "safety.csv": [SAFETY],
    "reviews.csv": [REVIEW_RESULT],
    "claims.csv": [CLAIM],
}
#: the bundled rows these are copies of: (table, key column, name in this module)
COPIED_FROM = (("studies.csv", "study_id", ("STUDY", "CONTRAST_STUDY", "REVIEW", "SAFETY_STUDY")),
               ("outcomes.csv", "outcome_id", ("OUTCOME", "CONTRAST")), ("safety.csv", "safety_id", ("SAFETY",)),
               ("reviews.csv", "review_result_id", ("REVIEW_RESULT",)), ("claims.csv", "claim_id", ("CLAIM",)))


def write_table(path: Path, name: str, rows: list[dict], columns: list[str] | None = None) -> None:
    cols = columns if columns is not None else list(COLUMNS[name])
    with open(path / name, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})


def make_folder(path: Path, **changes) -> Path:
    """Write the valid folder, with ``changes`` = {file name with '.' -> '_': list of row dicts}."""
    path.mkdir(parents=True, exist_ok=True)
    for name, rows in TABLES.items():
        rows = changes.get(name.replace(".", "_"), rows)
        write_table(path, name, rows)
    (path / "analyses.toml").write_text(changes.get("analyses_toml", ANALYSES), encoding="utf-8")
    return path
